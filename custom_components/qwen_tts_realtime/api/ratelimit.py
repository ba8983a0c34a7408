"""A per-account, per-model limit on how many sessions start per minute.

DashScope counts WebSocket sessions per Alibaba Cloud account and per model
(protocol.md G "Rate limits"); one more than the catalogue's RPM in a minute is
answered with HTTP 429. Waiting for a free slot here costs the caller a delay
instead of an announcement.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

_LOGGER = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0


class RateLimiter:
    """A sliding one-minute window of session starts per model, for one account.

    ``clock`` and ``sleep`` are injectable so the limiter can be tested without
    real waiting.
    """

    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Start with no session counted."""
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: dict[str, deque[float]] = {}

    async def acquire(self, model: str, per_minute: int | None) -> float:
        """Wait until one more session of ``model`` may start; return the seconds waited.

        ``per_minute`` of ``None`` (a model without a known limit) never waits.
        """
        waited = 0.0
        while (delay := self._take_slot(model, per_minute)) > 0:
            _LOGGER.debug(
                "%s: %d sessions started in the last %.0f s (limit %s), waiting %.1f s",
                model,
                len(self._starts[model]),
                self._window,
                per_minute,
                delay,
            )
            await self._sleep(delay)
            waited += delay
        return waited

    def try_acquire(self, model: str, per_minute: int | None) -> bool:
        """Count one more session of ``model`` if it may start now; never wait.

        For sessions nobody waits for (a warm session): they must not queue up
        in front of a request.
        """
        return self._take_slot(model, per_minute) == 0

    def _take_slot(self, model: str, per_minute: int | None) -> float:
        """Count a session start if the window has room and return 0, else the wait for room."""
        if per_minute is None:
            return 0.0
        starts = self._starts.setdefault(model, deque())
        now = self._clock()
        while starts and starts[0] <= now - self._window:
            starts.popleft()
        # No await between this check and the append: concurrent callers cannot both take
        # the last slot.
        if len(starts) < per_minute:
            starts.append(now)
            return 0.0
        return starts[0] + self._window - now
