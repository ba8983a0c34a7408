"""Runtime data of a config entry, and how it is built."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .api import Endpoint, EnrolledVoice, QwenTtsClient, Region, custom_voice_name
from .const import CONF_BASE_URL, CONF_REGION, voices_updated_signal


@dataclass(kw_only=True, slots=True)
class QwenTtsData:
    """What the platforms and services of one account share."""

    client: QwenTtsClient
    custom_voices: list[EnrolledVoice]


type QwenTtsConfigEntry = ConfigEntry[QwenTtsData]


def endpoint_from_data(data: Mapping[str, Any]) -> Endpoint:
    """Return the endpoint stored in config entry data (or config flow input)."""
    return Endpoint.for_region(Region(data[CONF_REGION]), data.get(CONF_BASE_URL))


def account_unique_id(data: Mapping[str, Any]) -> str:
    """Return a unique id for an account: a hash, so the key itself is never stored twice."""
    identity = f"{endpoint_from_data(data).base_url}|{data[CONF_API_KEY]}"
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def profile_title(entry: ConfigEntry, voice_id: str, subentry_id: str | None = None) -> str:
    """Name a profile after its voice, numbered when another profile already has that name.

    Pickers show only the entity's name, which is the profile's: two profiles called
    "Cherry" could not be told apart. ``subentry_id`` is the profile being renamed.
    """
    base = custom_voice_name(voice_id)
    taken = {sub.title for sub in entry.subentries.values() if sub.subentry_id != subentry_id}
    title, number = base, 2
    while title in taken:
        title, number = f"{base} {number}", number + 1
    return title


def create_client(hass: HomeAssistant, data: Mapping[str, Any]) -> QwenTtsClient:
    """Build a client on Home Assistant's shared aiohttp session."""
    return QwenTtsClient(
        async_get_clientsession(hass), data[CONF_API_KEY], endpoint_from_data(data)
    )


async def async_refresh_voices(
    hass: HomeAssistant, entry: QwenTtsConfigEntry
) -> list[EnrolledVoice]:
    """Fetch the account's cloned and designed voices and tell the entities (may raise)."""
    voices = await entry.runtime_data.client.list_voices()
    entry.runtime_data.custom_voices = voices
    async_dispatcher_send(hass, voices_updated_signal(entry.entry_id))
    return voices


@callback
def async_forget_voice(hass: HomeAssistant, entry: QwenTtsConfigEntry, voice_id: str) -> None:
    """Drop a custom voice the service says no longer exists, and tell the entities.

    The profiles that speak with it get their Repairs issue at once, without
    waiting for the next voice list.
    """
    data = entry.runtime_data
    data.custom_voices = [voice for voice in data.custom_voices if voice.voice_id != voice_id]
    async_dispatcher_send(hass, voices_updated_signal(entry.entry_id))
