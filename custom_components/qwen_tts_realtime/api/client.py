"""The client: one API key on one endpoint, for synthesis, voice cloning and voice design."""

import itertools
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from contextlib import aclosing
from dataclasses import replace
from functools import partial

import aiohttp

from .catalog import DESIGNED_VOICE_PREFIX, VoiceKind, get_model
from .design import (
    DESIGN_MODEL,
    PREVIEW_FORMAT,
    PREVIEW_SAMPLE_RATE,
    DesignedVoice,
    parse_preview,
    validate_design,
)
from .endpoints import Endpoint
from .enrollment import (
    _MAX_PAGES,
    ENROLLMENT_MODEL,
    LIST_PAGE_SIZE,
    EnrolledVoice,
    parse_voice,
    post_action,
    validate_create,
)
from .errors import QwenTtsApiError, QwenTtsProtocolError, QwenTtsRateLimitError
from .ratelimit import RateLimiter
from .realtime import ReadySession, SessionStats, Timeouts, open_session, stream_speech
from .responses import Progress
from .retry import OpeningBudget, RetryPolicy, synthesize_with_retry
from .segmenter import Segmenter
from .session_config import SessionConfig
from .warm import WarmSessions

_LOGGER = logging.getLogger(__name__)

LIST_TIMEOUT = 15.0
# Uploading a 10 MB recording and analysing it takes a while (designing one, too).
CREATE_TIMEOUT = 120.0
# The customization model that owns each kind of custom voice.
_CUSTOMIZATION_MODELS = {VoiceKind.CLONED: ENROLLMENT_MODEL, VoiceKind.DESIGNED: DESIGN_MODEL}


