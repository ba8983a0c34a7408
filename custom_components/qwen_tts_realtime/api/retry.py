"""Retrying a session that failed before its first audio byte, resuming one that failed later.

Until the first audio byte the listener has heard nothing, so a new session
can start over with all the text (kept in a :class:`TextBuffer`) and nobody
notices. Only failures that a new attempt can cure are retried: throttling,
trouble on the service's side, timeouts and dropped connections. A rejected
key or refused input fails at once.

Once audio has started, a session that breaks (the same failures, or a frame
the protocol does not allow) is resumed: a new session starts at the first
segment whose response did not complete (see :mod:`.responses`), so the
listener hears the whole message and at most that segment twice. This needs
``commit`` mode; a request may be resumed :data:`MAX_RESUMES` times.
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
    QwenTtsProtocolError,
    QwenTtsQuotaError,
    QwenTtsRateLimitError,
    QwenTtsWarmSessionError,
)
from .responses import Progress
from .segmenter import Segmenter
from .text_buffer import TextBuffer

_LOGGER = logging.getLogger(__name__)

# Error-event codes that mean trouble on the service's side (protocol.md A.10).
_SERVER_CODES = frozenset({"InternalError", "InternalError.Algo", "ServiceUnavailable"})
# New sessions a request may open after its audio has started; a service that breaks
# more often than this is not going to finish the message.
MAX_RESUMES = 3

type SessionOpener = Callable[[AsyncIterable[str], Progress | None], AsyncGenerator[bytes]]


def is_retryable(err: QwenTtsError) -> bool:
    """Return whether a new session may succeed where this one failed."""
    if isinstance(err, QwenTtsQuotaError):  # a used-up quota stays used up
        return False
    if isinstance(err, QwenTtsRateLimitError | QwenTtsConnectionError):
        return True
    return isinstance(err, QwenTtsApiError) and (
        err.code in _SERVER_CODES or (err.status or 0) >= 500  # noqa: PLR2004 - HTTP 5xx
    )


def is_resumable(err: QwenTtsError) -> bool:
    """Return whether a session that broke after its first audio may be continued by another.

    A garbled frame is worth a new session once audio flows: the alternative is
    a message cut short.
    """
    return is_retryable(err) or isinstance(err, QwenTtsProtocolError)


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


async def synthesize_with_retry(  # noqa: PLR0913 - the request's whole policy
    open_session: SessionOpener,
    text: AsyncIterable[str],
    *,
    policy: RetryPolicy,
    budget: float,
    segmenter: Segmenter,
    resume: bool,
) -> AsyncGenerator[bytes]:
    """Yield the audio of ``text``, starting a new session when one fails.

    Before the first audio a session is retried with all the text; ``budget``
    (the first-audio timeout) bounds the time spent retrying, counted from the
    first failure. After it, with ``resume`` (commit mode), a new session picks
    up at the first segment not yet spoken completely. ``open_session`` waits
    for the rate limit. A warm session found gone is no failure: a fresh one
    starts at once and no attempt is used (``open_session`` offers a warm
    session to the first attempt only).
    """
    buffer = TextBuffer(text, segmenter)
    buffer.start()
    progress = Progress() if resume else None
    retries = _Retries(policy, budget)
    resumes = 0
    audio_started = False
    try:
        while True:
            try:
                start = progress.spoken if progress is not None else 0
                async with aclosing(open_session(buffer.replay(start), progress)) as audio:
                    async for chunk in audio:
                        audio_started = True
                        yield chunk
            except QwenTtsWarmSessionError as err:
                _LOGGER.debug("%s; starting a fresh session", err)
                continue
            except QwenTtsError as err:
                if not audio_started:
                    await retries.pause_or_raise(err)
                    continue
                if progress is None or not is_resumable(err) or resumes == MAX_RESUMES:
                    raise
                if buffer.complete and progress.spoken == len(buffer):
                    _LOGGER.debug(
                        "The session broke after the last segment was spoken: nothing to resume"
                    )
                    return
                resumes += 1
                _LOGGER.debug(
                    "Resume %d of %d after %s (%s): from segment %d of %s",
                    resumes,
                    MAX_RESUMES,
                    type(err).__name__,
                    getattr(err, "code", None) or "-",
                    progress.spoken + 1,
                    len(buffer) if buffer.complete else "more to come",
                )
                await policy.sleep(policy.delay(resumes))
            else:
                return
    finally:
        await buffer.aclose()


class _Retries:
    """The retries of a request that has not heard any audio yet."""

    def __init__(self, policy: RetryPolicy, budget: float) -> None:
        """Start with no attempt failed."""
        self._policy = policy
        self._budget = budget
        self._attempt = 0
        self._deadline: float | None = None

    async def pause_or_raise(self, err: QwenTtsError) -> None:
        """Wait before the next attempt, or re-raise ``err`` if there is none to make."""
        self._attempt += 1
        if not is_retryable(err) or self._attempt >= self._policy.attempts:
            raise err
        loop = asyncio.get_running_loop()
        self._deadline = self._deadline or loop.time() + self._budget
        delay = self._policy.delay(self._attempt)
        if loop.time() + delay >= self._deadline:
            _LOGGER.debug("No time left to retry after %s", type(err).__name__)
            raise err
        _LOGGER.debug(
            "Attempt %d failed before any audio (%s: %s); retrying in %.2f s",
            self._attempt,
            type(err).__name__,
            getattr(err, "code", None) or "-",
            delay,
        )
        await self._policy.sleep(delay)
