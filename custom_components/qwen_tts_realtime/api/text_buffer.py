"""The caller's text, kept so that a new session can be sent it again.

The source is read by one pump task, never by a session's writer: cancelling a
failed session's writer must not cancel (and so end) the caller's generator.
The text is kept as the segments a :class:`Segmenter` cuts it into, so that a
session resumed after a fault can start at any segment.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable
from types import TracebackType
from typing import Self

from .segmenter import Segmenter


class TextBuffer:
    """Every segment read so far from a text source, replayable from any segment."""

    def __init__(self, source: AsyncIterable[str], segmenter: Segmenter) -> None:
        """Remember the source; reading starts with :meth:`start`."""
        self._source = source
        self._segmenter = segmenter
        self._segments: list[str] = []
        self._done = False
        self._error: Exception | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading the source in the background."""
        self._task = asyncio.create_task(self._pump(), name="qwen_tts_text_buffer")

    async def __aenter__(self) -> Self:
        """Start reading the source; leaving the block stops it."""
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop reading the source."""
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading the source."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            # wait() rather than await: the pump's CancelledError is not ours.
            await asyncio.wait([self._task])

    @property
    def complete(self) -> bool:
        """Return whether the source ended normally (every segment is known)."""
        return self._done and self._error is None

    def __len__(self) -> int:
        """Return how many segments are known so far."""
        return len(self._segments)

    async def _pump(self) -> None:
        """Cut the source into segments, waking the readers after each new one."""
        try:
            async for chunk in self._source:
                if chunk:
                    self._add(self._segmenter.feed(chunk))
            self._add(self._segmenter.flush())
        except Exception as err:  # noqa: BLE001 - handed to the reader, which re-raises it
            self._error = err
        finally:
            self._done = True
            self._wake()

    def _add(self, segments: list[str]) -> None:
        """Keep new segments and wake the readers."""
        if segments:
            self._segments.extend(segments)
            self._wake()

    def _wake(self) -> None:
        """Wake every reader waiting for more text."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def replay(self, start: int = 0) -> AsyncGenerator[str]:
        """Yield the segments from number ``start`` on: first those buffered, then new ones."""
        index = start
        while True:
            if index < len(self._segments):
                index += 1
                yield self._segments[index - 1]
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            await self._changed.wait()
