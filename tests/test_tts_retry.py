"""Announcements through Home Assistant survive a failed start: retries and the rate limiter."""

import asyncio
import logging
from collections.abc import AsyncGenerator

import pytest
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import RateLimiter, RetryPolicy, Timeouts

from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .tts_helpers import add_legacy_profile, read_wav, speak_to_player

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

CHERRY = "tts.cherry"
LEGACY = "tts.legacy"
MESSAGE = "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。"


class FakeClock:
    """A clock that moves only when someone sleeps on it: rate limits without real waiting.

    Before moving on it lets the sessions already let through reach the emulator,
    as they would in the real minute.
    """

    def __init__(self, emulator: DashScopeEmulator, started: int) -> None:
        """Start at zero; ``started`` sessions reach the emulator before the clock moves."""
        self.now = 0.0
        self._emulator = emulator
        self._started = started

    def time(self) -> float:
        """Return the current fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Move the clock on at once (once the first sessions are in)."""
        await self._emulator.wait_for_client_event("session.update", count=self._started)
        self.now += seconds


@pytest.fixture
def fast_retries(init_integration: MockConfigEntry) -> MockConfigEntry:
    """Retry without pausing, so the tests do not wait for the backoff."""
    init_integration.runtime_data.client.retry = RetryPolicy(base_delay=0)
    return init_integration


@pytest.mark.parametrize("status", [429, 500])
async def test_refused_handshake_is_retried(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    fast_retries: MockConfigEntry,
    status: int,
) -> None:
    """Throttled or failing at the start: a new session speaks the whole message."""
    emulator.fail_next_handshake(status)
    emulator.fail_next_handshake(status)

    body = await speak_to_player(hass, hass_client, MESSAGE, {tts.ATTR_PREFERRED_FORMAT: "wav"})

    expected = synth_audio_seconds(MESSAGE, emulator.options.ms_per_char)
    assert read_wav(body).seconds == pytest.approx(expected, abs=1 / 24000)
    [session] = emulator.sessions  # the refused upgrades never became sessions
    assert "".join(e["text"] for e in session.received if "text" in e) == MESSAGE
    assert session.finished
    await emulator.wait_sessions_closed()


async def test_connect_timeout_is_retried_for_a_streaming_answer(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    fast_retries: MockConfigEntry,
) -> None:
    """An Assist-style answer whose first connect hangs: no text is lost on the way."""
    client = fast_retries.runtime_data.client
    client.timeouts = Timeouts(connect=0.2)
    emulator.hang_next_handshake()
    parts = ["今天天气", "很好。Let's go ", "for a walk in the park! ", "然后一起", "吃晚饭。"]

    async def llm_answer() -> AsyncGenerator[str]:
        """Stream the answer in parts."""
        for part in parts:
            yield part

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message_stream(llm_answer())
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    expected = synth_audio_seconds(MESSAGE, emulator.options.ms_per_char)
    assert read_wav(audio).seconds == pytest.approx(expected, abs=1 / 24000)
    [session] = emulator.sessions
    assert "".join(e["text"] for e in session.received if "text" in e) == MESSAGE
    assert [stats.error for stats in client.recent_sessions] == ["QwenTtsTimeoutError", None]


async def test_burst_beyond_the_model_limit_waits_its_turn(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """15 announcements at once on a 10-RPM model: all spoken, none refused with 429."""
    clock = FakeClock(emulator, started=10)
    emulator.options.rpm_limits = {"qwen-tts-realtime": 10}
    emulator.options.clock = clock.time
    mock_config_entry.add_to_hass(hass)
    add_legacy_profile(hass, mock_config_entry)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    client = mock_config_entry.runtime_data.client
    client.rate_limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    caplog.set_level(logging.DEBUG, "custom_components.qwen_tts_realtime.api")

    async def announce(number: int) -> bytes:
        """Speak one numbered announcement and return its audio."""
        stream = tts.async_create_stream(hass, LEGACY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
        stream.async_set_message(f"第{number}号通知。")
        return b"".join([chunk async for chunk in stream.async_stream_result()])

    audio = await asyncio.gather(*(announce(number) for number in range(15)))

    assert emulator.rate_limited == 0
    assert len(emulator.sessions) == 15
    assert all(read_wav(wav).seconds > 0 for wav in audio)
    assert "(limit 10), waiting" in caplog.text