class QwenTtsClient:
    """Talks to DashScope on behalf of one account; the aiohttp session is the caller's."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        endpoint: Endpoint,
        *,
        timeouts: Timeouts | None = None,
        history_size: int = 10,
    ) -> None:
        """Keep the connection details; nothing is sent until a method is called.

        One client is one account, so its rate limiter is the account's, and
        so are its warm sessions (``warm.keep(key, model)`` to have one ready,
        ``warm.idle`` for how long it waits unused; ``aclose()`` ends them).
        """
        self._http = session
        self._api_key = api_key
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self.retry = RetryPolicy()
        self.rate_limiter = RateLimiter()
        self._history: deque[SessionStats] = deque(maxlen=history_size)
        self._unlisted: frozenset[VoiceKind] = frozenset()
        self.warm = WarmSessions(self._open_warm, close_timeout=self.timeouts.close)

    @property
    def recent_sessions(self) -> list[SessionStats]:
        """Return the stats of the last sessions, oldest first."""
        return list(self._history)

    def synthesize(
        self,
        model: str,
        config: SessionConfig,
        text: AsyncIterable[str],
        *,
        warm: str | None = None,
        on_session_end: Callable[[SessionStats], None] | None = None,
    ) -> AsyncGenerator[bytes]:
        """Stream ``text`` into a realtime session and yield its audio as it arrives.

        ``warm`` is a key kept with ``warm.keep``: its ready session is used if
        there is one, and a replacement is opened. A session that fails before
        its first audio byte is retried on a fresh connection, one that fails
        later is resumed in commit mode (see ``retry``); each fresh start waits
        for the model's rate limit. Close the generator (``contextlib.aclosing``)
        to end the session at once. ``on_session_end`` gets the stats of every
        session the request opened, as each one closes (usage, first audio, error).
        """
        commit = config.mode == "commit"
        attempts = itertools.count()
        return synthesize_with_retry(
            # Only the first session may be the warm one: retries and resumes start fresh.
            lambda replay, progress, budget: self._session(
                model,
                config,
                replay,
                progress,
                warm=warm if next(attempts) == 0 else None,
                budget=budget,
                on_end=on_session_end,
            ),
            text,
            policy=self.retry,
            budget=self.timeouts.first_audio,
            segmenter=Segmenter(boundaries=commit),
            resume=commit,
        )

    async def aclose(self) -> None:
        """End and close the warm sessions (the aiohttp session is the caller's)."""
        await self.warm.aclose()

    async def _session(  # noqa: PLR0913 - a session, where it resumes, and what to report
        self,
        model: str,
        config: SessionConfig,
        text: AsyncIterable[str],
        progress: Progress | None,
        *,
        warm: str | None,
        budget: OpeningBudget | None,
        on_end: Callable[[SessionStats], None] | None,
    ) -> AsyncGenerator[bytes]:
        """Run one session, recording its stats in the history and reporting them at its end."""
        stats = SessionStats(model=model)
        self._history.append(stats)
        session = stream_speech(
            partial(self._open, model, warm, budget),
            model=model,
            config=config,
            text=text,
            timeouts=self.timeouts,
            stats=stats,
            progress=progress,
        )
        try:
            async with aclosing(session) as audio:
                async for chunk in audio:
                    yield chunk
        finally:
            if on_end is not None:
                on_end(stats)

    async def _open(
        self, model: str, warm: str | None, budget: OpeningBudget | None, stats: SessionStats
    ) -> ReadySession:
        """Take the warm session of ``warm`` if one is ready, else wait for the limit and connect.

        The replacement is asked for only after this request has its rate-limit
        slot, so a warm session never makes a request wait. A retry connects
        within what is left of the request's ``budget``.
        """
        ready = await self.warm.take(warm, model) if warm is not None else None
        if ready is None:
            await self.rate_limiter.acquire(model, _per_minute(model))
        if warm is not None:
            self.warm.replenish(warm)
        if ready is not None:
            stats.warm = True
            stats.session_id = ready.session_id
            return ready
        timeouts = self.timeouts
        if budget is not None:
            timeouts = replace(timeouts, connect=budget.connect_timeout(timeouts.connect))
        ready = await open_session(
            self._http,
            self.endpoint,
            self._api_key,
            model=model,
            timeouts=timeouts,
            stats=stats,
        )
        if budget is not None:
            budget.opened()
        return ready

    async def _open_warm(self, model: str) -> ReadySession | None:
        """Open a session ahead of any request, if the rate limit has a slot free right now."""
        if not self.rate_limiter.try_acquire(model, _per_minute(model)):
            return None
        return await open_session(
            self._http, self.endpoint, self._api_key, model=model, timeouts=self.timeouts
        )

    async def validate_key(self) -> None:
        """Make the cheapest authenticated call (a one-item voice list); raise if it fails."""
        await post_action(
            self._http,
            self.endpoint,
            self._api_key,
            {"action": "list", "page_index": 0, "page_size": 1},
            LIST_TIMEOUT,
        )

    @property
    def unlisted_kinds(self) -> frozenset[VoiceKind]:
        """Return the kinds of voice the last ``list_voices`` could not list."""
        return self._unlisted

    async def list_voices(self) -> list[EnrolledVoice]:
        """Return every cloned and designed voice of the account, newest first.

        Each customization model lists its own voices; a voice both lists name is
        returned once. An endpoint that refuses voice design (B.9 is the newer API;
        a proxy or workspace may not offer it) still gives the cloned voices, and
        ``unlisted_kinds`` says the designed ones are unknown.
        """
        voices: dict[str, EnrolledVoice] = {}
        unlisted: set[VoiceKind] = set()
        for kind in _CUSTOMIZATION_MODELS:
            try:
                listed = await self._list_kind(kind)
            except QwenTtsApiError as err:
                # The cloned-voice list proves the key; throttling is worth retrying later.
                if kind is VoiceKind.CLONED or isinstance(err, QwenTtsRateLimitError):
                    raise
                _LOGGER.warning("The %s voices cannot be listed: %s", kind, err)
                unlisted.add(kind)
                continue
            for voice in listed:
                voices.setdefault(voice.voice_id, voice)
        self._unlisted = frozenset(unlisted)
        # gmt_create text sorts in time order; a voice without one goes last.
        return sorted(voices.values(), key=lambda voice: voice.created or "", reverse=True)

    async def _list_kind(self, kind: VoiceKind) -> list[EnrolledVoice]:
        """Return the voices one customization model lists (paging handled here)."""
        voices: list[EnrolledVoice] = []
        for page_index in range(_MAX_PAGES):
            body = await post_action(
                self._http,
                self.endpoint,
                self._api_key,
                {"action": "list", "page_index": page_index, "page_size": LIST_PAGE_SIZE},
                LIST_TIMEOUT,
                model=_CUSTOMIZATION_MODELS[kind],
            )
            output = body.get("output") or {}
            records = output.get("voice_list") or []
            voices.extend(parse_voice(record, kind) for record in records)
            total = output.get("total_count")
            if len(records) < LIST_PAGE_SIZE or (isinstance(total, int) and len(voices) >= total):
                break
        return voices

    async def create_voice(
        self,
        *,
        target_model: str,
        preferred_name: str,
        audio: str,
        text: str | None = None,
        language: str | None = None,
    ) -> EnrolledVoice:
        """Clone a voice from ``audio`` (a data URI or an http(s) URL) for ``target_model``."""
        validate_create(target_model, preferred_name, audio, language)
        fields: dict[str, object] = {
            "action": "create",
            "target_model": target_model,
            "preferred_name": preferred_name,
            "audio": {"data": audio},
        }
        if text:
            fields["text"] = text
        if language:
            fields["language"] = language
        body = await post_action(self._http, self.endpoint, self._api_key, fields, CREATE_TIMEOUT)
        return parse_voice(_create_output(body, target_model), VoiceKind.CLONED)

    async def design_voice(
        self,
        *,
        target_model: str,
        voice_prompt: str,
        preview_text: str,
        preferred_name: str,
        language: str | None = None,
    ) -> DesignedVoice:
        """Design a voice for ``target_model`` from a description; the service speaks a preview.

        Every documented limit is checked before anything is sent.
        """
        validate_design(
            target_model=target_model,
            voice_prompt=voice_prompt,
            preview_text=preview_text,
            preferred_name=preferred_name,
            language=language,
        )
        fields: dict[str, object] = {
            "action": "create",
            "target_model": target_model,
            "voice_prompt": voice_prompt,
            "preview_text": preview_text,
            "preferred_name": preferred_name,
        }
        if language:
            fields["language"] = language
        body = await post_action(
            self._http,
            self.endpoint,
            self._api_key,
            fields,
            CREATE_TIMEOUT,
            model=DESIGN_MODEL,
            parameters={"sample_rate": PREVIEW_SAMPLE_RATE, "response_format": PREVIEW_FORMAT},
        )
        output = _create_output(body, target_model)
        return DesignedVoice(
            voice=parse_voice(output, VoiceKind.DESIGNED), preview=parse_preview(output)
        )

    async def delete_voice(self, voice_id: str, kind: VoiceKind | None = None) -> None:
        """Delete a cloned or designed voice; ``QwenTtsVoiceNotFoundError`` if there is none.

        Without ``kind``, the id's documented prefix (B.2) tells which it is.
        """
        if kind is None:
            designed = voice_id.startswith(DESIGNED_VOICE_PREFIX)
            kind = VoiceKind.DESIGNED if designed else VoiceKind.CLONED
        await post_action(
            self._http,
            self.endpoint,
            self._api_key,
            {"action": "delete", "voice": voice_id},
            LIST_TIMEOUT,
            model=_CUSTOMIZATION_MODELS[kind],
        )


def _create_output(body: dict[str, object], target_model: str) -> dict[str, object]:
    """Return a create answer's ``output`` with the target model filled in if it was left out."""
    output = body.get("output")
    if not isinstance(output, dict):
        raise QwenTtsProtocolError("Create answer without output")
    return {"target_model": target_model, **output}


def _per_minute(model: str) -> int | None:
    """Return the catalogue's sessions-per-minute limit of ``model`` (None: unknown)."""
    info = get_model(model)
    return info.requests_per_minute if info else None
