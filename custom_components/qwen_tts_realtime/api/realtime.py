"""One realtime synthesis session: text streams in, audio streams out.

Protocol (protocol.md A): connect with ``?model=``, wait for ``session.created``,
send one ``session.update``, append text as it arrives (in ``commit`` mode one
segment at a time, each committed), send ``session.finish`` and read until
``session.finished`` so the tail of the audio is never lost.

Connecting and waiting for ``session.created`` (:func:`open_session`) is apart
from the rest, so a session can be opened before it is needed (``warm.py``).
"""

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp

from .endpoints import Endpoint
from .errors import (
    QwenTtsApiError,
    QwenTtsConnectionError,
    QwenTtsError,
    QwenTtsProtocolError,
    QwenTtsTimeoutError,
    QwenTtsVoiceNotFoundError,
    QwenTtsWarmSessionError,
    error_from_response,
    rejects_voice,
)
from .responses import Progress, ResponseTracker
from .session_config import Mode, SessionConfig
from .validation import validate_session_config

_LOGGER = logging.getLogger(__name__)

# Handshake statuses and the DashScope codes they stand for (the body is not readable here).
_HANDSHAKE_CODES: dict[int, str] = {
    HTTPStatus.UNAUTHORIZED: "InvalidApiKey",
    HTTPStatus.FORBIDDEN: "AccessDenied",
    HTTPStatus.NOT_FOUND: "Model.NotExist",
    HTTPStatus.TOO_MANY_REQUESTS: "Throttling.RateQuota",
}
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait, in seconds, for each thing the service owes us."""

    connect: float = 10.0
    first_audio: float = 15.0
    gap: float = 10.0
    close: float = 2.0


@dataclass(slots=True)
class SessionStats:
    """Ids and timings of one session, for diagnostics and benchmarks (never any text).

    Times are seconds since the request started (monotonic clock).
    """

    model: str
    started_at: float = field(default_factory=time.time)
    session_id: str | None = None
    response_ids: list[str] = field(default_factory=list)
    connected: float | None = None
    session_created: float | None = None
    first_text_sent: float | None = None
    first_audio: float | None = None
    finished: float | None = None
    characters_sent: int = 0
    audio_bytes: int = 0
    # What the service billed, summed over the responses (``response.done.usage``):
    # characters for the Qwen3 models, tokens for the first-generation model.
    billed_characters: int = 0
    billed_tokens: int = 0
    error: str | None = None
    # The session was opened before the request (a warm session): no connect time was paid.
    warm: bool = False
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def elapsed(self) -> float:
        """Return the seconds since the request started."""
        return round(time.monotonic() - self._t0, 4)

    def as_dict(self) -> dict[str, Any]:
        """Return the public fields as plain data."""
        return {
            "model": self.model,
            "started_at": self.started_at,
            "session_id": self.session_id,
            "response_ids": list(self.response_ids),
            "connected": self.connected,
            "session_created": self.session_created,
            "first_text_sent": self.first_text_sent,
            "first_audio": self.first_audio,
            "finished": self.finished,
            "characters_sent": self.characters_sent,
            "audio_bytes": self.audio_bytes,
            "billed_characters": self.billed_characters,
            "billed_tokens": self.billed_tokens,
            "first_audio_after_text": self.first_audio_after_text,
            "warm": self.warm,
            "error": self.error,
        }

    def add_usage(self, response: object) -> None:
        """Add the usage a ``response.done`` reports; a missing or odd usage counts nothing.

        Qwen3 models report ``{"characters": n}``, the first-generation model
        ``{"total_tokens": n, ...}`` (protocol.md A.5).
        """
        usage = response.get("usage") if isinstance(response, dict) else None
        if not isinstance(usage, dict):
            return
        for key, field_name in (
            ("characters", "billed_characters"),
            ("total_tokens", "billed_tokens"),
        ):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                setattr(self, field_name, getattr(self, field_name) + value)

    @property
    def first_audio_after_text(self) -> float | None:
        """Return the seconds from the first text sent to the first audio (the SDK's metric)."""
        if self.first_audio is None or self.first_text_sent is None:
            return None
        return round(self.first_audio - self.first_text_sent, 4)


def _event(event_type: str, **fields: Any) -> str:
    """Serialise a client event with a fresh id, as the official SDKs do."""
    return json.dumps({"event_id": f"event_{uuid.uuid4().hex}", "type": event_type, **fields})


async def _connect(
    http: aiohttp.ClientSession, url: str, api_key: str, timeouts: Timeouts
) -> aiohttp.ClientWebSocketResponse:
    """Open the WebSocket, mapping handshake failures to our exceptions."""
    try:
        async with asyncio.timeout(timeouts.connect):
            return await http.ws_connect(
                url,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=aiohttp.ClientWSTimeout(ws_close=timeouts.close),
                autoping=True,
            )
    except aiohttp.WSServerHandshakeError as err:
        code = _HANDSHAKE_CODES.get(err.status, f"HTTP{err.status}")
        if err.status >= HTTPStatus.INTERNAL_SERVER_ERROR:  # trouble on their side, not ours
            raise QwenTtsConnectionError(f"Handshake failed with HTTP {err.status}") from err
        # aiohttp's message ("Invalid response status") would mean nothing to a user.
        raise error_from_response(
            code, f"The service refused the connection (HTTP {err.status})", err.status
        ) from err
    except TimeoutError as err:
        raise QwenTtsTimeoutError("Timed out connecting to the realtime service") from err
    except (aiohttp.ClientError, OSError) as err:
        raise QwenTtsConnectionError(f"Cannot connect: {err}") from err


def _parse(message: aiohttp.WSMessage) -> dict[str, Any]:
    """Decode one server frame into an event, or raise for anything else."""
    if message.type is aiohttp.WSMsgType.TEXT:
        try:
            event = json.loads(message.data)
        except ValueError as err:
            raise QwenTtsProtocolError("The service sent a frame that is not JSON") from err
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise QwenTtsProtocolError("The service sent an event without a type")
        return event
    if message.type is aiohttp.WSMsgType.ERROR:
        raise QwenTtsConnectionError(f"Connection error: {message.data}")
    if message.type in _CLOSED:
        raise QwenTtsConnectionError("The connection closed before the session finished")
    raise QwenTtsProtocolError(f"Unexpected {message.type.name} frame")


def _response_id(event: dict[str, Any]) -> str | None:
    """Return the id of the response a ``response.*`` event is about, if it says."""
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("id"), str):
        return str(response["id"])
    response_id = event.get("response_id")
    return response_id if isinstance(response_id, str) else None


