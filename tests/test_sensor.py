"""Sensors: what an account's speech was billed, and how each profile's last request went."""

from typing import Any

import pytest
from homeassistant.components import tts
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.qwen_tts_realtime.const import (
    DOMAIN,
)
from custom_components.qwen_tts_realtime.reports import RequestReport, report_signal

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator
from .tts_helpers import add_legacy_profile

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

CHARACTERS = "sensor.dashscope_characters_synthesized"
TOKENS = "sensor.dashscope_tokens_used"
LATENCY = "sensor.cherry_first_audio_latency"
LAST_ERROR = "sensor.cherry_last_error"
# Long enough for several responses in one session (the emulator cuts at 40 characters).
LONG = "今天天气很好，我们一起去公园散步吧。晚上六点回家吃饭，别忘了带伞。明天早上七点出发去机场。"


def _billed(emulator: DashScopeEmulator, key: str) -> int:
    """Return what the emulator's ``response.done`` events reported, all sessions together."""
    return sum(
        event["response"]["usage"][key]
        for session in emulator.sessions
        for event in session.sent
        if event["type"] == "response.done"
    )


def _state(hass: HomeAssistant, entity_id: str) -> State:
    """Return an entity's state, which must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def _say(hass: HomeAssistant, message: str, entity_id: str = "tts.cherry") -> bytes:
    """Synthesize a message through Home Assistant's TTS stream and return the audio."""
    stream = tts.async_create_stream(hass, entity_id, "zh-CN")
    stream.async_set_message(message)
    return b"".join([chunk async for chunk in stream.async_stream_result()])


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set an entry up and wait until its entities are there."""
    if entry.entry_id not in {e.entry_id for e in hass.config_entries.async_entries(DOMAIN)}:
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _enable(hass: HomeAssistant, entry: MockConfigEntry, *entity_ids: str) -> None:
    """Enable entities that are disabled by default, as a user does, and reload."""
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


async def test_characters_add_up_the_services_usage(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """Every response's billed characters count, over requests and responses of a session."""
    state = _state(hass, CHARACTERS)
    assert state.state == "0"
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["unit_of_measurement"] == "characters"
    assert state.attributes["friendly_name"] == "DashScope Characters synthesized"

    await _say(hass, "你好。")
    await _say(hass, LONG)
    await _say(hass, "Hello there.")

    assert sum(event["type"] == "response.done" for event in emulator.sessions[1].sent) > 1, (
        "the long message should take several responses"
    )
    billed = _billed(emulator, "characters")
    assert billed > 0
    assert int(_state(hass, CHARACTERS).state) == billed
    # Characters models report no tokens: the disabled tokens sensor has nothing to add.
    assert hass.states.get(TOKENS) is None


