"""Diagnostics: the account's settings, voice profiles and recent session timings."""

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from .api import CATALOG_VERSION
from .data import QwenTtsConfigEntry


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant,  # noqa: ARG001 - required by the diagnostics platform
    entry: QwenTtsConfigEntry,
) -> dict[str, Any]:
    """Return what helps to debug an account; the API key is left out, not redacted.

    Session stats hold ids, timings, sizes and error codes: never the spoken text.
    An entry that failed to set up (when diagnostics matter most) has no runtime data.
    """
    loaded = entry.state is ConfigEntryState.LOADED
    warm = entry.runtime_data.client.warm.diagnostics() if loaded else {}
    return {
        "entry": {
            "title": entry.title,
            "version": entry.version,
            "minor_version": entry.minor_version,
            "state": entry.state.value,
            "data": {key: value for key, value in entry.data.items() if key != CONF_API_KEY},
        },
        "catalog_version": CATALOG_VERSION,
        "profiles": [
            {
                "title": subentry.title,
                "type": subentry.subentry_type,
                "data": dict(subentry.data),
                # The profile's kept-ready session: state, counters, last event (never text).
                "warm_session": warm.get(subentry.subentry_id, {"state": "off"}),
            }
            for subentry in entry.subentries.values()
        ],
        "custom_voice_count": len(entry.runtime_data.custom_voices) if loaded else None,
        "recent_sessions": (
            [stats.as_dict() for stats in entry.runtime_data.client.recent_sessions]
            if loaded
            else []
        ),
    }
