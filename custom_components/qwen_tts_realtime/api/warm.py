"""Warm sessions: one session per key (a voice profile) kept ready, so a request skips connecting.

Without one, a request waits for TCP, TLS, the WebSocket upgrade and
``session.created`` (about four round trips) before its first text goes out. A
warm session has exactly that done ahead: connected, ``session.created``
received, nothing sent. The request that takes it sends its own
``session.update`` and text at once, and a replacement is opened.

* At most one per key. One opens when the key is kept and each time a request
  starts; none is opened again after one expired or died until the next request.
* It is a session to the service: it takes a slot of the account's rate limiter,
  and only a slot that is free at once (it never queues in front of a request).
* Unused for ``idle`` seconds, it is ended with ``session.finish`` like any
  session. The service's own idle limit is undocumented (protocol.md A.10).
* Anything the service sends to an idle warm session (a close, an error) means
  it is no longer warm: it is closed, and the next request connects afresh. A
  warm session that turns out to be gone once taken makes the request start
  again on a fresh connection (``QwenTtsWarmSessionError``), never fail.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

import aiohttp

from .catalog import get_model
from .errors import QwenTtsError
from .realtime import ReadySession, end_session

_LOGGER = logging.getLogger(__name__)

DEFAULT_IDLE = 180.0
# A model whose known limit is below this gets no warm session unless asked for: one
# kept-ready session per request and per idle period is a real share of 10 a minute.
_MIN_RPM = 30


def warm_by_default(model: str) -> bool:
    """Return whether sessions of ``model`` are kept warm unless the user says otherwise."""
    info = get_model(model)
    per_minute = info.requests_per_minute if info else None
    return per_minute is None or per_minute >= _MIN_RPM


class WarmState(StrEnum):
    """Where the warm session of a key stands."""

    OFF = "off"  # the key is not kept warm
    OPENING = "opening"
    READY = "ready"
    COLD = "cold"  # kept, but none ready: the next request opens one


class Cancellable(Protocol):
    """A scheduled call that can be called off (``asyncio.TimerHandle``)."""

    def cancel(self) -> None:
        """Call it off."""


# Opens a session of a model, or returns None when the rate limit has no free slot.
type Opener = Callable[[str], Awaitable[ReadySession | None]]
type Timer = Callable[[float, Callable[[], None]], Cancellable]
type TaskFactory = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


def _call_later(delay: float, callback: Callable[[], None]) -> Cancellable:
    """Schedule ``callback`` on the running loop."""
    return asyncio.get_running_loop().call_later(delay, callback)


def _create_task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Run ``coro`` as a plain asyncio task."""
    return asyncio.create_task(coro, name=name)


@dataclass(slots=True, eq=False)
class _Slot:
    """The warm session of one key and the task that holds it."""

    key: str
    model: str
    state: WarmState = WarmState.COLD
    ready: ReadySession | None = None
    ready_at: float = 0.0
    keeper: asyncio.Task[None] | None = None
    # Why we stopped the keeper (taken, expired, released); None while it runs on.
    stop_reason: str | None = None
    last: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("opened", "taken", "expired", "discarded", "not_opened"), 0
        )
    )

    @property
    def busy(self) -> bool:
        """Tell whether the keeper task is still opening or holding a session."""
        return self.keeper is not None and not self.keeper.done()