async def test_characters_survive_a_restart_and_a_reload(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """The total goes on from where it was before Home Assistant restarted."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(CHARACTERS, "1200"),
                {"native_value": 1200, "native_unit_of_measurement": None},
            )
        ],
    )
    await _setup(hass, mock_config_entry)
    assert _state(hass, CHARACTERS).state == "1200"

    await _say(hass, "客厅的灯已经关了。")
    total = 1200 + _billed(emulator, "characters")
    assert int(_state(hass, CHARACTERS).state) == total

    # A reload (every profile change is one) keeps it too.
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert int(_state(hass, CHARACTERS).state) == total


async def test_a_restored_value_that_is_not_a_count_starts_from_zero(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A corrupt or foreign stored value does not become the total."""
    mock_restore_cache_with_extra_data(
        hass,
        [(State(CHARACTERS, "oops"), {"native_value": "oops", "native_unit_of_measurement": None})],
    )
    await _setup(hass, mock_config_entry)
    assert _state(hass, CHARACTERS).state == "0"


async def test_first_generation_model_counts_tokens(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """qwen-tts-realtime bills tokens: with such a profile the tokens sensor is on and counts."""
    mock_config_entry.add_to_hass(hass)
    add_legacy_profile(hass, mock_config_entry)
    await _setup(hass, mock_config_entry)
    assert _state(hass, TOKENS).state == "0"

    await _say(hass, "你好，欢迎回家。", "tts.legacy")
    await _say(hass, "晚安。", "tts.cherry")

    legacy, cherry = emulator.sessions
    assert int(_state(hass, TOKENS).state) == sum(
        event["response"]["usage"]["total_tokens"]
        for event in legacy.sent
        if event["type"] == "response.done"
    )
    assert _state(hass, TOKENS).attributes["unit_of_measurement"] == "tokens"
    assert int(_state(hass, CHARACTERS).state) == sum(
        event["response"]["usage"]["characters"]
        for event in cherry.sent
        if event["type"] == "response.done"
    )


async def test_latency_and_last_error_follow_the_last_request(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """The latency sensor (off by default) shows the client's first-audio time; errors show."""
    registry = er.async_get(hass)
    latency_entry = registry.async_get(LATENCY)
    assert latency_entry is not None
    assert latency_entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert latency_entry.entity_category is EntityCategory.DIAGNOSTIC
    await _enable(hass, init_integration, LATENCY)
    assert _state(hass, LATENCY).state == STATE_UNKNOWN
    assert _state(hass, LAST_ERROR).state == STATE_UNKNOWN

    await _say(hass, "你好。")
    client = init_integration.runtime_data.client
    first_audio = client.recent_sessions[-1].first_audio
    assert first_audio is not None
    latency = _state(hass, LATENCY)
    assert float(latency.state) == round(first_audio * 1000)
    assert latency.attributes["unit_of_measurement"] == "ms"
    assert latency.attributes["device_class"] == "duration"
    assert _state(hass, LAST_ERROR).state == "none"

    emulator.inject_error_event("DataInspectionFailed", "Input may be inappropriate.")
    with pytest.raises(HomeAssistantError):
        await _say(hass, "再试一次。")
    assert _state(hass, LAST_ERROR).state == "DataInspectionFailed"
    assert _state(hass, LATENCY).state == STATE_UNKNOWN

    await _say(hass, "好了。")
    assert _state(hass, LAST_ERROR).state == "none"


async def test_a_profiles_sensors_ignore_other_profiles(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Each profile's sensors show its own requests only; the account adds up all of them."""
    report = RequestReport(
        subentry_id="another_profile",
        billed_characters=7,
        billed_tokens=0,
        first_audio_ms=250,
        error="Throttling.RateQuota",
    )
    async_dispatcher_send(hass, report_signal(init_integration.entry_id), report)
    await hass.async_block_till_done()

    assert _state(hass, LAST_ERROR).state == STATE_UNKNOWN
    assert _state(hass, CHARACTERS).state == "7"


async def test_sensors_live_on_the_account_and_profile_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Usage belongs to the account's service device, diagnostics to the profile's device."""
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    entry_id = init_integration.entry_id
    profile_device = devices.async_get_device_by_identifier((DOMAIN, PROFILE_SUBENTRY_ID), entry_id)
    account_device = devices.async_get_device_by_identifier((DOMAIN, entry_id), entry_id)
    assert profile_device is not None
    assert account_device is not None
    assert account_device.name == "DashScope"
    assert account_device.entry_type is dr.DeviceEntryType.SERVICE

    def device_of(entity_id: str) -> str | None:
        """Return the device an entity belongs to."""
        entry = entities.async_get(entity_id)
        assert entry is not None
        return entry.device_id

    assert device_of("tts.cherry") == profile_device.id
    assert device_of(LATENCY) == profile_device.id
    assert device_of(LAST_ERROR) == profile_device.id
    assert device_of(CHARACTERS) == account_device.id
    assert device_of(TOKENS) == account_device.id
    last_error = entities.async_get(LAST_ERROR)
    assert last_error is not None
    assert last_error.entity_category is EntityCategory.DIAGNOSTIC
    assert last_error.disabled_by is None
    assert last_error.config_subentry_id == PROFILE_SUBENTRY_ID


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
async def test_names_and_units_are_translated(
    hass: HomeAssistant, init_integration: MockConfigEntry, language: str
) -> None:
    """Every sensor has a name (and where it has a word for a unit, the unit) in both languages."""
    translations = await async_get_translations(hass, language, "entity", [DOMAIN])
    prefix = f"component.{DOMAIN}.entity.sensor"
    for key in ("billed_characters", "billed_tokens", "first_audio_latency", "last_error"):
        assert translations[f"{prefix}.{key}.name"]
    for key in ("billed_characters", "billed_tokens"):
        assert translations[f"{prefix}.{key}.unit_of_measurement"]
    assert translations[f"{prefix}.last_error.state.none"]


async def test_unload_leaves_nothing_listening(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """After unloading, no sensor is left following reports and the states are unavailable."""
    signal = report_signal(init_integration.entry_id)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    assert init_integration.state is ConfigEntryState.NOT_LOADED
    dispatcher: dict[str, Any] = hass.data.get("dispatcher", {})
    assert not dispatcher.get(signal)
    for entity_id in (CHARACTERS, LAST_ERROR):
        state = hass.states.get(entity_id)
        assert state is None or state.state == STATE_UNAVAILABLE
