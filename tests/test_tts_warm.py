"""Warm sessions through Home Assistant: the profile option, diagnostics, idle expiry, unload."""

import asyncio
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import pytest
from homeassistant.components import tts
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryDataWithId,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import QwenTtsClient, WarmState
from custom_components.qwen_tts_realtime.const import (
    CONF_MODEL,
    CONF_VOICE,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .tts_helpers import read_wav

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

TEXT = "洗衣机已经洗好了。"


@pytest.fixture
def warm_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The shared account with its profile at the model's default: a warm session."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        data=dict(mock_config_entry.data),
        unique_id=mock_config_entry.unique_id,
        subentries_data=[
            ConfigSubentryDataWithId(
                data=dict(DEFAULT_PROFILE),
                subentry_id=PROFILE_SUBENTRY_ID,
                subentry_type=SUBENTRY_TTS,
                title="Cherry",
                unique_id=None,
            )
        ],
    )


async def _set_up(
    hass: HomeAssistant, entry: MockConfigEntry, *profiles: dict[str, Any]
) -> tuple[QwenTtsClient, list[str]]:
    """Set the account up with extra profiles; return its client and the profiles' ids."""
    entry.add_to_hass(hass)
    ids = []
    for data in profiles:
        subentry = ConfigSubentry(
            data=MappingProxyType({**DEFAULT_PROFILE, **data}),
            subentry_type=SUBENTRY_TTS,
            title=data[CONF_VOICE],
            unique_id=None,
        )
        hass.config_entries.async_add_subentry(entry, subentry)
        ids.append(subentry.subentry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry.runtime_data.client, ids


async def _speak(hass: HomeAssistant, entity_id: str = "tts.cherry") -> float:
    """Speak TEXT as a WAV stream and return its length in seconds."""
    stream = tts.async_create_stream(hass, entity_id, options={tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(TEXT)
    return read_wav(b"".join([chunk async for chunk in stream.async_stream_result()])).seconds


def _tasks_left() -> list[str]:
    """Return the names of our background tasks still running."""
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("qwen_tts") and not task.done()
    ]


async def test_profile_speaks_on_its_warm_session(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    warm_entry: MockConfigEntry,
) -> None:
    """A default profile keeps a session ready; the announcement uses it; diagnostics say so."""
    client, _ = await _set_up(hass, warm_entry)
    assert await client.warm.wait_ready(PROFILE_SUBENTRY_ID)
    [warm] = emulator.sessions
    assert warm.received == []

    seconds = await _speak(hass)
    assert seconds == pytest.approx(synth_audio_seconds(TEXT, emulator.options.ms_per_char))
    assert warm.config["voice"] == "Cherry"
    assert "".join(event.get("text", "") for event in warm.received) == TEXT
    assert await client.warm.wait_ready(PROFILE_SUBENTRY_ID)  # and another one is ready

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, warm_entry)
    [profile] = diagnostics["profiles"]
    warm_state = profile["warm_session"]
    assert (warm_state["state"], warm_state["opened"], warm_state["taken"]) == ("ready", 2, 1)
    assert warm_state["session_id"] == emulator.sessions[1].session_id
    [session] = diagnostics["recent_sessions"]
    assert session["warm"] is True
    assert session["session_id"] == warm.session_id


async def test_no_warm_session_for_10_rpm_models_or_when_turned_off(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The legacy model (10 a minute) and a profile with the option off open nothing ahead."""
    # Cherry has the option off (conftest); Serena is on the legacy model, option unset.
    client, [legacy] = await _set_up(
        hass, mock_config_entry, {CONF_MODEL: "qwen-tts-realtime", CONF_VOICE: "Serena"}
    )

    assert client.warm.state(PROFILE_SUBENTRY_ID) is WarmState.OFF
    assert client.warm.state(legacy) is WarmState.OFF
    assert emulator.sessions == []
    await _speak(hass)
    assert not client.recent_sessions[-1].warm
    [session] = emulator.sessions  # the request's own, no replacement
    assert session.received
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)
    assert [profile["warm_session"]["state"] for profile in diagnostics["profiles"]] == [
        "off",
        "off",
    ]


async def test_option_turns_it_on_for_a_10_rpm_model(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """Asked for, the legacy model gets its warm session too (it takes one of its 10 a minute)."""
    client, [legacy] = await _set_up(
        hass,
        mock_config_entry,
        {CONF_MODEL: "qwen-tts-realtime", CONF_VOICE: "Serena", CONF_WARM_SESSION: True},
    )
    assert await client.warm.wait_ready(legacy)
    [warm] = emulator.sessions
    assert warm.model == "qwen-tts-realtime"


async def test_idle_warm_session_expires_after_three_minutes(
    hass: HomeAssistant, emulator: DashScopeEmulator, warm_entry: MockConfigEntry
) -> None:
    """Unused for the idle period, the session is ended with session.finish and closed."""
    client, _ = await _set_up(hass, warm_entry)
    assert await client.warm.wait_ready(PROFILE_SUBENTRY_ID)

    change = client.warm.next_change(PROFILE_SUBENTRY_ID)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=client.warm.idle + 1))
    assert await change is WarmState.COLD
    await emulator.wait_sessions_closed()
    [warm] = emulator.sessions
    assert [event["type"] for event in warm.received] == ["session.finish"]
    assert warm.finished
    assert not warm.closed_by_client_early
    assert client.warm.diagnostics()[PROFILE_SUBENTRY_ID]["expired"] == 1
    assert client.warm.idle == 180.0


async def test_unload_and_reload_leave_nothing_running(
    hass: HomeAssistant, emulator: DashScopeEmulator, warm_entry: MockConfigEntry
) -> None:
    """Unloading ends every warm session at the emulator; no task survives; reload opens anew."""
    client, _ = await _set_up(hass, warm_entry)
    assert await client.warm.wait_ready(PROFILE_SUBENTRY_ID)
    await _speak(hass)
    assert await client.warm.wait_ready(PROFILE_SUBENTRY_ID)

    assert await hass.config_entries.async_reload(warm_entry.entry_id)
    await hass.async_block_till_done()
    assert client.warm.state(PROFILE_SUBENTRY_ID) is WarmState.OFF
    reloaded = warm_entry.runtime_data.client
    assert await reloaded.warm.wait_ready(PROFILE_SUBENTRY_ID)

    assert await hass.config_entries.async_unload(warm_entry.entry_id)
    assert warm_entry.state is ConfigEntryState.NOT_LOADED
    assert _tasks_left() == []
    await emulator.wait_sessions_closed()
    used, *unused = emulator.sessions
    assert used.finished
    assert len(unused) == 2  # the replacement and the one opened after the reload
    for session in unused:
        assert [event["type"] for event in session.received] == ["session.finish"]
        assert session.finished
        assert not session.closed_by_client_early
