"""Retries before the first audio byte and the per-model rate limiter, against the emulator."""

import asyncio
from collections.abc import AsyncIterator, Iterable

import aiohttp
import pytest

from custom_components.qwen_tts_realtime.api import (
    Endpoint,
    QwenTtsAuthError,
    QwenTtsClient,
    QwenTtsRateLimitError,
    QwenTtsTimeoutError,
    RateLimiter,
    RetryPolicy,
    SessionConfig,
    SessionStats,
    Timeouts,
)

from .api_helpers import drain, texts
from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator

FLASH = "qwen3-tts-flash-realtime"
CONFIG = SessionConfig(voice="Cherry")


class FakeClock:
    """A clock that jumps when slept on, so waits cost no real time."""

    def __init__(self) -> None:
        """Start at zero with no sleep seen."""
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        """Return the fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Jump ahead by ``seconds``."""
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> QwenTtsClient:
    """A client that retries without pausing."""
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))
    client.retry = RetryPolicy(base_delay=0)
    return client


async def _speak(client: QwenTtsClient, chunks: Iterable[str]) -> bytes:
    """Run a request to its end and return its audio."""
    return await drain(client.synthesize(FLASH, CONFIG, texts(chunks)))


def _tasks_left() -> list[str]:
    """Return the names of our background tasks still running."""
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("qwen_tts") and not task.done()
    ]


async def test_throttled_start_is_retried_with_all_text(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Two 429s, then a session that gets every chunk; nothing is left running."""
    emulator.fail_next_handshake(429)
    emulator.fail_next_handshake(429)
    audio = await _speak(client, ["你好，", "世界。"])
    assert audio
    [session] = emulator.sessions
    assert "".join(e["text"] for e in session.received if "text" in e) == "你好，世界。"
    assert [stats.error for stats in client.recent_sessions] == [
        "Throttling.RateQuota",
        "Throttling.RateQuota",
        None,
    ]
    assert _tasks_left() == []


async def test_error_event_before_audio_is_retried(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A Throttling error event before the first delta: a new session speaks it all."""
    emulator.inject_error_event("Throttling.RateQuota", "Requests rate limit exceeded.")
    assert await _speak(client, ["你好。"])
    assert len(emulator.sessions) == 2


async def test_rejected_key_is_not_retried(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A 401 fails at once: another attempt cannot fix a key."""
    emulator.fail_next_handshake(401)
    emulator.fail_next_handshake(401)
    with pytest.raises(QwenTtsAuthError):
        await _speak(client, ["你好。"])
    assert len(client.recent_sessions) == 1


async def test_retries_stay_within_the_first_audio_budget(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> None:
    """A backoff longer than the first-audio timeout is not waited for."""
    clock = FakeClock()
    client = QwenTtsClient(
        http, API_KEY, Endpoint.from_base_url(emulator.base_url), timeouts=Timeouts(first_audio=1)
    )
    client.retry = RetryPolicy(base_delay=0.6, jitter=lambda: 1.0, sleep=clock.sleep)
    for _ in range(4):
        emulator.fail_next_handshake(429)
    with pytest.raises(QwenTtsRateLimitError):
        await _speak(client, ["你好。"])
    # 0.6 s fits in the 1 s budget, the next 1.2 s would not.
    assert clock.sleeps == [0.6]
    assert len(client.recent_sessions) == 2


async def test_connect_timeouts_share_one_first_audio_budget(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> None:
    """Hanging handshakes: the retry connects within what is left, not with a fresh timeout.

    With a fresh connect timeout per attempt, three 0.2 s timeouts would fit before the
    budget (0.3 s after the first failure) ran out; a listener would wait 0.6 s for an
    error (or a fallback engine) instead of 0.3 s from the first connect.
    """
    client = QwenTtsClient(
        http,
        API_KEY,
        Endpoint.from_base_url(emulator.base_url),
        timeouts=Timeouts(connect=0.2, first_audio=0.3),
    )
    client.retry = RetryPolicy(base_delay=0)
    for _ in range(4):
        emulator.hang_next_handshake()
    with pytest.raises(QwenTtsTimeoutError):
        await _speak(client, ["你好。"])
    assert [stats.error for stats in client.recent_sessions] == ["QwenTtsTimeoutError"] * 2
    assert emulator._hanging_handshakes == 2  # the last two attempts were never made


async def test_text_source_failure_while_retrying_propagates(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """The caller's own error reaches the caller, not a retry."""

    async def broken() -> AsyncIterator[str]:
        """Fail after one chunk."""
        yield "你好。"
        raise RuntimeError("LLM failed")

    emulator.fail_next_handshake(500)
    stream = client.synthesize(FLASH, CONFIG, broken())
    with pytest.raises(RuntimeError, match="LLM failed"):
        await drain(stream)
    assert _tasks_left() == []


async def test_backoff_grows_and_is_capped() -> None:
    """Exponential backoff, between half and all of its ceiling, never above the cap."""
    policy = RetryPolicy(base_delay=0.25, max_delay=1.0, jitter=lambda: 1.0)
    assert [policy.delay(retry) for retry in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
    assert RetryPolicy(base_delay=1.0, jitter=lambda: 0.0).delay(1) == 0.5


async def test_limiter_waits_for_a_free_slot_per_model() -> None:
    """The 11th start of a 10-RPM model waits for the oldest to leave the minute."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    for second in range(10):
        clock.now = float(second)
        assert await limiter.acquire("qwen-tts-realtime", 10) == 0
    assert await limiter.acquire("qwen3-tts-flash-realtime", 180) == 0  # another model's slots
    assert await limiter.acquire("qwen-tts-realtime", 10) == pytest.approx(51.0)
    assert clock.now == pytest.approx(60.0)
    assert await limiter.acquire("qwen3-tts-instruct-flash-realtime", None) == 0  # no known limit


async def test_every_session_of_a_request_is_reported_with_its_usage(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A throttled attempt and the session that spoke both reach the caller's callback."""
    emulator.fail_next_handshake(429)
    ended: list[str | None] = []
    reported = []

    def on_end(stats: SessionStats) -> None:
        """Record each session as it closes."""
        ended.append(stats.error)
        reported.append(stats)

    text = texts(["今天天气很好，我们一起去公园散步吧。晚上六点回家吃饭，", "别忘了带伞。"])
    await drain(client.synthesize(FLASH, CONFIG, text, on_session_end=on_end))

    assert ended == ["Throttling.RateQuota", None]
    assert reported == client.recent_sessions
    [session] = emulator.sessions
    usage = [e["response"]["usage"] for e in session.sent if e["type"] == "response.done"]
    assert len(usage) > 1
    assert reported[1].billed_characters == sum(item["characters"] for item in usage)
    assert reported[1].billed_tokens == 0
    assert reported[0].billed_characters == 0
