"""Diagnostics: useful for support, and never a leak of the key or of what was spoken."""

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.matchers import path_type

from custom_components.qwen_tts_realtime.api import QwenTtsApiError, QwenTtsClient, SessionConfig

from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, VoiceRecord

SPOKEN = "客厅的灯已经关了。"
# Values that change from run to run: the emulator's port, clock readings and server ids.
VOLATILE = path_type(
    {
        r"entry\.data\.base_url": (str,),
        r"recent_sessions\.\d+\.(started_at|connected|session_created)": (float,),
        r"recent_sessions\.\d+\.(first_text_sent|first_audio|first_audio_after_text|finished)": (
            float,
            type(None),
        ),
        r"recent_sessions\.\d+\.session_id": (str,),
        r"recent_sessions\.\d+\.response_ids\.\d+": (str,),
    },
    regex=True,
)


async def _text() -> AsyncIterator[str]:
    """Stream the sentence that must never show up in diagnostics."""
    yield SPOKEN


async def _speak(client: QwenTtsClient) -> bytes:
    """Synthesize the sentence in one session and return its audio."""
    stream = client.synthesize("qwen3-tts-flash-realtime", SessionConfig(voice="Cherry"), _text())
    async with aclosing(stream) as audio:
        return b"".join([chunk async for chunk in audio])


async def test_diagnostics_of_a_loaded_entry(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Profiles, voice count and session timings/error codes; no key, no spoken text."""
    voice = "qwen-tts-vc-grandpa-voice-20260301101010123-a1b2"
    emulator.voices[voice] = VoiceRecord(
        voice=voice, target_model="qwen3-tts-vc-realtime-2026-01-15", preferred_name="grandpa"
    )
    client = init_integration.runtime_data.client
    init_integration.runtime_data.custom_voices = await client.list_voices()
    assert await _speak(client)
    emulator.inject_error_event("DataInspectionFailed", "Input may be inappropriate.")
    with pytest.raises(QwenTtsApiError):
        await _speak(client)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert diagnostics == snapshot(matcher=VOLATILE)
    assert diagnostics["entry"]["data"]["base_url"] == emulator.base_url
    first, failed = diagnostics["recent_sessions"]
    assert first["session_id"] == emulator.sessions[0].session_id
    assert first["first_audio"] <= first["finished"]
    assert 0 <= first["first_audio_after_text"] <= first["first_audio"]
    assert failed["error"] == "DataInspectionFailed"
    dumped = json.dumps(diagnostics, ensure_ascii=False)
    assert API_KEY not in dumped
    assert SPOKEN not in dumped


async def test_diagnostics_of_an_entry_that_failed_to_set_up(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """When the key is rejected, diagnostics still download (that is when they matter)."""
    emulator.options.api_keys = frozenset({"sk-someone-else"})
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)

    assert diagnostics["entry"]["state"] == "setup_error"
    assert diagnostics["custom_voice_count"] is None
    assert diagnostics["recent_sessions"] == []
    assert [profile["title"] for profile in diagnostics["profiles"]] == ["Cherry"]
    assert API_KEY not in json.dumps(diagnostics)
