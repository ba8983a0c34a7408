"""The Qwen TTS Realtime integration: Alibaba Cloud Qwen-TTS-Realtime speech for Home Assistant."""

from functools import partial

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .api import QwenTtsAuthError, QwenTtsError
from .const import DOMAIN
from .data import QwenTtsConfigEntry, QwenTtsData, create_client
from .repairs import async_watch_custom_voices
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.SENSOR, Platform.TTS]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:  # noqa: ARG001
    """Register the service actions, so automations validate even before an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> bool:
    """Check the key with free calls (which list the custom voices), then add entities.

    Returns a bool: Home Assistant 2026.10 fails set-ups that return ``None``.
    """
    client = create_client(hass, entry.data)
    try:
        custom_voices = await client.list_voices()
    except QwenTtsAuthError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"code": err.code, "message": err.server_message},
        ) from err
    except QwenTtsError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"code": type(err).__name__, "message": str(err)},
        ) from err
    entry.runtime_data = QwenTtsData(client=client, custom_voices=custom_voices)
    # Warm sessions live in entry tasks (cancelled if Home Assistant stops) and end on unload.
    client.warm.create_task = partial(entry.async_create_background_task, hass)
    entry.async_on_unload(client.aclose)
    async_watch_custom_voices(hass, entry)
    entry.async_on_unload(entry.add_update_listener(_async_reload_entry))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_reload_entry(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> None:
    """Reload when the entry or one of its voice profiles changed."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> bool:
    """Unload the TTS platform (open synthesis sessions end with their requests).

    The warm sessions end after it (``async_on_unload``).
    """
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