def _response_status(event: dict[str, Any]) -> str | None:
    """Return the status of a ``response.done`` event, if it has one."""
    response = event.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    return status if isinstance(status, str) else None


def _raise_error_event(event: dict[str, Any]) -> None:
    """Turn a server ``error`` event into the matching exception."""
    error = event.get("error")
    details = error if isinstance(error, dict) else {}
    param = details.get("param")
    raise error_from_response(
        str(details.get("code") or "error"),
        str(details.get("message") or "Unknown error"),
        param=param if isinstance(param, str) else None,
    )


async def _session_created(
    ws: aiohttp.ClientWebSocketResponse, timeouts: Timeouts
) -> dict[str, Any]:
    """Return the ``session.created`` event the service greets a new connection with."""
    try:
        async with asyncio.timeout(timeouts.connect):
            created = _parse(await ws.receive())
    except TimeoutError as err:
        raise QwenTtsTimeoutError("The service did not start the session in time") from err
    if created["type"] == "error":
        _raise_error_event(created)
    if created["type"] != "session.created":
        raise QwenTtsProtocolError(f"Expected session.created, got {created['type']}")
    return created


@dataclass(frozen=True, slots=True)
class ReadySession:
    """A connected session that announced ``session.created`` and was sent nothing yet."""

    ws: aiohttp.ClientWebSocketResponse
    model: str
    session_id: str | None


# How a request gets its ready session: a warm one, or a fresh connection (stats filled in).
type SessionOpener = Callable[[SessionStats], Awaitable[ReadySession]]


