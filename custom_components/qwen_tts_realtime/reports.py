"""What each synthesis request cost and how it went, sent to the account's sensors."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .api import SessionStats
from .const import DOMAIN


def report_signal(entry_id: str) -> str:
    """Return the dispatcher signal that carries an entry's request reports."""
    return f"{DOMAIN}_request_report_{entry_id}"


@dataclass(frozen=True, slots=True)
class RequestReport:
    """One request of one voice profile: usage of all its sessions, latency, outcome."""

    subentry_id: str
    billed_characters: int
    billed_tokens: int
    # Of the session that spoke: from opening it to its first audio.
    first_audio_ms: int | None
    # The error code that ended the request's last session, ``None`` when it went well.
    error: str | None

    @classmethod
    def from_sessions(cls, subentry_id: str, sessions: Sequence[SessionStats]) -> Self:
        """Sum up the sessions of a request (retries included: each one is billed)."""
        first_audio = next(
            (stats.first_audio for stats in sessions if stats.first_audio is not None), None
        )
        return cls(
            subentry_id=subentry_id,
            billed_characters=sum(stats.billed_characters for stats in sessions),
            billed_tokens=sum(stats.billed_tokens for stats in sessions),
            first_audio_ms=None if first_audio is None else round(first_audio * 1000),
            error=sessions[-1].error,
        )


@callback
def async_send_report(
    hass: HomeAssistant, entry_id: str, subentry_id: str, sessions: Sequence[SessionStats]
) -> None:
    """Tell the account's sensors about a finished request (nothing when no session opened)."""
    if sessions:
        async_dispatcher_send(
            hass, report_signal(entry_id), RequestReport.from_sessions(subentry_id, sessions)
        )
