"""Retrying a session that failed before its first audio byte.

Until the first audio byte the listener has heard nothing, so a new session
can start over with all the text (kept in a :class:`TextBuffer`) and nobody
notices. Only failures that a new attempt can cure are retried: throttling,
trouble on the service's side, timeouts and dropped connections. A rejected
key or refused input fails at once.
"""

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from .errors import (
    QwenTtsApiError,
    QwenTtsConnectionError,
    QwenTtsError,
    QwenTtsQuotaError,
    QwenTtsRateLimitError,
)
from .text_buffer import TextBuffer

_LOGGER = logging.getLogger(__name__)

# Error-event codes that mean trouble on the service's side (protocol.md A.10).
_SERVER_CODES = frozenset({"InternalError", "InternalError.Algo", "ServiceUnavailable"})


def is_retryable(err: QwenTtsError) -> bool:
    """Return whether a new session may succeed where this one failed."""
    if isinstance(err, QwenTtsQuotaError):  # a used-up quota stays used up
        return False
    if isinstance(err, QwenTtsRateLimitError | QwenTtsConnectionError):
        return True
    return isinstance(err, QwenTtsApiError) and (
        err.code in _SERVER_CODES or (err.status or 0) >= 500  # noqa: PLR2004 - HTTP 5xx
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry (exponential backoff with full jitter)."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 2.0
    jitter: Callable[[], float] = field(default=random.random, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def delay(self, retry: int) -> float:
        """Return the pause before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        # Half fixed, half random: spread the retries of a burst without ever retrying at once.
        return ceiling * (0.5 + self.jitter() / 2)


async def synthesize_with_retry(
    open_session: Callable[[AsyncIterable[str]], AsyncGenerator[bytes]],
    text: AsyncIterable[str],
    *,
    policy: RetryPolicy,
    budget: float,
    before_attempt: Callable[[], Awaitable[object]],
) -> AsyncGenerator[bytes]:
    """Yield the audio of ``text``, starting a new session while no audio has come yet.

    ``budget`` (the first-audio timeout) bounds the time spent retrying, counted
    from the first failure.
    """
    buffer = TextBuffer(text)
    buffer.start()
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    try:
        for attempt in range(1, policy.attempts + 1):
            await before_attempt()
            audio_started = False
            try:
                async with aclosing(open_session(buffer.replay())) as audio:
                    async for chunk in audio:
                        audio_started = True
                        yield chunk
            except QwenTtsError as err:
                if audio_started or not is_retryable(err) or attempt == policy.attempts:
                    raise
                deadline = deadline or loop.time() + budget
                delay = policy.delay(attempt)
                if loop.time() + delay >= deadline:
                    _LOGGER.debug("No time left to retry after %s", type(err).__name__)
                    raise
                _LOGGER.debug(
                    "Attempt %d failed before any audio (%s: %s); retrying in %.2f s",
                    attempt,
                    type(err).__name__,
                    getattr(err, "code", None) or "-",
                    delay,
                )
                await policy.sleep(delay)
            else:
                return
    finally:
        await buffer.aclose()