class WarmSessions:
    """The warm sessions of one account, by key.

    ``call_later`` (the idle timer), ``create_task`` and ``clock`` are
    injectable: tests expire sessions without waiting, and Home Assistant ties
    the tasks to its config entry.
    """

    def __init__(  # noqa: PLR0913 - each is a seam for tests or Home Assistant
        self,
        opener: Opener,
        *,
        close_timeout: float,
        idle: float = DEFAULT_IDLE,
        call_later: Timer = _call_later,
        create_task: TaskFactory = _create_task,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start with no key kept."""
        self._opener = opener
        self._close_timeout = close_timeout
        self.idle = idle
        self.call_later = call_later
        self.create_task = create_task
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._waiters: dict[str, list[asyncio.Future[WarmState]]] = {}

    def keep(self, key: str, model: str) -> None:
        """Keep a session of ``model`` ready under ``key`` from now on, opening one now.

        A key keeps its model until it is released.
        """
        if key in self._slots:
            return
        self._slots[key] = slot = _Slot(key, model)
        self._open(slot)

    def state(self, key: str) -> WarmState:
        """Return where the warm session of ``key`` stands."""
        slot = self._slots.get(key)
        return slot.state if slot else WarmState.OFF

    def next_change(self, key: str) -> asyncio.Future[WarmState]:
        """Return a future for the next state of ``key`` (for benchmarks and tests)."""
        future: asyncio.Future[WarmState] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        return future

    async def wait_ready(self, key: str) -> bool:
        """Wait while a session of ``key`` is opening; return whether one is ready."""
        while self.state(key) is WarmState.OPENING:
            await self.next_change(key)
        return self.state(key) is WarmState.READY

    def diagnostics(self) -> dict[str, dict[str, Any]]:
        """Return the state, model and counters of every key (no secrets in there)."""
        return {
            key: {
                "model": slot.model,
                "state": slot.state.value,
                "session_id": slot.ready.session_id if slot.ready else None,
                "idle_limit": self.idle,
                "last": slot.last,
                **slot.counts,
            }
            for key, slot in self._slots.items()
        }

    async def take(self, key: str, model: str) -> ReadySession | None:
        """Hand over the ready session of ``key`` if it is one of ``model``, else ``None``."""
        slot = self._slots.get(key)
        if slot is None or slot.model != model or (ready := slot.ready) is None:
            return None
        age = self._age(slot)
        self._stop(slot, "taken")
        # The keeper reads the socket while it waits: it must be gone before the request reads.
        try:
            await self._stopped(slot)
        except BaseException:
            await ready.ws.close()
            raise
        if ready.ws.closed:
            self._note(slot, "discarded", "closed when it was taken", WarmState.COLD)
            return None
        self._note(slot, "taken", f"session {ready.session_id}, ready for {age}", WarmState.COLD)
        return ready

    def replenish(self, key: str) -> None:
        """Open a new warm session for ``key`` unless one is opening or ready."""
        slot = self._slots.get(key)
        if slot is not None and not slot.busy:
            self._open(slot)

    async def release(self, key: str) -> None:
        """Stop keeping ``key`` warm; its session is ended and closed."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self._stop(slot, "released")
        await self._stopped(slot)
        self._note(slot, "released", "", WarmState.OFF)

    async def aclose(self) -> None:
        """Release every key: no task, socket or timer is left."""
        await asyncio.gather(*(self.release(key) for key in list(self._slots)))

    def _open(self, slot: _Slot) -> None:
        """Start the task that opens and holds a warm session."""
        slot.stop_reason = None
        slot.state = WarmState.OPENING
        slot.keeper = self.create_task(self._keep(slot), f"qwen_tts_warm_{slot.key}")

    @staticmethod
    def _stop(slot: _Slot, reason: str) -> None:
        """Stop the keeper (the first reason wins); its session is no longer on offer."""
        if slot.busy and slot.stop_reason is None and slot.keeper is not None:
            slot.stop_reason = reason
            slot.ready = None
            slot.keeper.cancel()

    @staticmethod
    async def _stopped(slot: _Slot) -> None:
        """Wait for the keeper to end."""
        if slot.keeper is not None:
            # wait() rather than await: the keeper's end is not ours to re-raise.
            await asyncio.wait([slot.keeper])

    async def _keep(self, slot: _Slot) -> None:
        """Open a warm session, then hold it until it is taken, expires, dies or is released."""
        try:
            await self._hold(slot)
        except asyncio.CancelledError:
            if slot.stop_reason is None:
                raise  # not ours: the owner (Home Assistant stopping) is cancelling us

    async def _hold(self, slot: _Slot) -> None:
        """Do the work of :meth:`_keep`."""
        try:
            ready = await self._opener(slot.model)
        except QwenTtsError as err:
            self._note(slot, "not_opened", f"{type(err).__name__}: {err}", WarmState.COLD)
            return
        if ready is None:
            self._note(slot, "not_opened", "no free rate-limit slot", WarmState.COLD)
            return
        slot.ready, slot.ready_at = ready, self._clock()
        self._note(slot, "opened", f"session {ready.session_id}", WarmState.READY)
        expiry = self.call_later(self.idle, partial(self._stop, slot, "expired"))
        try:
            message = await ready.ws.receive()
        except asyncio.CancelledError:
            if slot.stop_reason != "taken":  # the request owns the socket now
                await self._end(slot, ready)
            raise
        finally:
            expiry.cancel()
        # The service spoke to a session nobody used: it is not warm any more.
        slot.ready = None
        age = self._age(slot)
        await ready.ws.close()
        self._note(slot, "discarded", f"{_describe(message)} after {age}", WarmState.COLD)

    async def _end(self, slot: _Slot, ready: ReadySession) -> None:
        """End an unused warm session like any other, then close it."""
        reason = slot.stop_reason or "cancelled"
        age = self._age(slot)
        try:
            outcome = await end_session(ready.ws, self._close_timeout, ("session.finish",))
        finally:
            await ready.ws.close()
        if reason == "expired":
            self._note(slot, "expired", f"unused for {age}; {outcome}", WarmState.COLD)
        else:
            _LOGGER.debug("%s: warm session %s %s; %s", slot.key, ready.session_id, reason, outcome)

    def _age(self, slot: _Slot) -> str:
        """Return how long the slot's session has been ready, for the log."""
        return f"{self._clock() - slot.ready_at:.1f} s"

    def _note(self, slot: _Slot, event: str, detail: str, state: WarmState) -> None:
        """Count, log and announce a change of a warm session."""
        if event in slot.counts:
            slot.counts[event] += 1
        slot.last = f"{event}: {detail}" if detail else event
        slot.state = state
        _LOGGER.debug("%s (%s): warm session %s", slot.key, slot.model, slot.last)
        for waiter in self._waiters.pop(slot.key, []):
            if not waiter.done():
                waiter.set_result(state)


def _describe(message: aiohttp.WSMessage) -> str:
    """Say what the service sent to an idle session: the event type and error code only."""
    if message.type is aiohttp.WSMsgType.TEXT:
        try:
            event = json.loads(message.data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return "a frame that is not an event"
        error = event.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return f"{event.get('type')} {code or ''}".strip()
    if message.type is aiohttp.WSMsgType.CLOSE:
        return f"closed by the service (code {message.data})"
    return f"connection {message.type.name.lower()}"
