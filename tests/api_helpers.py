"""Helpers shared by the client tests: a streaming text source and an audio drain."""

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing


async def texts(chunks: Iterable[str]) -> AsyncIterator[str]:
    """Yield text chunks like a streaming LLM would."""
    for chunk in chunks:
        yield chunk


async def drain(stream: AsyncGenerator[bytes]) -> bytes:
    """Read an audio stream to its end, closing it whatever happens."""
    async with aclosing(stream):
        return b"".join([chunk async for chunk in stream])
