"""A Home Assistant in the benchmark's process, with this integration on a given endpoint."""

import socket
from types import MappingProxyType

from homeassistant import loader
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.qwen_tts_realtime.const import (
    CONF_BASE_URL,
    CONF_REGION,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)

ENGINE = "tts.bench"
API_KEY = "sk-emulator"


def free_port() -> int:
    """Return a free loopback TCP port for Home Assistant's HTTP server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def set_up_integration(hass: HomeAssistant, base_url: str) -> int:
    """Set the integration up on ``base_url``, start, serve HTTP on loopback; return its port.

    The account gets the default voice profile, titled "Bench" (entity ``tts.bench``).
    """
    hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # allow custom_components/
    port = free_port()
    assert await async_setup_component(
        hass, "http", {"http": {"server_host": "127.0.0.1", "server_port": port}}
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="DashScope",
        data={CONF_REGION: "custom", CONF_BASE_URL: base_url, CONF_API_KEY: API_KEY},
    )
    entry.add_to_hass(hass)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(dict(DEFAULT_PROFILE)),
            subentry_type=SUBENTRY_TTS,
            title="Bench",
            unique_id=None,
        ),
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_start()  # the HTTP server listens from the start event on
    await hass.async_block_till_done()
    return port


async def access_token(hass: HomeAssistant) -> str:
    """Return an admin access token for Home Assistant's HTTP API."""
    user = await hass.auth.async_create_system_user("bench", group_ids=[GROUP_ID_ADMIN])
    refresh_token = await hass.auth.async_create_refresh_token(user)
    return hass.auth.async_create_access_token(refresh_token)
