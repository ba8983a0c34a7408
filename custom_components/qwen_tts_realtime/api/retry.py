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

type SessionOpener = Callable[
    [AsyncIterable[str], Progress | None, "OpeningBudget | None"], AsyncGenerator[bytes]
]

# A retry with less time than this left to connect cannot succeed: fail at once instead.
_MIN_CONNECT = 0.05


class OpeningBudget:
    """The time a request may spend retrying before its first audio, connects included.

    The clock starts at the first failure, or, when that failure was a connect
    that never opened, when that connect began; every retry then connects within
    what is left. So a connection that times out is retried with the rest of
    the budget, not with a fresh timeout of its own: four hanging connects take
    the first-audio timeout, not four connect timeouts. Time the caller's text
    source takes (an LLM thinking) never counts.
    """

    def __init__(self, seconds: float) -> None:
        """Start with the clock not running and no connect under way."""
        self._seconds = seconds
        self._deadline: float | None = None
        self._connecting_since: float | None = None

    def connect_timeout(self, usual: float) -> float:
        """Note that an attempt starts to connect; return how long it may take."""
        now = asyncio.get_running_loop().time()
        self._connecting_since = now
        if self._deadline is None:
            return usual
        return max(0.0, min(usual, self._deadline - now))

    def opened(self) -> None:
        """Note that the attempt's session is open (a later failure starts the clock then)."""
        self._connecting_since = None

    def allows(self, delay: float) -> bool:
        """Start the clock if it is not running; tell whether a retry after ``delay`` has time."""
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            since = now if self._connecting_since is None else self._connecting_since
            self._deadline = since + self._seconds
        return now + delay + _MIN_CONNECT < self._deadline


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

    Before the first audio a session is retried with all the text; ``budget`` (the first-audio
    timeout) bounds the retries, connects included: ``open_session`` gets the
    :class:`OpeningBudget` to connect within (``None`` once audio has come). After it,
    with ``resume`` (commit mode), a new session picks up at the first segment not yet spoken
    completely. ``open_session`` waits for the rate limit. A warm session found gone is no
    failure: a fresh one starts at once and no attempt is used (``open_session`` offers a warm
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
                opening = None if audio_started else retries.budget
                opened = open_session(buffer.replay(start), progress, opening)
                async with aclosing(opened) as audio:
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
        self.budget = OpeningBudget(budget)
        self._attempt = 0

    async def pause_or_raise(self, err: QwenTtsError) -> None:
        """Wait before the next attempt, or re-raise ``err`` if there is none to make."""
        self._attempt += 1
        if not is_retryable(err) or self._attempt >= self._policy.attempts:
            raise err
        delay = self._policy.delay(self._attempt)
        if not self.budget.allows(delay):
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
