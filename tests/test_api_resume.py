"""Resuming a session that broke after its audio started, against the emulator."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable

import aiohttp
import pytest

from custom_components.qwen_tts_realtime.api import (
    QwenTtsClient,
    RateLimiter,
    SessionConfig,
)
from custom_components.qwen_tts_realtime.api.responses import Progress, ResponseTracker

from .api_helpers import broken_response_bytes, drain, quick_client, texts, texts_sent
from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, SessionRecord, synth_audio_seconds
from .tts_helpers import sent_audio_bytes

FLASH = "qwen3-tts-flash-realtime"
CONFIG = SessionConfig(voice="Cherry")
SENTENCES = ["今天天气很好。", "Let's go for a walk in the park! ", "然后一起吃晚饭。"]
# The first sentence is 6 deltas of audio (560 ms in 100 ms deltas): a fault after 9 deltas
# breaks the second sentence, after the first was heard in full.
MID_SECOND = 9


@pytest.fixture
def client(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> QwenTtsClient:
    """A client that resumes without pausing, with a short gap timeout for the stall."""
    return quick_client(http, emulator)


async def _speak(client: QwenTtsClient, chunks: Iterable[str]) -> bytes:
    """Run a request to its end and return its audio."""
    return await drain(client.synthesize(FLASH, CONFIG, texts(chunks)))


def _completed(session: SessionRecord) -> int:
    """Return how many responses of a session completed."""
    return sum(
        event["type"] == "response.done" and event["response"]["status"] == "completed"
        for event in session.sent
    )


def _pcm_bytes(text: str) -> int:
    """Return the bytes of 24 kHz 16-bit PCM the emulator makes for ``text``."""
    return round(synth_audio_seconds(text, 80) * 24000) * 2


FAULTS: dict[str, Callable[[DashScopeEmulator], None]] = {
    "drop": lambda emulator: emulator.drop_connection(after_deltas=MID_SECOND),
    "error event": lambda emulator: emulator.inject_error_event(
        "InternalError", "Internal error.", after_deltas=MID_SECOND
    ),
    "stall": lambda emulator: emulator.stall(after_deltas=MID_SECOND),
    "malformed frame": lambda emulator: emulator.garble(after_deltas=MID_SECOND),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_after_audio_started_is_resumed_from_the_broken_sentence(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """The first sentence was heard, the second broke: a new session says the second and third.

    The listener gets all the audio of both sessions: the whole message, plus the
    start of the second sentence once more.
    """
    caplog.set_level(logging.DEBUG, "custom_components.qwen_tts_realtime.api")
    FAULTS[fault](emulator)

    audio = await _speak(client, SENTENCES)

    first, second = emulator.sessions
    assert _completed(first) == 1
    assert texts_sent(first) == SENTENCES
    assert texts_sent(second) == SENTENCES[1:]  # the broken sentence, from its start
    assert second.finished
    assert len(audio) == sent_audio_bytes(first) + sent_audio_bytes(second)
    assert len(audio) == _pcm_bytes("".join(SENTENCES)) + broken_response_bytes(first)
    assert broken_response_bytes(first) > 0
    assert "Resume 1 of 3 after" in caplog.text
    assert "from segment 2 of 3" in caplog.text
    for text in SENTENCES:
        assert text.strip() not in caplog.text
    assert API_KEY not in caplog.text


async def test_resume_does_not_need_committed_events(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A service that never sends input_text_buffer.committed: responses alone tell the progress."""
    emulator.options.emit_committed_on_commit = False
    emulator.drop_connection(after_deltas=MID_SECOND)
    audio = await _speak(client, SENTENCES)
    first, second = emulator.sessions
    assert not [event for event in first.sent if event["type"] == "input_text_buffer.committed"]
    assert texts_sent(second) == SENTENCES[1:]
    assert len(audio) == _pcm_bytes("".join(SENTENCES)) + broken_response_bytes(first)


async def test_resumed_sessions_wait_for_the_rate_limiter(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Every session start, resumes included, takes a slot of the model's limit."""
    started: list[str] = []

    class CountingLimiter(RateLimiter):
        """Count the sessions the limiter lets through."""

        async def acquire(self, model: str, per_minute: int | None) -> float:
            """Note the start, then wait as usual."""
            started.append(model)
            return await super().acquire(model, per_minute)

    client.rate_limiter = CountingLimiter()
    emulator.drop_connection(after_deltas=MID_SECOND, sessions=2)
    assert await _speak(client, SENTENCES)
    assert started == [FLASH] * 3
    assert len(emulator.sessions) == 3


async def test_a_fault_after_the_last_sentence_needs_no_resume(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A drop after every response completed (before session.finished): nothing is missing."""
    emulator.drop_connection(after_deltas=10_000)  # fires before session.finished
    audio = await _speak(client, SENTENCES)
    [session] = emulator.sessions
    assert _completed(session) == len(SENTENCES)
    assert len(audio) == sent_audio_bytes(session)


async def test_a_resumed_session_gets_the_text_still_to_come(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A streaming source still writing when the first session breaks: nothing is lost."""
    emulator.drop_connection(after_deltas=MID_SECOND)
    resumed = asyncio.Event()

    async def llm() -> AsyncIterator[str]:
        """Write two sentences, and the third only once the second session has begun."""
        yield SENTENCES[0]
        yield SENTENCES[1]
        await emulator.wait_for_client_event("session.update", count=2)
        resumed.set()
        yield SENTENCES[2]

    audio = await drain(client.synthesize(FLASH, CONFIG, llm()))

    assert resumed.is_set()
    first, second = emulator.sessions
    assert texts_sent(first) == SENTENCES[:2]
    assert texts_sent(second) == SENTENCES[1:]
    assert len(audio) == sent_audio_bytes(first) + sent_audio_bytes(second)


def test_more_responses_than_commits_claims_no_progress() -> None:
    """If the service ever split a commit into two responses, nothing would be skipped."""
    progress = Progress(spoken=2)
    tracker = ResponseTracker(progress)
    tracker.committed()
    tracker.created("resp_1")
    tracker.done("resp_1", completed=True)
    assert progress.spoken == 3
    tracker.created("resp_2")  # a second response for one commit
    assert progress.spoken == 2  # the session's text is repeated on a resume
    tracker.done("resp_2", completed=True)
    assert progress.spoken == 2


def test_responses_are_keyed_on_their_ids() -> None:
    """Repeated or missing response.created events do not shift the mapping."""
    progress = Progress()
    tracker = ResponseTracker(progress)
    for _ in range(3):
        tracker.committed()
    tracker.created("resp_1")
    tracker.created("resp_1")  # the same response again
    tracker.done("resp_1", completed=True)
    tracker.done(None, completed=True)  # its response.created never came
    assert progress.spoken == 2
    tracker.created("resp_3")
    tracker.done("resp_3", completed=False)  # incomplete: said again on a resume
    assert progress.spoken == 2
