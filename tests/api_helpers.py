"""Helpers shared by the client tests: a text source, an audio drain, what a session got."""

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing

import aiohttp

from custom_components.qwen_tts_realtime.api import (
    Endpoint,
    QwenTtsClient,
    RetryPolicy,
    Timeouts,
)

from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, SessionRecord


async def texts(chunks: Iterable[str]) -> AsyncIterator[str]:
    """Yield text chunks like a streaming LLM would."""
    for chunk in chunks:
        yield chunk


async def drain(stream: AsyncGenerator[bytes]) -> bytes:
    """Read an audio stream to its end, closing it whatever happens."""
    async with aclosing(stream):
        return b"".join([chunk async for chunk in stream])


def quick_client(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> QwenTtsClient:
    """Return a client that retries without pausing, with short gaps for the stall tests."""
    client = QwenTtsClient(
        http,
        API_KEY,
        Endpoint.from_base_url(emulator.base_url),
        timeouts=Timeouts(connect=5, first_audio=5, gap=0.5, close=0.5),
    )
    client.retry = RetryPolicy(base_delay=0)
    return client


def texts_sent(session: SessionRecord) -> list[str]:
    """Return the texts a session was sent, append by append."""
    return [event["text"] for event in session.received if "text" in event]


def broken_response_bytes(session: SessionRecord) -> int:
    """Return the audio bytes a session sent after its last completed response."""
    done = max(
        index
        for index, event in enumerate(session.sent)
        if event["type"] == "response.done" and event["response"]["status"] == "completed"
    )
    return sum(
        event["delta"] for event in session.sent[done:] if event["type"] == "response.audio.delta"
    )
