"""The settings of one realtime session (the ``session`` of ``session.update``)."""

from dataclasses import dataclass, fields
from typing import Any, Literal

type Mode = Literal["server_commit", "commit"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionConfig:
    """Everything ``session.update`` can carry; ``None`` means "not sent"."""

    voice: str
    # commit: the client cuts the text into segments and knows which text each
    # response speaks, so a session that breaks can be resumed (see retry.py).
    mode: Mode = "commit"
    response_format: str = "pcm"
    sample_rate: int = 24000
    speech_rate: float | None = None
    pitch_rate: float | None = None
    volume: int | None = None
    bit_rate: int | None = None
    language_type: str | None = None
    instructions: str | None = None
    optimize_instructions: bool | None = None
    enable_tn: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the ``session`` object, leaving out fields that were not set."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: value for name, value in values.items() if value is not None}
