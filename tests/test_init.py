"""Set-up, unload and reload of an account, against the DashScope emulator."""

from types import MappingProxyType

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.qwen_tts_realtime.const import (
    CONF_VOICE,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator, VoiceRecord

CLONED_VOICE = "qwen-tts-vc-grandpa-voice-20260301101010123-a1b2"


async def test_setup_lists_cloned_voices_and_unloads(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """Set-up checks the key with the voice list, keeps the cloned voices, and unloads cleanly."""
    emulator.voices[CLONED_VOICE] = VoiceRecord(
        voice=CLONED_VOICE,
        target_model="qwen3-tts-vc-realtime-2026-01-15",
        preferred_name="grandpa",
        language="zh",
    )
    mock_config_entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.LOADED
    voices = mock_config_entry.runtime_data.custom_voices
    assert [(voice.voice_id, voice.target_model, voice.language) for voice in voices] == [
        (CLONED_VOICE, "qwen3-tts-vc-realtime-2026-01-15", "zh")
    ]
    # The only calls set-up makes are the free voice lists: nothing is synthesized.
    assert [(request["model"], request["input"]) for request in emulator.http_requests] == [
        (model, {"action": "list", "page_index": 0, "page_size": 100})
        for model in ("qwen-voice-enrollment", "qwen-voice-design")
    ]
    assert emulator.sessions == []

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_known_entry(mock_config_entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_rejected_key_starts_reauth(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """A key DashScope rejects (HTTP 401) fails set-up and asks the user for a new key."""
    emulator.options.api_keys = frozenset({"sk-someone-else"})
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    # The entry's error shows the server's answer, not a bare template.
    assert mock_config_entry.error_reason_translation_key == "invalid_auth"
    assert mock_config_entry.error_reason_translation_placeholders == {
        "code": "InvalidApiKey",
        "message": "Invalid API-key provided.",
    }
    assert mock_config_entry.reason is not None
    assert "InvalidApiKey: Invalid API-key provided." in mock_config_entry.reason
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["step_id"] == "reauth_confirm"
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["context"]["entry_id"] == mock_config_entry.entry_id


@pytest.mark.parametrize(
    "break_service",
    [
        pytest.param(
            lambda emulator: emulator.fail_next_http(500, "InternalError", "Try again."),
            id="server_error",
        ),
        pytest.param(
            lambda emulator: emulator.fail_next_http(429, "Throttling.RateQuota", "Slow down."),
            id="rate_limited",
        ),
    ],
)
async def test_service_trouble_retries_setup(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    break_service: object,
) -> None:
    """Server errors and rate limits are temporary: Home Assistant retries the set-up later."""
    assert callable(break_service)
    break_service(emulator)
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_unreachable_service_retries_setup(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """When nothing answers at the endpoint (network down), set-up is retried, not failed."""
    await emulator.close()
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_profile_changes_reload_the_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Adding, changing or removing a voice profile reloads the account with the new profiles."""
    entry = init_integration
    runtime = entry.runtime_data

    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType({**DEFAULT_PROFILE, CONF_VOICE: "Ethan"}),
            subentry_type=SUBENTRY_TTS,
            title="Ethan",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    runtime = entry.runtime_data

    hass.config_entries.async_update_subentry(
        entry,
        entry.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_VOICE: "Serena"},
        title="Serena",
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    runtime = entry.runtime_data

    hass.config_entries.async_remove_subentry(entry, PROFILE_SUBENTRY_ID)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime
    assert [subentry.title for subentry in entry.subentries.values()] == ["Ethan"]
