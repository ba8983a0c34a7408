"""The caller's text, kept so that a new session can be sent all of it again.

The source is read by one pump task, never by a session's writer: cancelling a
failed session's writer must not cancel (and so end) the caller's generator.
"""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator


class TextBuffer:
    """Every chunk read so far from a text source, replayable from the start."""

    def __init__(self, source: AsyncIterable[str]) -> None:
        """Remember the source; reading starts with :meth:`start`."""
        self._source = source
        self._chunks: list[str] = []
        self._done = False
        self._error: Exception | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading the source in the background."""
        self._task = asyncio.create_task(self._pump(), name="qwen_tts_text_buffer")

    async def aclose(self) -> None:
        """Stop reading the source."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            # wait() rather than await: the pump's CancelledError is not ours.
            await asyncio.wait([self._task])

    async def _pump(self) -> None:
        """Copy the source into the buffer, waking the readers after each chunk."""
        try:
            async for chunk in self._source:
                if chunk:
                    self._chunks.append(chunk)
                    self._wake()
        except Exception as err:  # noqa: BLE001 - handed to the reader, which re-raises it
            self._error = err
        finally:
            self._done = True
            self._wake()

    def _wake(self) -> None:
        """Wake every reader waiting for more text."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def replay(self) -> AsyncIterator[str]:
        """Yield all the text: first what is buffered, then what comes."""
        index = 0
        while True:
            if index < len(self._chunks):
                index += 1
                yield self._chunks[index - 1]
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            await self._changed.wait()
