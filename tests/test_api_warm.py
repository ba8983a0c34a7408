"""Warm sessions against the emulator: used, replaced, expired, found dead, rate-limited, closed."""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from custom_components.qwen_tts_realtime.api import (
    Endpoint,
    QwenTtsClient,
    RetryPolicy,
    SessionConfig,
    SessionStats,
)
from custom_components.qwen_tts_realtime.api.warm import WarmState, _describe, warm_by_default

from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, SessionRecord, synth_audio_seconds

FLASH = "qwen3-tts-flash-realtime"
LEGACY = "qwen-tts-realtime"
CONFIG = SessionConfig(voice="Cherry")
KEY = "profile_cherry"
TEXT = "洗衣机已经洗好了。"


@dataclass(eq=False)
class _Timer:
    """One scheduled call of :class:`ManualTimers`."""

    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        """Call it off."""
        self.cancelled = True


class ManualTimers:
    """An idle timer that fires when the test says so, not when time passes."""

    def __init__(self) -> None:
        """Start with nothing scheduled."""
        self.timers: list[_Timer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        """Schedule ``callback`` (it runs on :meth:`fire`)."""
        timer = _Timer(delay, callback)
        self.timers.append(timer)
        return timer

    @property
    def pending(self) -> list[_Timer]:
        """Return the timers neither fired nor cancelled."""
        return [timer for timer in self.timers if not timer.cancelled]

    def fire(self) -> None:
        """Run every pending timer, as if its delay had passed."""
        for timer in self.pending:
            timer.cancelled = True
            timer.callback()


@pytest.fixture
async def http(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A two-connection pool (a warm session and a request): a leaked socket blocks the next."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as session:
        yield session


@pytest.fixture
async def client(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> AsyncIterator[QwenTtsClient]:
    """A client with manual idle timers; closed after the test, leaving no task behind."""
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))
    client.retry = RetryPolicy(base_delay=0)
    client.warm.call_later = ManualTimers().call_later
    yield client
    await client.aclose()
    assert _tasks_left() == []


def _tasks_left() -> list[str]:
    """Return the names of our background tasks still running."""
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("qwen_tts") and not task.done()
    ]


async def _text() -> AsyncIterator[str]:
    """Yield the announcement in two chunks, like a streaming source."""
    yield TEXT[:4]
    yield TEXT[4:]


async def _speak(client: QwenTtsClient, warm: str | None = KEY) -> bytes:
    """Run one request to its end (through the warm key) and return its PCM."""
    async with aclosing(client.synthesize(FLASH, CONFIG, _text(), warm=warm)) as audio:
        return b"".join([chunk async for chunk in audio])


def _assert_whole(pcm: bytes) -> None:
    """The PCM holds all of the announcement (24 kHz, 16-bit mono)."""
    assert len(pcm) / 2 / 24000 == pytest.approx(synth_audio_seconds(TEXT, 80), abs=0.001)


def _session(emulator: DashScopeEmulator, stats: SessionStats) -> SessionRecord:
    """Return the emulator's record of the session a request used."""
    [record] = [record for record in emulator.sessions if record.session_id == stats.session_id]
    return record


def _received(record: SessionRecord) -> list[str]:
    """Return the types of the client events a session got."""
    return [event["type"] for event in record.received]


