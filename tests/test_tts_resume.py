"""Announcements through Home Assistant survive a fault after their audio started.

The emulator breaks the first session in the middle of the second sentence; a
new session goes on from that sentence. What the listener gets is measured:
every byte of PCM both sessions sent, i.e. the whole message plus the part of
the second sentence that was played before the fault.
"""

import asyncio
from collections.abc import AsyncGenerator, Callable

import pytest
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import RetryPolicy, Timeouts
from custom_components.qwen_tts_realtime.api.segmenter import MAX_SEGMENT_CHARS

from .api_helpers import broken_response_bytes, texts_sent
from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .tts_helpers import (
    MP3_SLACK_PER_RESPONSE,
    decode_audio,
    read_wav,
    sent_audio_bytes,
    speak_to_player,
)

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

CHERRY = "tts.cherry"
SENTENCES = ["今天天气很好。", "Let's go for a walk in the park! ", "然后一起吃晚饭。"]
MESSAGE = "".join(SENTENCES)
# The first sentence is 6 deltas of 100 ms: after 9 deltas the second one is under way.
MID_SECOND = 9

FAULTS: dict[str, Callable[[DashScopeEmulator], None]] = {
    "drop": lambda emulator: emulator.drop_connection(after_deltas=MID_SECOND),
    "error event": lambda emulator: emulator.inject_error_event(
        "InternalError", "Internal error.", after_deltas=MID_SECOND
    ),
    "stall": lambda emulator: emulator.stall(after_deltas=MID_SECOND),
    "malformed frame": lambda emulator: emulator.garble(after_deltas=MID_SECOND),
}


@pytest.fixture
def resuming(init_integration: MockConfigEntry) -> MockConfigEntry:
    """Resume without pausing; a stall is noticed after half a second of silence."""
    client = init_integration.runtime_data.client
    client.retry = RetryPolicy(base_delay=0)
    client.timeouts = Timeouts(gap=0.5)
    return init_integration


async def _assert_heard_everything(emulator: DashScopeEmulator, pcm: bytes) -> None:
    """The listener got all audio of both sessions: the message, and the broken part once more."""
    first, second = emulator.sessions
    spoken = [
        event["type"] == "response.done" and event["response"]["status"] == "completed"
        for event in first.sent
    ].count(True)
    assert spoken == 1
    # Resumed at the broken sentence, from its start; in order, nothing missing.
    assert texts_sent(second)[0] == texts_sent(first)[spoken]
    assert "".join(texts_sent(first)[:spoken] + texts_sent(second)) == MESSAGE
    assert second.finished
    assert len(pcm) == sent_audio_bytes(first) + sent_audio_bytes(second)
    message_bytes = round(synth_audio_seconds(MESSAGE, emulator.options.ms_per_char) * 24000) * 2
    assert len(pcm) == message_bytes + broken_response_bytes(first)
    await emulator.wait_sessions_closed()
    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("qwen_tts")]


@pytest.mark.parametrize("fault", FAULTS)
async def test_announcement_is_resumed(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    resuming: MockConfigEntry,
    fault: str,
) -> None:
    """tts.speak to a player (WAV): a fault mid-message, and the player still gets all of it."""
    FAULTS[fault](emulator)
    body = await speak_to_player(hass, hass_client, MESSAGE, {tts.ATTR_PREFERRED_FORMAT: "wav"})

    assert texts_sent(emulator.sessions[0]) == SENTENCES
    await _assert_heard_everything(emulator, read_wav(body).frames)


async def test_resumed_mp3_decodes_whole(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    resuming: MockConfigEntry,
) -> None:
    """The service's MP3, broken off mid-sentence and resumed: a player decodes all of it.

    The player gets every byte both sessions sent; decoded, that is the whole
    message and at most the broken sentence once more (plus the encoder's frames).
    """
    emulator.drop_connection(after_deltas=MID_SECOND)
    body = await speak_to_player(hass, hass_client, MESSAGE, {tts.ATTR_PREFERRED_FORMAT: "mp3"})

    first, second = emulator.sessions
    assert second.config["response_format"] == "mp3"
    assert len(body) == sent_audio_bytes(first) + sent_audio_bytes(second)
    audio = await decode_audio(body)
    responses = sum(
        event["type"] == "response.created" for session in (first, second) for event in session.sent
    )
    message = synth_audio_seconds(MESSAGE, emulator.options.ms_per_char)
    repeated = synth_audio_seconds(SENTENCES[1], emulator.options.ms_per_char)
    assert audio.codec == "mp3"
    assert message <= audio.seconds <= message + repeated + MP3_SLACK_PER_RESPONSE * responses


@pytest.mark.parametrize("fault", FAULTS)
async def test_streamed_answer_is_resumed(
    hass: HomeAssistant, emulator: DashScopeEmulator, resuming: MockConfigEntry, fault: str
) -> None:
    """An Assist-style answer still being written when the fault comes: nothing is lost.

    The answer's last sentence is finished only once the second session has
    started, so it can only reach the service through the resumed session.
    """
    FAULTS[fault](emulator)

    async def llm_answer() -> AsyncGenerator[str]:
        """Write two sentences and a half, the rest once the resumed session is up."""
        yield "今天天气"
        yield "很好。Let's go "
        yield "for a walk in the park! "
        yield "然后一起"
        await emulator.wait_for_client_event("session.update", count=2)
        yield "吃晚饭。"

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message_stream(llm_answer())
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    # The start of the last sentence was still being written: the first session never got it.
    assert (
        "".join(texts_sent(emulator.sessions[0]))
        == "今天天气很好。Let's go for a walk in the park!"
    )
    await _assert_heard_everything(emulator, read_wav(audio).frames)


async def test_a_very_long_message_goes_out_in_bounded_appends(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """20,000 characters, some without punctuation: all spoken, no append longer than the cap."""
    emulator.options.ms_per_char = 1  # keeps the 20,000 characters' audio small
    message = ("今天天气很好，我们下午去公园散步，然后一起吃晚饭。" * 600 + "没有标点的文字" * 800)[
        :20000
    ]
    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(message)
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    [session] = emulator.sessions
    appended = texts_sent(session)
    assert "".join(appended) == message
    assert max(len(text) for text in appended) <= MAX_SEGMENT_CHARS
    assert read_wav(audio).seconds == pytest.approx(synth_audio_seconds(message, 1), abs=1e-9)
    assert session.finished