async def open_session(  # noqa: PLR0913 - connecting needs all of these
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    api_key: str,
    *,
    model: str,
    timeouts: Timeouts,
    stats: SessionStats | None = None,
) -> ReadySession:
    """Connect and wait for ``session.created``; the socket is closed if anything fails.

    ``stats`` (a request's) records the timings; a warm session has none.
    """
    ws = await _connect(http, str(endpoint.realtime_url(model)), api_key, timeouts)
    try:
        if stats is not None:
            stats.connected = stats.elapsed()
        created = await _session_created(ws, timeouts)
    except BaseException:
        await ws.close()
        raise
    info = created.get("session")
    session_id = info.get("id") if isinstance(info, dict) else None
    ready = ReadySession(ws, model, session_id if isinstance(session_id, str) else None)
    if stats is not None:
        stats.session_id = ready.session_id
        stats.session_created = stats.elapsed()
        _LOGGER.debug(
            "%s: session %s created %.3f s after the request",
            model,
            ready.session_id,
            stats.session_created,
        )
    return ready


async def end_session(
    ws: aiohttp.ClientWebSocketResponse,
    within: float,
    events: tuple[str, ...],
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """Send ``events``, then read until ``session.finished``; return how it ended, for the log.

    Bounded by ``within`` seconds; audio still arriving is dropped (``on_event``
    sees every event). Never raises for a broken session: the socket is closed
    right after in any case.
    """
    try:
        async with asyncio.timeout(within):
            for event_type in events:
                await ws.send_str(_event(event_type))
            while (event := _parse(await ws.receive()))["type"] != "session.finished":
                if on_event is not None:
                    on_event(event)
                if event["type"] == "error":
                    error = event.get("error")
                    code = error.get("code") if isinstance(error, dict) else None
                    return f"error {code or '-'}"
    except TimeoutError:
        return f"no session.finished within {within} s"
    except (QwenTtsError, aiohttp.ClientError, ConnectionError) as err:
        return f"{type(err).__name__}: {err}"
    return "session.finished"


class _Session:
    """The state of one open session, shared by the text writer and the audio reader."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        stats: SessionStats,
        timeouts: Timeouts,
        tracker: ResponseTracker | None,
    ) -> None:
        """Start with nothing sent and nothing owed."""
        self._ws = ws
        self._stats = stats
        self._timeouts = timeouts
        self._tracker = tracker
        self._finish_sent = False
        self._response_open = False
        self._writer_error: BaseException | None = None
        self._pending_timeout: asyncio.Timeout | None = None
        # Whether the service has said anything but an error since session.update.
        self.answered = False

    async def write(self, text: AsyncIterable[str], mode: Mode) -> None:
        """Append the segments as they arrive (committing each in commit mode), then finish.

        A failure of the text source closes the socket so the reader stops and
        re-raises it; a failed send just ends the writer, the reader reports why.
        """
        try:
            async for segment in text:
                if self._stats.first_text_sent is None:
                    self._stats.first_text_sent = self._stats.elapsed()
                self._stats.characters_sent += len(segment)
                await self._ws.send_str(_event("input_text_buffer.append", text=segment))
                if mode == "commit":
                    if self._tracker is not None:
                        self._tracker.committed()
                    await self._ws.send_str(_event("input_text_buffer.commit"))
                    self._start_clock()
            await self._ws.send_str(_event("session.finish"))
            self._finish_sent = True
            self._start_clock()
        except (aiohttp.ClientError, ConnectionError) as err:
            _LOGGER.debug("Stopped sending text: %s", err)
        except Exception as err:  # noqa: BLE001 - the reader re-raises it
            self._writer_error = err
            await self._ws.close()

    def _receive_deadline(self) -> float | None:
        """Return until when the service may stay silent, or ``None`` when it owes nothing.

        While the text source is still producing and no response is open the
        service may rightly wait for more text (an LLM can pause for seconds),
        unless a commit is still unanswered: every commit is owed a response.
        """
        unanswered = self._tracker is not None and self._tracker.unanswered
        if not (self._finish_sent or self._response_open or unanswered):
            return None
        budget = (
            self._timeouts.first_audio if self._stats.first_audio is None else self._timeouts.gap
        )
        return asyncio.get_running_loop().time() + budget

    def _start_clock(self) -> None:
        """Arm the pending receive's timeout once the service starts to owe us audio."""
        if self._pending_timeout is not None and self._pending_timeout.when() is None:
            self._pending_timeout.reschedule(self._receive_deadline())

    async def _receive(self) -> dict[str, Any]:
        """Receive the next event within the current deadline."""
        try:
            async with asyncio.timeout_at(self._receive_deadline()) as pending:
                self._pending_timeout = pending
                try:
                    message = await self._ws.receive()
                finally:
                    self._pending_timeout = None
        except TimeoutError:
            raise QwenTtsTimeoutError("The service stopped sending audio") from None
        if message.type in _CLOSED and self._writer_error is not None:
            raise self._writer_error
        return _parse(message)

    async def read(self) -> AsyncGenerator[bytes]:
        """Yield decoded audio until ``session.finished``."""
        while True:
            event = await self._receive()
            self.answered = self.answered or event["type"] != "error"
            match event["type"]:
                case "response.audio.delta":
                    audio = self._decode_delta(event)
                    if self._stats.first_audio is None:
                        self._stats.first_audio = self._stats.elapsed()
                        _LOGGER.debug(
                            "Session %s: first audio %.3f s after the request, %s s after"
                            " the first text",
                            self._stats.session_id,
                            self._stats.first_audio,
                            self._stats.first_audio_after_text,
                        )
                    self._stats.audio_bytes += len(audio)
                    yield audio
                case "response.created":
                    self._response_open = True
                    response_id = _response_id(event)
                    if response_id is not None:
                        self._stats.response_ids.append(response_id)
                    if self._tracker is not None:
                        self._tracker.created(response_id)
                case "response.done":
                    self._on_response_done(event)
                case "session.finished":
                    self._stats.finished = self._stats.elapsed()
                    return
                case "error":
                    _raise_error_event(event)
                case _:
                    # Lifecycle events (session.updated, output_item.*, content_part.*,
                    # committed, ...) carry nothing we need; unknown ones are future additions.
                    pass

    def _on_response_done(self, event: dict[str, Any]) -> None:
        """Note a finished response (and the segment it completed); raise if it failed."""
        self._response_open = False
        self._stats.add_usage(event.get("response"))
        status = _response_status(event)
        if self._tracker is not None:
            self._tracker.done(_response_id(event), completed=status in {None, "completed"})
        _LOGGER.debug(
            "Session %s: response %d %s at %.3f s",
            self._stats.session_id,
            len(self._stats.response_ids),
            status or "done",
            self._stats.elapsed(),
        )
        self._check_response_status(event)

    async def end_early(self) -> None:
        """End a session whose caller stopped listening, the way the service expects.

        Closing the socket mid-session is counted as a failed session in the
        account's console (protocol.md G "Graceful close"). What we send is what
        the service documents (A.4): ``input_text_buffer.clear`` drops text not yet
        committed, so nobody pays for speech no one will hear, and
        ``session.finish`` ends the session: the service completes the response in
        progress, says ``session.finished`` and closes (A.3). ``response.cancel``
        would cut that response short, but it is absent from the server
        documentation (A.4.6, E.11): an unknown event could itself end as an error.
        We wait at most the close timeout, so a stopped caller is never held up
        longer than that.
        """
        events = () if self._finish_sent else ("input_text_buffer.clear", "session.finish")
        outcome = await end_session(self._ws, self._timeouts.close, events, self._on_late_event)
        _LOGGER.debug("Session %s: caller stopped early; %s", self._stats.session_id, outcome)

    def _on_late_event(self, event: dict[str, Any]) -> None:
        """Count the usage of responses that end after the caller stopped: they are billed too."""
        if event["type"] == "response.done":
            self._stats.add_usage(event.get("response"))

    @staticmethod
    def _decode_delta(event: dict[str, Any]) -> bytes:
        """Decode the base64 audio of a delta event."""
        delta = event.get("delta")
        if not isinstance(delta, str):
            raise QwenTtsProtocolError("Audio delta without data")
        try:
            return base64.b64decode(delta, validate=True)
        except binascii.Error as err:
            raise QwenTtsProtocolError("Audio delta is not base64") from err

    @staticmethod
    def _check_response_status(event: dict[str, Any]) -> None:
        """Raise when a response ended as ``failed`` (its audio is incomplete)."""
        response = event.get("response")
        if isinstance(response, dict) and response.get("status") == "failed":
            details = response.get("status_details")
            error = details.get("error") if isinstance(details, dict) else None
            _raise_error_event({"error": error or {"code": "response_failed"}})


async def stream_speech(  # noqa: PLR0913 - one session needs all of these
    open_socket: SessionOpener,
    *,
    model: str,
    config: SessionConfig,
    text: AsyncIterable[str],
    timeouts: Timeouts,
    stats: SessionStats,
    progress: Progress | None = None,
) -> AsyncGenerator[bytes]:
    """Synthesize ``text`` (which may still be being written) and yield audio as it comes.

    ``open_socket`` is called once the settings passed the local checks.
    ``text`` is a stream of segments, each one append (and, in commit mode, one
    commit). With ``progress`` (commit mode) the session counts the segments its
    completed responses spoke, starting at ``progress.spoken``.
    The audio is in ``config.response_format``. Closing or cancelling the
    iterator stops the writer and ends the session (see ``_Session.end_early``).
    """
    ready: ReadySession | None = None
    session: _Session | None = None
    writer: asyncio.Task[None] | None = None
    stopped_early = False
    try:
        validate_session_config(model, config)
        ready = await open_socket(stats)
        tracker = ResponseTracker(progress) if progress is not None else None
        session = _Session(ready.ws, stats, timeouts, tracker)
        await ready.ws.send_str(_event("session.update", session=config.to_wire()))
        writer = asyncio.create_task(session.write(text, config.mode), name="qwen_tts_text_writer")
        async with aclosing(session.read()) as audio_stream:
            async for audio in audio_stream:
                yield audio
    except GeneratorExit, asyncio.CancelledError:
        stopped_early = True
        raise
    except (QwenTtsError, aiohttp.ClientError) as err:
        failure = _failure(
            err, stats, answered=session is not None and session.answered, voice=config.voice
        )
        if failure is err:
            raise
        raise failure from err
    finally:
        if writer is not None and not writer.done():
            writer.cancel()
            # wait() rather than await: the writer's CancelledError must not be taken
            # for a cancellation of this task.
            await asyncio.wait([writer])
        if ready is not None:
            if stopped_early and session is not None and stats.finished is None:
                await session.end_early()
            await ready.ws.close()
        _log_closed(model, stats)


def _failure(err: Exception, stats: SessionStats, *, answered: bool, voice: str) -> Exception:
    """Record why a session failed and return the exception to raise.

    A warm session that fails before the service answered anything was already
    gone when it was taken (an idle limit, a restart on their side): that says
    nothing about the request, which starts again on a fresh connection.
    """
    failure: Exception
    if isinstance(err, QwenTtsError):
        # Diagnostics show why the last sessions failed: the server's code, else our reason.
        stats.error = getattr(err, "code", None) or getattr(err, "reason", type(err).__name__)
        failure = err
        if isinstance(err, QwenTtsApiError) and rejects_voice(err, voice):
            # A deleted cloned voice is refused as a plain invalid value; say what it is.
            failure = QwenTtsVoiceNotFoundError(
                err.code, err.server_message, status=err.status, param=err.param
            )
    else:
        stats.error = type(err).__name__
        failure = QwenTtsConnectionError(f"Connection failed: {err}")
    if stats.warm and not answered:
        return QwenTtsWarmSessionError(f"The warm session was gone ({stats.error})")
    return failure


def _log_closed(model: str, stats: SessionStats) -> None:
    """Tell the session's end in the debug log: ids, timings and the error code only."""
    # Never the text, never the key.
    _LOGGER.debug(
        "%s: session %s closed (%s): %s, first audio %s s, %d responses, "
        "%d audio bytes, %d characters",
        model,
        stats.session_id,
        stats.error or ("finished" if stats.finished is not None else "closed early"),
        "warm" if stats.warm else f"connected {stats.connected} s",
        stats.first_audio,
        len(stats.response_ids),
        stats.audio_bytes,
        stats.characters_sent,
    )