async def test_warm_session_is_used_by_the_next_request_and_replaced(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """The request speaks on the session opened ahead, and another one is ready after it."""
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    [warm] = emulator.sessions
    assert warm.received == []  # connected and greeted, nothing sent

    _assert_whole(await _speak(client))
    [stats] = client.recent_sessions
    assert stats.warm
    assert stats.session_id == warm.session_id
    assert stats.connected is None  # no connection was waited for
    received = _received(warm)
    assert (received[0], received[-1]) == ("session.update", "session.finish")
    assert "".join(event.get("text", "") for event in warm.received) == TEXT

    assert await client.warm.wait_ready(KEY)
    replacement = emulator.sessions[1]
    assert replacement.received == []
    _assert_whole(await _speak(client))
    assert client.recent_sessions[-1].session_id == replacement.session_id
    assert await client.warm.wait_ready(KEY)
    state = client.warm.diagnostics()[KEY]
    assert (state["state"], state["opened"], state["taken"]) == ("ready", 3, 2)


async def test_unused_warm_session_is_ended_on_close(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Closing the client ends its warm session with session.finish: no failed session."""
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    await client.aclose()
    await emulator.wait_sessions_closed()
    [warm] = emulator.sessions
    assert _received(warm) == ["session.finish"]
    assert warm.finished
    assert not warm.closed_by_client_early
    assert client.warm.state(KEY) is WarmState.OFF
    assert _tasks_left() == []


@pytest.mark.parametrize(
    ("error", "drop"),
    [(None, False), (("InternalError", "Idle for too long."), False), (None, True)],
    ids=["close", "error-event", "dropped"],
)
async def test_warm_session_closed_by_the_service_is_replaced(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    error: tuple[str, str] | None,
    drop: bool,
) -> None:
    """An idle session the service ends is let go; the request connects afresh, unharmed."""
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    change = client.warm.next_change(KEY)
    assert await emulator.end_idle_sessions(error=error, drop=drop) == 1
    assert await change is WarmState.COLD
    assert client.warm.diagnostics()[KEY]["discarded"] == 1

    _assert_whole(await _speak(client))
    [stats] = client.recent_sessions  # one session, no failed attempt
    assert not stats.warm
    assert stats.error is None
    assert await client.warm.wait_ready(KEY)  # the request opened a new one
    assert client.warm.diagnostics()[KEY]["opened"] == 2


@pytest.mark.parametrize(
    "error", [None, ("InternalError", "Session expired.")], ids=["close", "error-event"]
)
async def test_warm_session_gone_when_taken_falls_back_at_once(
    client: QwenTtsClient, emulator: DashScopeEmulator, error: tuple[str, str] | None
) -> None:
    """The service drops the warm session as the request takes it: fresh, no pause, no error."""
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client.retry = RetryPolicy(attempts=1, sleep=no_sleep)  # a real retry would fail the test
    emulator.expire_next_session(error=error)
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)

    _assert_whole(await _speak(client))
    lost, fresh = client.recent_sessions
    assert lost.warm
    assert lost.error
    assert not fresh.warm
    assert fresh.error is None
    assert sleeps == []
    assert _received(_session(emulator, lost)) == ["session.update"]
    assert (
        "".join(event["text"] for event in _session(emulator, fresh).received if "text" in event)
        == TEXT
    )


async def test_idle_warm_session_expires(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> None:
    """After the idle period the session is ended and closed; the next request connects."""
    timers = ManualTimers()
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))
    client.warm.call_later = timers.call_later
    client.warm.idle = 120.0
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    [timer] = timers.pending
    assert timer.delay == 120.0

    change = client.warm.next_change(KEY)
    timers.fire()
    assert await change is WarmState.COLD
    await emulator.wait_sessions_closed()
    [warm] = emulator.sessions
    assert _received(warm) == ["session.finish"]
    assert warm.finished
    assert client.warm.diagnostics()[KEY]["expired"] == 1

    _assert_whole(await _speak(client))
    assert not client.recent_sessions[-1].warm
    assert await client.warm.wait_ready(KEY)
    await client.aclose()
    assert timers.pending == []
    assert _tasks_left() == []


def test_warm_by_default_only_where_the_rate_limit_allows() -> None:
    """10-RPM models get no warm session unless asked; 180 RPM and unknown limits do."""
    assert not warm_by_default(LEGACY)
    assert not warm_by_default("qwen3-tts-flash-realtime-2025-09-18")
    assert warm_by_default(FLASH)
    assert warm_by_default("qwen3-tts-instruct-flash-realtime")


async def test_warm_session_takes_a_rate_limit_slot_and_never_waits_for_one(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """On a 10-RPM model the warm session is the 10th start; with no slot free, none opens."""
    for _ in range(9):
        assert client.rate_limiter.try_acquire(LEGACY, 10)
    client.warm.keep(KEY, LEGACY)
    assert await client.warm.wait_ready(KEY)
    assert not client.rate_limiter.try_acquire(LEGACY, 10)  # the warm session took the last

    client.warm.keep("other", LEGACY)
    assert not await client.warm.wait_ready("other")
    assert len(emulator.sessions) == 1
    assert client.warm.diagnostics()["other"]["not_opened"] == 1


async def test_warm_session_of_another_model_is_not_used(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A request for another model than the key's connects afresh and leaves the warm one."""
    client.warm.keep(KEY, "qwen3-tts-flash-realtime-2025-11-27")
    assert await client.warm.wait_ready(KEY)
    _assert_whole(await _speak(client))
    assert not client.recent_sessions[-1].warm
    assert emulator.sessions[0].received == []


async def test_closing_while_a_warm_session_opens_leaves_nothing(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A release during a hanging handshake cancels it: no task, no socket left."""
    emulator.hang_next_handshake()
    client.warm.keep(KEY, FLASH)
    assert client.warm.state(KEY) is WarmState.OPENING
    await client.aclose()
    assert client.warm.state(KEY) is WarmState.OFF
    assert _tasks_left() == []
    assert emulator.sessions == []


async def test_retry_after_a_warm_request_starts_fresh(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """An error after the warm session answered is retried on a new connection, not a warm one."""
    emulator.inject_error_event("InternalError", "Something broke.")
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    _assert_whole(await _speak(client))
    failed, retried = client.recent_sessions
    assert (failed.warm, failed.error) == (True, "InternalError")
    assert (retried.warm, retried.error) == (False, None)


async def test_warm_session_refused_by_the_service_is_no_failure(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A throttled warm open is let go; keeping the key again changes nothing; requests work."""
    emulator.fail_next_handshake(429)
    client.warm.keep(KEY, FLASH)
    client.warm.keep(KEY, FLASH)  # already kept: no second session
    assert not await client.warm.wait_ready(KEY)
    assert client.warm.diagnostics()[KEY]["not_opened"] == 1
    assert "QwenTtsRateLimitError" in str(client.warm.diagnostics()[KEY]["last"])

    _assert_whole(await _speak(client))
    assert not client.recent_sessions[-1].warm
    assert await client.warm.wait_ready(KEY)


async def test_cancelled_keeper_still_ends_its_session(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """When the owner cancels the task (Home Assistant stopping), the session is still ended."""
    tasks: list[asyncio.Task[None]] = []

    def create_task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        tasks.append(asyncio.create_task(coro, name=name))
        return tasks[-1]

    client.warm.create_task = create_task
    client.warm.keep(KEY, FLASH)
    assert await client.warm.wait_ready(KEY)
    [keeper] = tasks
    keeper.cancel()
    await asyncio.wait([keeper])
    assert keeper.cancelled()  # the cancellation is the owner's, so it is not swallowed
    await emulator.wait_sessions_closed()
    [warm] = emulator.sessions
    assert _received(warm) == ["session.finish"]
    assert warm.finished


@pytest.mark.parametrize(
    ("data", "described"),
    [
        ('{"type": "error", "error": {"code": "Timeout"}}', "error Timeout"),
        ('{"type": "session.finished"}', "session.finished"),
        ("not json", "a frame that is not an event"),
    ],
)
def test_what_the_service_sent_is_described_without_payload(data: str, described: str) -> None:
    """The debug log says what ended an idle session: event type and code, nothing else."""
    assert _describe(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, data, None)) == described
