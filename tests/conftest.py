"""Shared fixtures: a real Home Assistant, the local DashScope emulator, a configured account."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest.mock import patch

import aiohttp
import pytest
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.qwen_tts_realtime.api import Endpoint, QwenTtsClient
from custom_components.qwen_tts_realtime.const import (
    CONF_BASE_URL,
    CONF_REGION,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)
from custom_components.qwen_tts_realtime.data import account_unique_id

from .dashscope_emulator import DashScopeEmulator
from .enrollment_helpers import FileServer, Recordings

API_KEY = "sk-emulator"
PROFILE_SUBENTRY_ID = "profile_cherry"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[DashScopeEmulator]:
    """Run the DashScope emulator on a loopback port for one test.

    The HA test plugin blocks sockets; loopback servers need them back.
    """
    server = DashScopeEmulator()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def http(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A one-connection pool for client tests: a leaked socket would block the next request."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> QwenTtsClient:
    """Return a client on the emulator."""
    return QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))


@pytest.fixture
def mock_config_entry(emulator: DashScopeEmulator) -> MockConfigEntry:
    """Return an account on the emulator with the default voice profile.

    Its warm session is off: these tests count and inspect the sessions a request
    opens, so none may be opened ahead (test_tts_warm.py covers warm sessions).
    """
    data = {CONF_REGION: "custom", CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
    return MockConfigEntry(
        domain=DOMAIN,
        title="DashScope",
        data=data,
        unique_id=account_unique_id(data),
        subentries_data=[
            ConfigSubentryDataWithId(
                data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False},
                subentry_id=PROFILE_SUBENTRY_ID,
                subentry_type=SUBENTRY_TTS,
                title="Cherry",
                unique_id=None,
            )
        ],
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set the account up against the emulator and return its entry."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    """Make the test recordings with ffmpeg, once per test run."""
    return Recordings.create(tmp_path_factory.mktemp("recordings"))


@pytest.fixture
async def file_server(socket_enabled: None) -> AsyncIterator[FileServer]:
    """Serve recordings over http://127.0.0.1 for one test (loopback sockets allowed)."""
    server = await FileServer().start()
    yield server
    await server.close()


@pytest.fixture(autouse=True)
def mock_tts_cache_dir(tmp_path: Path) -> Iterator[Path]:
    """Keep the TTS file cache in a fresh temporary folder (PHCC has no such fixture).

    For every test: a fixture that sets up TTS before a module's ``usefixtures`` mark
    takes effect would write into the plugin's shared testing_config, and later
    tests would replay that audio from the file cache.
    """
    with (
        patch("homeassistant.components.tts._init_tts_cache_dir", return_value=str(tmp_path)),
        patch("homeassistant.components.tts._get_cache_files", return_value={}),
    ):
        yield tmp_path


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Use Home Assistant's snapshot format and folder, tests/snapshots/."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
