"""Tests of the DashScope emulator itself, driven with raw aiohttp (no integration code)."""

import asyncio
import base64
import io
import itertools
import json
import math
import re
import signal
import struct
import sys
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from .dashscope_emulator import (
    DashScopeEmulator,
    VoiceRecord,
    billed_characters,
    speech_like_wav,
    split_segments,
    synth_audio_seconds,
)

KEY = "sk-emulator"
AUTH = {"Authorization": f"Bearer {KEY}"}
FLASH = "qwen3-tts-flash-realtime"
VC_MODEL = "qwen3-tts-vc-realtime-2026-01-15"
ID_21 = r"[0-9A-Za-z]{21}"
RESPONSE_ORDER = [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.audio.delta",
    "response.audio.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]
# Safety net only: a broken emulator fails the test instead of hanging it.
RECEIVE_GUARD = 10


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest's autouse fixture: the emulator needs no Home Assistant."""


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[DashScopeEmulator]:
    """Run a default (strict) emulator on a free loopback port."""
    async with DashScopeEmulator() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session


class Conn:
    """A raw realtime connection with small helpers for sending and receiving events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an open client WebSocket."""
        self.ws = ws
        self._ids = itertools.count()

    async def send(self, event_type: str, **fields: Any) -> str:
        """Send a client event with a fresh event_id and return that id."""
        event_id = f"event_test{next(self._ids)}"
        await self.ws.send_json({"event_id": event_id, "type": event_type, **fields})
        return event_id

    async def recv(self) -> dict[str, Any]:
        """Receive one server event."""
        async with asyncio.timeout(RECEIVE_GUARD):
            message = await self.ws.receive()
        assert message.type is aiohttp.WSMsgType.TEXT, message
        event: dict[str, Any] = json.loads(message.data)
        return event

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        """Receive events up to and including the first one of ``event_type``."""
        events = [await self.recv()]
        while events[-1]["type"] != event_type:
            events.append(await self.recv())
        return events

    async def rest(self) -> list[dict[str, Any]]:
        """Receive text events until the server closes the socket."""
        events = []
        async with asyncio.timeout(RECEIVE_GUARD):
            async for message in self.ws:
                assert message.type is aiohttp.WSMsgType.TEXT
                events.append(json.loads(message.data))
        return events

    async def configure(self, **session: Any) -> dict[str, Any]:
        """Send session.update (voice Cherry unless given) and return the answer."""
        session.setdefault("voice", "Cherry")
        await self.send("session.update", session=session)
        return await self.recv()


@asynccontextmanager
async def connect(
    http: aiohttp.ClientSession,
    emulator: DashScopeEmulator,
    model: str = FLASH,
    *,
    created: bool = True,
) -> AsyncIterator[Conn]:
    """Open a realtime connection (and consume session.created unless told not to)."""
    async with http.ws_connect(f"{emulator.ws_url}?model={model}", headers=AUTH) as ws:
        conn = Conn(ws)
        if created:
            assert (await conn.recv())["type"] == "session.created"
        yield conn


def types(events: list[dict[str, Any]]) -> list[str]:
    """Return the event types, collapsing runs of audio deltas into one entry."""
    return [key for key, _ in itertools.groupby(event["type"] for event in events)]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    """Concatenate the decoded audio of all deltas."""
    return b"".join(
        base64.b64decode(event["delta"])
        for event in events
        if event["type"] == "response.audio.delta"
    )


def responses(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split events into responses (response.created .. response.done)."""
    result: list[list[dict[str, Any]]] = []
    for event in events:
        if event["type"] == "response.created":
            result.append([])
        if result and (not result[-1] or result[-1][-1]["type"] != "response.done"):
            result[-1].append(event)
    return result


async def decode_with_ffmpeg(data: bytes, sample_rate: int) -> int:
    """Decode compressed audio with ffmpeg and return the number of mono samples."""
    process = await asyncio.create_subprocess_exec(
        *["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0"],
        *["-f", "s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(data)
    assert process.returncode == 0, stderr
    return len(stdout) // 2


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def test_synth_audio_seconds_counts_non_whitespace() -> None:
    """Whitespace is silent; every other character lasts ms_per_char."""
    assert synth_audio_seconds("你好，世界。", 80) == pytest.approx(0.48)
    assert synth_audio_seconds(" a b\n", 100) == pytest.approx(0.2)
    assert synth_audio_seconds("   ", 80) == 0


def test_billed_characters_counts_cjk_twice() -> None:
    """Qwen3 usage.characters: CJK characters count 2, others 1."""
    assert billed_characters("你好, ok") == 2 * 2 + 4


def test_split_segments() -> None:
    """Cuts after sentence-ending punctuation runs, or when the rest reaches the limit."""
    assert split_segments("Hi. How are you?! Fine", 40) == (["Hi.", " How are you?!"], " Fine")
    assert split_segments("第一句。第二", 40) == (["第一句。"], "第二")
    assert split_segments("a" * 12, 10) == (["a" * 12], "")
    assert split_segments("line\nnext", 40) == (["line\n"], "next")


# --------------------------------------------------------------------------------------------
# Handshake
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong"}, {"X": "y"}])
async def test_handshake_rejects_bad_key(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """A missing or unknown key is refused before the upgrade with DashScope's JSON body."""
    url = f"{emulator.ws_url}?model={FLASH}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(url, headers=headers)
    assert err.value.status == 401
    async with http.get(url.replace("ws", "http", 1), headers=headers) as response:
        assert response.status == 401
        body = await response.json()
    assert body["code"] == "InvalidApiKey"
    assert body["message"] == "Invalid API-key provided."
    assert body["request_id"]
    assert emulator.sessions == []


async def test_handshake_accepts_lowercase_scheme(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Old SDKs send ``bearer``; the headers are recorded with the key masked."""
    url = f"{emulator.ws_url}?model={FLASH}"
    async with http.ws_connect(url, headers={"Authorization": f"bearer {KEY}"}) as ws:
        assert json.loads((await ws.receive()).data)["type"] == "session.created"
    assert emulator.sessions[0].headers["Authorization"] == "bearer sk-***"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [("?model=qwen-tts-nope", 404, "Model.NotExist"), ("", 400, "InvalidParameter")],
)
async def test_handshake_model_errors(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    query: str,
    status: int,
    code: str,
) -> None:
    """Unknown or missing models are refused before the upgrade."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(emulator.ws_url + query, headers=AUTH)
    assert err.value.status == status
    async with http.get(emulator.base_url + "/api-ws/v1/realtime" + query, headers=AUTH) as resp:
        assert (await resp.json())["code"] == code


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "InvalidApiKey"),
        (403, "AccessDenied"),
        (429, "Throttling.RateQuota"),
        (500, "InternalError"),
    ],
)
async def test_fail_next_handshake(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession, status: int, code: str
) -> None:
    """One armed failure answers exactly one handshake; the next one succeeds."""
    emulator.fail_next_handshake(status)
    url = f"{emulator.base_url}/api-ws/v1/realtime?model={FLASH}"
    async with http.get(url, headers=AUTH) as response:
        assert response.status == status
        assert (await response.json())["code"] == code
    async with connect(http, emulator):
        pass


async def test_fail_next_handshake_custom_body(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Code and message can be chosen; failures queue up, one per handshake."""
    emulator.fail_next_handshake(403, "AccessDenied.Unpurchased", "Not purchased.")
    emulator.fail_next_handshake(503)
    url = f"{emulator.base_url}/api-ws/v1/realtime?model={FLASH}"
    async with http.get(url, headers=AUTH) as response:
        body = await response.json()
    assert (response.status, body["code"], body["message"]) == (
        403,
        "AccessDenied.Unpurchased",
        "Not purchased.",
    )
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(f"{emulator.ws_url}?model={FLASH}", headers=AUTH)
    assert err.value.status == 503


async def test_handshake_delay_still_connects(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A slow handshake is only slower."""
    emulator.options.handshake_delay = 0.01
    async with connect(http, emulator):
        pass


# --------------------------------------------------------------------------------------------
# Session lifecycle and response shape
# --------------------------------------------------------------------------------------------


async def test_session_created_and_updated(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """session.created comes first with defaults; session.updated echoes the full config."""
    async with connect(http, emulator, created=False) as conn:
        created = await conn.recv()
        assert created["type"] == "session.created"
        assert re.fullmatch(f"event_{ID_21}", created["event_id"])
        session = created["session"]
        assert re.fullmatch(f"sess_{ID_21}", session["id"])
        assert session == {
            "object": "realtime.session",
            "mode": "server_commit",
            "model": FLASH,
            "voice": "Cherry",
            "response_format": "pcm",
            "sample_rate": 24000,
            "id": session["id"],
        }
        updated = await conn.configure(
            voice="Ethan", mode="commit", language_type="english", speech_rate=1.2, enable_tn=True
        )
    assert updated["type"] == "session.updated"
    assert updated["session"] == {
        "id": session["id"],
        "object": "realtime.session",
        "model": FLASH,
        "voice": "Ethan",
        "language_type": "English",
        "mode": "commit",
        "response_format": "pcm",
        "sample_rate": 24000,
        "speech_rate": 1.2,
        "volume": 50,
        "pitch_rate": 1.0,
        "bit_rate": 128,
        "enable_tn": True,
    }
    record = emulator.sessions[0]
    assert record.session_id == session["id"]
    assert record.config == updated["session"]
    assert record.headers["Authorization"] == "Bearer sk-***"
    assert [event["type"] for event in record.received] == ["session.update"]


async def test_server_commit_response_shape_and_finish(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """One sentence gives one response in the exact A.6 order, then session.finished + 1000."""
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="你好，我是千问。")
        events = await conn.until("response.done")
        await conn.send("session.finish")
        tail = await conn.rest()
        assert conn.ws.close_code == 1000
    assert types(events) == ["input_text_buffer.committed", *RESPONSE_ORDER]
    assert events[0]["item_id"] == ""
    response = events[1]["response"]
    assert re.fullmatch(f"resp_{ID_21}", response["id"])
    assert response == {
        "id": response["id"],
        "object": "realtime.response",
        "conversation_id": "",
        "status": "in_progress",
        "voice": "Cherry",
        "output": [],
    }
    item_id = events[2]["item"]["id"]
    assert re.fullmatch(f"item_{ID_21}", item_id)
    for event in events[2:-1]:
        assert event["response_id"] == response["id"]
        assert event["output_index"] == 0
    for event in events[3:-2]:
        assert event["item_id"] == item_id
        assert event["content_index"] == 0
    assert events[-2]["item"]["status"] == "completed"
    assert events[-2]["item"]["content"] == [{"type": "audio", "text": ""}]
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["modalities"] == ["text", "audio"]
    assert done["output"][0]["content"] == [{"type": "audio", "transcript": ""}]
    assert done["usage"] == {"characters": billed_characters("你好，我是千问。")}
    assert "response_id" not in events[-1]
    assert len(audio_of(events)) == 2 * 24000 * 8 * 80 // 1000
    assert [event["type"] for event in tail] == ["session.finished"]
    record = emulator.sessions[0]
    assert record.finished
    assert not record.closed_by_client_early
    deltas = [event for event in record.sent if event["type"] == "response.audio.delta"]
    assert sum(event["delta"] for event in deltas) == len(audio_of(events))
    assert [event["type"] for event in record.sent] == [
        "session.created",
        "session.updated",
        *[event["type"] for event in events],
        "session.finished",
    ]


async def test_server_commit_streams_while_text_arrives(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Each sentence is answered before the next one is sent; responses are sequential."""
    sentences = ["First sentence. ", "Second one!", " And a tail without end"]
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text=sentences[0])
        first = await conn.until("response.done")
        await conn.send("input_text_buffer.append", text=sentences[1])
        second = await conn.until("response.done")
        await conn.send("input_text_buffer.append", text=sentences[2])
        await conn.send("session.finish")
        rest = await conn.rest()
    third = responses(rest)
    assert len(third) == 1
    assert types(rest) == ["input_text_buffer.committed", *RESPONSE_ORDER, "session.finished"]
    ids = {events[-1]["response"]["id"] for events in (first, second, rest[:-1])}
    assert len(ids) == 3
    for text, events in zip(sentences, (first, second, rest), strict=True):
        assert len(audio_of(events)) == 2 * round(24000 * synth_audio_seconds(text, 80))
    # The pitch changes per segment: the responses are different audio.
    assert audio_of(first)[:4800] != audio_of(second)[:4800]


async def test_server_commit_segment_chars(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Unpunctuated text is committed once the buffer reaches segment_chars."""
    emulator.options.segment_chars = 10
    emulator.options.emit_committed_on_auto_commit = False
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="abcde")
        await conn.send("input_text_buffer.append", text="fghij")
        events = await conn.until("response.done")
        await conn.send("session.finish")
        assert types(await conn.rest()) == ["session.finished"]
    assert types(events) == RESPONSE_ORDER
    assert len(audio_of(events)) == 2 * 24 * 800


async def test_commit_mode(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """Nothing is synthesized before commit; each commit gives one response."""
    sentences = ["这是第一句话。", "这是第二句话。", "这是第三句话。"]
    async with connect(http, emulator) as conn:
        await conn.configure(mode="commit")
        for sentence in sentences:
            await conn.send("input_text_buffer.append", text=sentence[:3])
            await conn.send("input_text_buffer.append", text=sentence[3:])
            await conn.send("input_text_buffer.commit")
            events = await conn.until("response.done")
            # committed is the very next event: the appends alone produced nothing.
            assert types(events) == ["input_text_buffer.committed", *RESPONSE_ORDER]
            assert len(audio_of(events)) == 2 * 24 * 560
        await conn.send("input_text_buffer.append", text="没提交的尾巴")
        await conn.send("session.finish")
        rest = await conn.rest()
    # Uncommitted text is synthesized on finish (the SDK docstring's reading).
    assert types(rest) == ["input_text_buffer.committed", *RESPONSE_ORDER, "session.finished"]
    assert len(audio_of(rest)) == 2 * 24 * 6 * 80


async def test_empty_commit_and_clear(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Committing an empty buffer is an error; clear empties the buffer."""
    async with connect(http, emulator) as conn:
        await conn.configure(mode="commit")
        commit_id = await conn.send("input_text_buffer.commit")
        error = await conn.recv()
        await conn.send("input_text_buffer.append", text="丢掉")
        await conn.send("input_text_buffer.clear")
        cleared = await conn.recv()
        await conn.send("input_text_buffer.commit")
        error_again = await conn.recv()
        await conn.send("session.finish")
        assert types(await conn.rest()) == ["session.finished"]
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["event_id"] == commit_id
    assert "empty" in error["error"]["message"]
    assert cleared["type"] == "input_text_buffer.cleared"
    assert error_again["type"] == "error"


async def test_whitespace_is_not_a_response(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A finish with only whitespace left produces no response."""
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Done.\n\n  ")
        await conn.until("response.done")
        await conn.send("session.finish")
        assert types(await conn.rest()) == ["session.finished"]


# --------------------------------------------------------------------------------------------
# Strict and lenient validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "session", "expected"),
    [
        (FLASH, {"voice": "Nobody"}, ("session.voice", "Invalid value: 'Nobody'.")),
        (VC_MODEL, {"voice": "Cherry"}, ("session.voice", "Invalid value: 'Cherry'.")),
        ("qwen3-tts-vd-realtime-2026-01-15", {"voice": "Cherry"}, ("session.voice", "Invalid")),
        ("qwen3-tts-flash-realtime-2025-09-18", {"voice": "Serena"}, ("session.voice", "Invalid")),
        (FLASH, {"voice": "Cherry", "speech_rate": 2.5}, ("session.speech_rate", "2.5")),
        (FLASH, {"voice": "Cherry", "volume": 101}, ("session.volume", "101")),
        (FLASH, {"voice": "Cherry", "bit_rate": 5}, ("session.bit_rate", "5")),
        (FLASH, {"voice": "Cherry", "pitch_rate": "1"}, ("session.pitch_rate", "'1'")),
        (FLASH, {"voice": "Cherry", "sample_rate": 44100}, ("session.sample_rate", "44100")),
        (FLASH, {"voice": "Cherry", "sample_rate": 24000.0}, ("session.sample_rate", "24000.0")),
        (FLASH, {"voice": "Cherry", "response_format": "aac"}, ("session.response_format", "aac")),
        (FLASH, {"voice": "Cherry", "mode": "auto"}, ("session.mode", "'auto'")),
        (FLASH, {"voice": "Cherry", "language_type": "Klingon"}, ("session.language_type", "K")),
        (FLASH, {"voice": "Cherry", "enable_tn": "yes"}, ("session.enable_tn", "yes")),
        (
            "qwen-tts-realtime",
            {"voice": "Cherry", "sample_rate": 48000},
            ("session.sample_rate", ""),
        ),
        ("qwen-tts-realtime", {"voice": "Cherry", "response_format": "wav"}, (None, "")),
        ("qwen-tts-realtime", {"voice": "Cherry", "speech_rate": 1.0}, (None, "not supported")),
        ("qwen-tts-realtime", {"voice": "Cherry", "volume": 50}, (None, "not supported")),
        (FLASH, {"voice": "Cherry", "instructions": "Speak fast"}, (None, "not supported")),
        (FLASH, {"voice": "Cherry", "optimize_instructions": True}, (None, "not supported")),
        (FLASH, {"voice": "Cherry", "format": "pcm"}, ("session.format", "Unknown parameter")),
        (FLASH, {"mode": "commit"}, ("session.voice", "Missing required parameter")),
    ],
)
async def test_session_update_rejections(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    model: str,
    session: dict[str, Any],
    expected: tuple[str | None, str],
) -> None:
    """Invalid or unsupported session fields give an error event in the superset shape."""
    async with connect(http, emulator, model) as conn:
        update_id = await conn.send("session.update", session=session)
        error = await conn.recv()
        # A failed first update fails the session: a retry is refused (strict).
        await conn.send("session.update", session={"voice": "Cherry"})
        retry = await conn.recv()
    param, message = expected
    assert error["type"] == "error"
    assert re.fullmatch(f"event_{ID_21}", error["event_id"])
    details = error["error"]
    assert details["type"] == "invalid_request_error"
    assert details["code"] == "invalid_value"
    assert details["event_id"] == update_id
    assert message in details["message"]
    if param is not None:
        assert details["param"] == param
    assert retry["error"]["message"] == (
        "Session update error: session already started or finished or failed."
    )


@pytest.mark.parametrize(
    ("model", "session"),
    [
        (FLASH, {"voice": "Radio Gol", "response_format": "opus", "bit_rate": 510}),
        (FLASH, {"voice": "Cherry", "instructions": "", "optimize_instructions": False}),
        ("qwen3-tts-instruct-flash-realtime", {"voice": "Cherry", "instructions": "Calm."}),
        ("qwen-tts-realtime-latest", {"voice": "Chelsie", "enable_tn": False}),
        ("qwen3-tts-flash-realtime-2025-09-18", {"voice": "Sunny", "sample_rate": 8000}),
    ],
)
async def test_session_update_accepts(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    model: str,
    session: dict[str, Any],
) -> None:
    """Valid per-model configurations are accepted."""
    async with connect(http, emulator, model) as conn:
        updated = await conn.configure(**session)
    assert updated["type"] == "session.updated", updated
    assert updated["session"]["voice"] == session["voice"]
    assert ("speech_rate" in updated["session"]) is not model.startswith("qwen-tts-realtime")


async def test_cloned_voice_only_on_its_target_model(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A VC model accepts an enrolled voice whose target_model is the session model."""
    voice = "qwen-tts-vc-guanyu-voice-20260101120000000-ab12"
    emulator.voices[voice] = VoiceRecord(voice=voice, target_model=VC_MODEL, preferred_name="g")
    async with connect(http, emulator, VC_MODEL) as conn:
        assert (await conn.configure(voice=voice))["type"] == "session.updated"
    async with connect(http, emulator, "qwen3-tts-vc-realtime-2025-11-27") as conn:
        error = await conn.configure(voice=voice)
    assert error["type"] == "error"
    assert error["error"]["param"] == "session.voice"


@pytest.mark.parametrize(
    ("configure", "events", "message"),
    [
        (False, [{"type": "response.create"}], "Invalid value: 'response.create'."),
        (False, [{"type": "input_text_buffer.append", "text": "hi"}], "Session not configured"),
        (True, [{"type": "session.update", "session": {"voice": "Ethan"}}], "Session update"),
        (True, [{"type": "input_text_buffer.append"}], "'text'"),
    ],
)
async def test_strict_protocol_errors(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    configure: bool,
    events: list[dict[str, Any]],
    message: str,
) -> None:
    """Strict mode refuses protocol mistakes with an error event and keeps the socket open."""
    async with connect(http, emulator) as conn:
        if configure:
            await conn.configure()
        for event in events:
            await conn.send(event["type"], **{k: v for k, v in event.items() if k != "type"})
        answer = await conn.recv()
        assert answer["type"] == "error"
        assert message in answer["error"]["message"]
        if not configure:
            await conn.configure()
        await conn.send("session.finish")
        assert types(await conn.rest()) == ["session.finished"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "Invalid JSON"),
        ('{"type": "session.update", "session": {"voice": "Cherry"}}', "event_id"),
    ],
)
async def test_strict_frame_errors(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession, frame: str, message: str
) -> None:
    """Unparsable frames and events without event_id are refused in strict mode."""
    async with connect(http, emulator) as conn:
        await conn.ws.send_str(frame)
        error = await conn.recv()
        await conn.ws.send_bytes(b"\x00")
        binary_error = await conn.recv()
    assert error["type"] == "error"
    assert message in error["error"]["message"]
    assert "Binary" in binary_error["error"]["message"]


async def test_strict_duplicate_event_id(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """event_id must be unique within a connection."""
    async with connect(http, emulator) as conn:
        update = {"event_id": "event_1", "type": "session.update", "session": {"voice": "Cherry"}}
        await conn.ws.send_json(update)
        assert (await conn.recv())["type"] == "session.updated"
        await conn.ws.send_json({"event_id": "event_1", "type": "input_text_buffer.clear"})
        error = await conn.recv()
    assert "Duplicate event_id" in error["error"]["message"]


async def test_lenient_mode(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """Lenient mode ignores protocol mistakes, drops unsupported fields, allows re-updates."""
    emulator.options.strict = False
    async with connect(http, emulator, "qwen-tts-realtime") as conn:
        await conn.ws.send_json({"type": "input_text_buffer.append", "text": "早。"})
        first = await conn.until("response.done")
        await conn.send("unknown.event")
        await conn.ws.send_str("garbage")
        updated = await conn.configure(voice="Ethan", speech_rate=1.5, colour="blue")
        again = await conn.configure(voice="Serena")
        await conn.send("input_text_buffer.append", text="好")
        await conn.send("session.finish")
        rest = await conn.rest()
    assert first[-1]["response"]["voice"] == "Cherry"
    assert updated["type"] == "session.updated"
    assert "speech_rate" not in updated["session"]
    assert "colour" not in updated["session"]
    assert again["session"]["voice"] == "Serena"
    assert types(rest)[-1] == "session.finished"
    assert "error" not in types(rest)
    usage = first[-1]["response"]["usage"]
    assert usage["output_tokens_details"]["audio_tokens"] == 50
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_events_after_finish_are_refused(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """After session.finish the strict server refuses further events."""
    emulator.options.chunk_interval = 30
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Bye.")
        await conn.send("session.finish")
        await conn.until("response.audio.delta")
        await conn.send("input_text_buffer.append", text="More?")
        error = await conn.until("error")
        await conn.send("response.cancel")
        rest = await conn.rest()
    assert "finishing" in error[-1]["error"]["message"]
    assert types(rest)[-1] == "session.finished"


# --------------------------------------------------------------------------------------------
# Audio formats and durations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_format", "sample_rate"),
    [("pcm", 24000), ("pcm", 8000), ("wav", 16000), ("wav", 48000)],
)
async def test_uncompressed_audio_length(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    response_format: str,
    sample_rate: int,
) -> None:
    """PCM/WAV audio has exactly synth_audio_seconds of samples; WAV has a header per response."""
    texts = ["Hello there.", "第二句。"]
    async with connect(http, emulator) as conn:
        await conn.configure(response_format=response_format, sample_rate=sample_rate)
        await conn.send("input_text_buffer.append", text="".join(texts))
        await conn.send("session.finish")
        events = await conn.rest()
    per_response = responses(events)
    assert len(per_response) == 2
    for text, response in zip(texts, per_response, strict=True):
        audio = audio_of(response)
        frames = round(synth_audio_seconds(text, 80) * sample_rate)
        if response_format == "pcm":
            assert len(audio) == 2 * frames
            continue
        with wave.open(io.BytesIO(audio)) as reader:
            assert reader.getnchannels() == 1
            assert reader.getsampwidth() == 2
            assert reader.getframerate() == sample_rate
            assert reader.getnframes() == frames
        assert len(audio) == 44 + 2 * frames
        assert struct.unpack_from("<I", audio, 4)[0] == len(audio) - 8


@pytest.mark.parametrize(
    ("response_format", "sample_rate", "magic"),
    [("mp3", 24000, None), ("opus", 48000, b"OggS"), ("opus", 16000, b"OggS"), ("mp3", 8000, None)],
)
async def test_compressed_audio_length(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    response_format: str,
    sample_rate: int,
    magic: bytes | None,
) -> None:
    """MP3 / Ogg Opus decode (with ffmpeg) to about synth_audio_seconds."""
    text = "A compressed sentence, please."
    async with connect(http, emulator) as conn:
        await conn.configure(response_format=response_format, sample_rate=sample_rate)
        await conn.send("input_text_buffer.append", text=text)
        await conn.send("session.finish")
        events = await conn.rest()
    audio = audio_of(events)
    deltas = [event for event in events if event["type"] == "response.audio.delta"]
    assert len(deltas) == math.ceil(synth_audio_seconds(text, 80) / 0.1)
    if magic is not None:
        assert audio.startswith(magic)
    samples = await decode_with_ffmpeg(audio, sample_rate)
    # MP3 frames and encoder delay make compressed lengths approximate.
    assert samples / sample_rate == pytest.approx(synth_audio_seconds(text, 80), abs=0.15)


async def test_chunking_and_pacing_options(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """chunk_ms sets the delta size; ms_per_char the length; delays only slow things down."""
    emulator.options.chunk_ms = 40
    emulator.options.ms_per_char = 100
    emulator.options.first_audio_delay = 0.001
    emulator.options.chunk_interval = 0.001
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="abc.")
        events = await conn.until("response.done")
    sizes = [len(base64.b64decode(e["delta"])) for e in events if "delta" in e]
    assert sizes == [1920] * 10


# --------------------------------------------------------------------------------------------
# response.cancel and faults
# --------------------------------------------------------------------------------------------


async def test_response_cancel(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """response.cancel ends the current response early with status cancelled."""
    emulator.options.chunk_interval = 30  # the response would take minutes
    async with connect(http, emulator) as conn:
        await conn.configure(mode="commit")
        await conn.send("input_text_buffer.append", text="A long sentence that goes on and on.")
        await conn.send("input_text_buffer.commit")
        started = await conn.until("response.audio.delta")
        await conn.send("response.cancel")
        ended = await conn.until("response.done")
        emulator.options.chunk_interval = 0
        await conn.send("input_text_buffer.append", text="Next.")
        await conn.send("input_text_buffer.commit")
        following = await conn.until("response.done")
    assert types(started + ended) == ["input_text_buffer.committed", *RESPONSE_ORDER]
    assert len(audio_of(started + ended)) == 4800
    assert ended[-1]["response"]["status"] == "cancelled"
    assert ended[-2]["item"]["status"] == "incomplete"
    assert following[-1]["response"]["status"] == "completed"


async def test_inject_error_event(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """The next session sends an error after N deltas, then closes; later sessions are clean."""
    emulator.inject_error_event("InternalError", "Synthesis broke.", after_deltas=2)
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="A sentence long enough.")
        events = await conn.rest()
        assert conn.ws.close_code == 1011
    assert types(events) == ["input_text_buffer.committed", *RESPONSE_ORDER[:4], "error"]
    assert len(audio_of(events)) == 2 * 4800
    assert events[-1]["error"] == {
        "type": "server_error",
        "code": "InternalError",
        "message": "Synthesis broke.",
        "param": None,
        "event_id": None,
    }
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Fine.")
        await conn.send("session.finish")
        assert types(await conn.rest())[-1] == "session.finished"


async def test_fault_before_finish_when_deltas_run_out(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A fault armed for more deltas than the session produces fires before session.finished."""
    emulator.inject_error_event("Throttling", "Too much.", after_deltas=1000)
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Short.")
        await conn.send("session.finish")
        events = await conn.rest()
    assert types(events) == ["input_text_buffer.committed", *RESPONSE_ORDER, "error"]
    assert not emulator.sessions[0].finished


async def test_drop_connection(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """The socket dies without a close frame after N deltas."""
    emulator.drop_connection(after_deltas=1)
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Dropped sentence.")
        await conn.send("session.finish")
        events = [await conn.recv() for _ in range(5)]
        async with asyncio.timeout(RECEIVE_GUARD):
            last = await conn.ws.receive()
    assert types(events) == ["input_text_buffer.committed", *RESPONSE_ORDER[:4]]
    assert last.type in {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}
    assert conn.ws.close_code == 1006
    await emulator.wait_sessions_closed()
    record = emulator.sessions[0]
    assert not record.finished
    assert not record.closed_by_client_early


async def test_stall(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """The server goes silent after N deltas but keeps the socket open."""
    emulator.stall(after_deltas=1)
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Stalled sentence.")
        events = await conn.until("response.audio.delta")
        await conn.send("session.finish")
        await emulator.wait_for_client_event("session.finish")
        assert not conn.ws.closed
    await emulator.wait_sessions_closed()
    record = emulator.sessions[0]
    assert [event["type"] for event in record.sent][-1] == "response.audio.delta"
    assert len(events) == 5
    assert record.closed_by_client_early
    assert not record.finished


async def test_garbled_frame(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """After N deltas a frame that is not JSON arrives, then nothing more."""
    emulator.garble(after_deltas=1)
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Garbled sentence.")
        events = await conn.until("response.audio.delta")
        async with asyncio.timeout(RECEIVE_GUARD):
            garbled = await conn.ws.receive()
    assert len(events) == 5
    assert garbled.type is aiohttp.WSMsgType.TEXT
    with pytest.raises(ValueError, match="Unterminated string"):
        json.loads(garbled.data)
    await emulator.wait_sessions_closed()
    assert emulator.sessions[0].closed_by_client_early


async def test_faults_for_several_sessions(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A fault armed for two sessions breaks the next two; the third is clean."""
    emulator.drop_connection(after_deltas=1, sessions=2)
    for _ in range(2):
        async with connect(http, emulator) as conn:
            await conn.configure()
            await conn.send("input_text_buffer.append", text="Dropped sentence.")
            await conn.send("session.finish")
            assert types(await conn.rest())[-1] == "response.audio.delta"
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="Fine.")
        await conn.send("session.finish")
        assert types(await conn.rest())[-1] == "session.finished"


async def test_client_closing_early_is_recorded(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A client that closes before session.finished is flagged."""
    async with connect(http, emulator) as conn:
        await conn.configure()
    await emulator.wait_sessions_closed()
    assert emulator.sessions[0].closed_by_client_early


async def test_close_ends_open_sockets(socket_enabled: None, http: aiohttp.ClientSession) -> None:
    """close() says goodbye (1001) to open sockets, stops the server and is idempotent."""
    emulator = DashScopeEmulator()
    await emulator.start()
    async with connect(http, emulator) as conn:
        await conn.configure()
        closing = asyncio.create_task(emulator.close())
        assert await conn.rest() == []
        await closing
        assert conn.ws.close_code == 1001
    await emulator.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.post(emulator.customization_url)


async def test_close_during_handshake_delay(socket_enabled: None) -> None:
    """A client that gives up during handshake_delay leaves nothing running after close()."""
    emulator = DashScopeEmulator()
    emulator.options.handshake_delay = 60
    await emulator.start()
    host, port = emulator.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"model": "qwen-voice-enrollment", "input": {"action": "list"}}'
    # Pipelined: aiohttp starts the second handler before the first response can be read, so
    # reading that response proves the upgrade is waiting in handshake_delay.
    writer.write(
        b"POST /api/v1/services/audio/tts/customization HTTP/1.1\r\nHost: h\r\n"
        b"Authorization: Bearer sk-emulator\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s"
        % (len(body), body)
        + f"GET /api-ws/v1/realtime?model={FLASH} HTTP/1.1\r\nHost: h\r\n".encode()
        + b"Authorization: Bearer sk-emulator\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    async with asyncio.timeout(RECEIVE_GUARD):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
        await reader.readexactly(length)
    assert head.startswith(b"HTTP/1.1 200")
    assert len(emulator._connections) == 1
    writer.close()
    await writer.wait_closed()
    # verify_cleanup (HA test plugin) fails the test if the delayed handler outlives this.
    await emulator.close()
    assert emulator.sessions == []


# --------------------------------------------------------------------------------------------
# wait_for_client_event
# --------------------------------------------------------------------------------------------


async def test_wait_for_client_event(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Waiters resolve on the n-th event of a type, across sessions, even if already seen."""
    second_append = asyncio.create_task(
        emulator.wait_for_client_event("input_text_buffer.append", count=2)
    )
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="one ")
        first = await emulator.wait_for_client_event("input_text_buffer.append")
        assert not second_append.done()
    async with connect(http, emulator) as conn:
        await conn.configure()
        await conn.send("input_text_buffer.append", text="two ")
        assert (await second_append)["text"] == "two "
    assert first["text"] == "one "
    assert (await emulator.wait_for_client_event("session.update", count=2))["session"]


# --------------------------------------------------------------------------------------------
# Voice enrollment (qwen-voice-enrollment)
# --------------------------------------------------------------------------------------------

GOOD_WAV = speech_like_wav(12)
VOICE_ID = r"qwen-tts-vc-{name}-voice-\d{{17}}-[0-9a-f]{{4}}"


def data_uri(audio: bytes, mime: str = "audio/wav") -> str:
    """Return a base64 data URI."""
    return f"data:{mime};base64,{base64.b64encode(audio).decode()}"


def create_input(data: str, **extra: Any) -> dict[str, Any]:
    """Return the ``input`` of a create request for VC_MODEL."""
    return {
        "action": "create",
        "target_model": VC_MODEL,
        "preferred_name": "guanyu",
        "audio": {"data": data},
        **extra,
    }


async def enroll(
    http: aiohttp.ClientSession,
    emulator: DashScopeEmulator,
    input_: dict[str, Any],
    *,
    model: str = "qwen-voice-enrollment",
    headers: dict[str, str] = AUTH,
) -> tuple[int, dict[str, Any]]:
    """POST one customization request and return status and JSON body."""
    body = {"model": model, "input": input_}
    async with http.post(emulator.customization_url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def ffmpeg_convert(source: bytes, *args: str) -> bytes:
    """Convert audio with ffmpeg through pipes."""
    process = await asyncio.create_subprocess_exec(
        *["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *args, "pipe:1"],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(source)
    assert process.returncode == 0, stderr
    return stdout


async def test_enroll_create_list_query_delete(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """The documented happy path, with the documented response shapes."""
    status, created = await enroll(
        http, emulator, create_input(data_uri(GOOD_WAV), language="zh", text="你好")
    )
    assert status == 200, created
    voice = created["output"]["voice"]
    assert re.fullmatch(VOICE_ID.format(name="guanyu"), voice)
    assert created["output"]["target_model"] == VC_MODEL
    assert created["usage"] == {"count": 1}
    assert created["request_id"]
    recorded = emulator.http_requests[0]["input"]["audio"]["data"]
    assert recorded.startswith("<data:audio/wav;base64")
    assert len(recorded) < 100
    assert emulator.voices[voice].language == "zh"

    status, listed = await enroll(http, emulator, {"action": "list"})
    assert status == 200
    assert listed["usage"] == {"count": 0}
    entry = listed["output"]["voice_list"][0]
    assert listed["output"] | {"voice_list": []} == {
        "voice_list": [],
        "page_index": 0,
        "page_size": 10,
        "total_count": 1,
    }
    assert entry["voice"] == voice
    assert entry["target_model"] == VC_MODEL
    assert entry["language"] == "zh"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", entry["gmt_create"])

    status, queried = await enroll(http, emulator, {"action": "query", "voice": voice})
    assert (status, queried["output"]) == (200, entry)

    status, deleted = await enroll(http, emulator, {"action": "delete", "voice": voice})
    assert status == 200
    assert deleted == {"usage": {"count": 0}, "request_id": deleted["request_id"]}
    assert emulator.voices == {}
    status, again = await enroll(http, emulator, {"action": "delete", "voice": voice})
    assert status == 400
    assert again["code"] == "BadRequest.VoiceNotFound"
    assert again["message"] == f"Voice '{voice}' not found."
    assert again["request_id"]


async def test_enroll_list_paging_newest_first(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Pages are cut from the newest-first list; ties keep the later insertion first."""
    stamps = ["2026-01-01 10:00:00", "2026-01-03 10:00:00", "2026-01-02 10:00:00"]
    stamps += ["2026-01-03 10:00:00", "2026-01-01 09:00:00"]
    for number, stamp in enumerate(stamps):
        voice = f"qwen-tts-vc-v{number}-voice-1"
        emulator.voices[voice] = VoiceRecord(
            voice=voice, target_model=VC_MODEL, preferred_name=f"v{number}", gmt_create=stamp
        )
    pages = []
    for page_index in range(3):
        status, body = await enroll(
            http, emulator, {"action": "list", "page_index": page_index, "page_size": 2}
        )
        assert status == 200
        assert body["output"]["total_count"] == 5
        pages.append([entry["voice"].split("-")[3] for entry in body["output"]["voice_list"]])
    assert pages == [["v3", "v1"], ["v2", "v0"], ["v4"]]


def _stereo() -> str:
    return data_uri(speech_like_wav(12, channels=2))


@pytest.mark.parametrize(
    ("input_", "model", "code"),
    [
        (create_input(data_uri(GOOD_WAV)), "qwen-voice-design", "InvalidParameter"),
        ({"action": "rename"}, None, "InvalidParameter"),
        (create_input(data_uri(GOOD_WAV), target_model=FLASH), None, "InvalidParameter"),
        (create_input(data_uri(GOOD_WAV), preferred_name="bad-name"), None, "InvalidParameter"),
        (create_input(data_uri(GOOD_WAV), preferred_name="a" * 17), None, "InvalidParameter"),
        (create_input(data_uri(GOOD_WAV), language="xx"), None, "InvalidParameter"),
        ({"action": "create", "target_model": VC_MODEL, "preferred_name": "a"}, None, "Invalid"),
        (create_input(data_uri(GOOD_WAV, "audio/ogg")), None, "InvalidParameter"),
        (create_input("data:audio/wav;base64,@@@"), None, "InvalidParameter"),
        (create_input("ftp://example.invalid/a.wav"), None, "InvalidParameter"),
        (create_input(data_uri(b"RIFF not really audio")), None, "Audio.DecoderError"),
        (create_input(_stereo()), None, "Audio.PreprocessError"),
        (create_input(data_uri(speech_like_wav(12, 16000))), None, "Audio.AudioRateError"),
        (create_input(data_uri(speech_like_wav(61))), None, "Audio.DurationLimitError"),
        (create_input(data_uri(speech_like_wav(5))), None, "Audio.PreprocessError"),
        (create_input(data_uri(speech_like_wav(12, level=0))), None, "Audio.PreprocessError"),
        (create_input("data:audio/wav;base64," + "A" * 10_500_000), None, "Audio.FileSizeExceed"),
        ({"action": "list", "page_size": -1}, None, "InvalidParameter"),
        ({"action": "delete"}, None, "InvalidParameter"),
    ],
)
async def test_enroll_errors(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    input_: dict[str, Any],
    model: str | None,
    code: str,
) -> None:
    """Each documented failure answers 400 with DashScope's error body."""
    status, body = await enroll(http, emulator, input_, model=model or "qwen-voice-enrollment")
    assert status == 400
    assert body["code"].startswith(code)
    assert body["message"]
    assert body["request_id"]
    assert emulator.voices == {}


async def test_enroll_error_messages(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """The audio errors carry the documented message texts."""
    _, rate = await enroll(http, emulator, create_input(data_uri(speech_like_wav(10.5, 16000))))
    _, length = await enroll(http, emulator, create_input(data_uri(speech_like_wav(60.5))))
    _, broken = await enroll(http, emulator, create_input(data_uri(b"\x00" * 100, "audio/mpeg")))
    assert rate["message"].startswith("File sample rate unsupported.")
    assert "24000 Hz" in rate["message"]
    assert length["message"] == "Audio duration exceeds maximum allowed limit."
    assert broken["message"] == "Decoder audio file failed."


async def test_enroll_options(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """The 2025 rules (16 kHz, shorter clips) can be selected through the options."""
    emulator.options.enroll_min_sample_rate = 16000
    emulator.options.enroll_min_seconds = 3
    status, body = await enroll(http, emulator, create_input(data_uri(speech_like_wav(4, 16000))))
    assert status == 200, body


async def test_enroll_authentication(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A bad key is 401 InvalidApiKey; the request is still recorded."""
    status, body = await enroll(
        http, emulator, {"action": "list"}, headers={"Authorization": "Bearer sk-nope"}
    )
    assert (status, body["code"]) == (401, "InvalidApiKey")
    assert body["message"] == "Invalid API-key provided."
    assert emulator.http_requests == [
        {"model": "qwen-voice-enrollment", "input": {"action": "list"}}
    ]


async def test_enroll_quota(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """The 1001st voice is refused until one is deleted."""
    for number in range(1000):
        voice = f"qwen-tts-vc-v{number}-voice-1"
        emulator.voices[voice] = VoiceRecord(voice=voice, target_model=VC_MODEL, preferred_name="v")
    status, body = await enroll(http, emulator, create_input(data_uri(GOOD_WAV)))
    assert (status, body["code"]) == (400, "Throttling.AllocationQuota")
    await enroll(http, emulator, {"action": "delete", "voice": "qwen-tts-vc-v0-voice-1"})
    status, _ = await enroll(http, emulator, create_input(data_uri(GOOD_WAV)))
    assert status == 200


async def test_fail_next_http(emulator: DashScopeEmulator, http: aiohttp.ClientSession) -> None:
    """An armed HTTP failure answers exactly one request."""
    emulator.fail_next_http(429, "Throttling.RateQuota", "Requests rate limit exceeded.")
    status, body = await enroll(http, emulator, {"action": "list"})
    assert status == 429
    assert body == {
        "request_id": body["request_id"],
        "code": "Throttling.RateQuota",
        "message": "Requests rate limit exceeded.",
    }
    status, _ = await enroll(http, emulator, {"action": "list"})
    assert status == 200


async def test_enroll_compressed_uploads(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession, tmp_path: Any
) -> None:
    """MP3 and M4A (moov atom at the end, so not streamable) are probed with ffmpeg."""
    mp3 = await ffmpeg_convert(GOOD_WAV, "-c:a", "libmp3lame", "-f", "mp3")
    m4a_path = tmp_path / "voice.m4a"
    process = await asyncio.create_subprocess_exec(
        *["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0"],
        *["-c:a", "aac", str(m4a_path)],
        stdin=asyncio.subprocess.PIPE,
    )
    await process.communicate(GOOD_WAV)
    m4a = await asyncio.to_thread(m4a_path.read_bytes)
    for name, audio, mime in (("mp3", mp3, "audio/mpeg"), ("m4a", m4a, "audio/mp4")):
        status, body = await enroll(
            http, emulator, create_input(data_uri(audio, mime), preferred_name=name)
        )
        assert status == 200, body
        assert re.fullmatch(VOICE_ID.format(name=name), body["output"]["voice"])
    stereo_mp3 = await ffmpeg_convert(speech_like_wav(12, channels=2), "-f", "mp3")
    status, body = await enroll(http, emulator, create_input(data_uri(stereo_mp3, "audio/mpeg")))
    assert (status, body["code"]) == (400, "Audio.PreprocessError")


@pytest.fixture
async def audio_host(socket_enabled: None) -> AsyncIterator[str]:
    """Serve GOOD_WAV at <base>/voice.wav from a second loopback server."""

    async def serve(_: web.Request) -> web.Response:
        """Return the sample."""
        return web.Response(body=GOOD_WAV, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/voice.wav", serve)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_enroll_from_url(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession, audio_host: str
) -> None:
    """An http(s) URL is downloaded; a broken URL is InvalidParameter."""
    status, body = await enroll(http, emulator, create_input(f"{audio_host}/voice.wav"))
    assert status == 200, body
    assert emulator.http_requests[0]["input"]["audio"]["data"] == f"{audio_host}/voice.wav"
    status, body = await enroll(http, emulator, create_input(f"{audio_host}/missing.wav"))
    assert (status, body["code"]) == (400, "InvalidParameter")


# --------------------------------------------------------------------------------------------
# Voice design (qwen-voice-design)
# --------------------------------------------------------------------------------------------

VD_MODEL = "qwen3-tts-vd-realtime-2026-01-15"
PREVIEW_TEXT = "各位听众，晚上好。"


def design_input(**extra: Any) -> dict[str, Any]:
    """Return the ``input`` of a design create request for VD_MODEL."""
    return {
        "action": "create",
        "target_model": VD_MODEL,
        "voice_prompt": "A calm middle-aged announcer with a deep, warm voice.",
        "preview_text": PREVIEW_TEXT,
        "preferred_name": "announcer",
        **extra,
    }


async def design(
    http: aiohttp.ClientSession,
    emulator: DashScopeEmulator,
    input_: dict[str, Any],
    parameters: Any = None,
) -> tuple[int, dict[str, Any]]:
    """POST one ``qwen-voice-design`` request and return status and JSON body."""
    body: dict[str, Any] = {"model": "qwen-voice-design", "input": input_}
    if parameters is not None:
        body["parameters"] = parameters
    async with http.post(emulator.customization_url, json=body, headers=AUTH) as response:
        return response.status, await response.json()


async def test_design_create_list_query_delete(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """B.9: a designed voice with a WAV preview of its preview text; its own list and delete."""
    status, created = await design(http, emulator, design_input(language="zh"))

    assert status == 200, created
    output = created["output"]
    voice = output["voice"]
    assert re.fullmatch(r"qwen-tts-vd-announcer-voice-\d{17}-[0-9a-f]{4}", voice)
    assert output["target_model"] == VD_MODEL
    assert created["usage"] == {"count": 1}
    preview = output["preview_audio"]
    assert (preview["sample_rate"], preview["response_format"]) == (24000, "wav")
    with wave.open(io.BytesIO(base64.b64decode(preview["data"]))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(synth_audio_seconds(PREVIEW_TEXT, 80))

    status, listed = await design(http, emulator, {"action": "list"})
    assert status == 200
    [entry] = listed["output"]["voice_list"]
    assert entry["voice"] == voice
    assert entry["preview_text"] == PREVIEW_TEXT
    assert entry["voice_prompt"].startswith("A calm")
    assert (entry["target_model"], entry["language"]) == (VD_MODEL, "zh")
    status, queried = await design(http, emulator, {"action": "query", "voice": voice})
    assert (status, queried["output"]) == (200, entry)
    # Each customization model answers for its own voices only.
    _, cloned = await enroll(http, emulator, {"action": "list"})
    assert cloned["output"]["voice_list"] == []
    status, wrong = await enroll(http, emulator, {"action": "delete", "voice": voice})
    assert (status, wrong["code"]) == (400, "BadRequest.VoiceNotFound")

    status, deleted = await design(http, emulator, {"action": "delete", "voice": voice})
    assert status == 200
    assert "output" not in deleted
    assert emulator.voices == {}


@pytest.mark.parametrize(
    ("response_format", "sample_rate"), [("pcm", 16000), ("mp3", 48000), ("opus", 24000)]
)
async def test_design_preview_formats(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    response_format: str,
    sample_rate: int,
) -> None:
    """``parameters`` choose the preview's format and rate; it decodes to the text's length."""
    status, created = await design(
        http,
        emulator,
        design_input(),
        {"response_format": response_format, "sample_rate": sample_rate},
    )
    assert status == 200, created
    audio = base64.b64decode(created["output"]["preview_audio"]["data"])
    if response_format == "pcm":
        samples = len(audio) // 2
    else:
        samples = await decode_with_ffmpeg(audio, sample_rate)
    expected = synth_audio_seconds(PREVIEW_TEXT, 80)
    assert samples / sample_rate == pytest.approx(expected, abs=0.15)


@pytest.mark.parametrize(
    ("input_", "parameters"),
    [
        (design_input(target_model=VC_MODEL), None),
        (design_input(target_model=FLASH), None),
        (design_input(voice_prompt=""), None),
        (design_input(voice_prompt="x" * 2049), None),
        (design_input(preview_text=None), None),
        (design_input(preview_text="好" * 1025), None),
        (design_input(preferred_name="bad-name"), None),
        (design_input(preferred_name="a" * 17), None),
        (design_input(language="id"), None),
        (design_input(), {"sample_rate": 22050}),
        (design_input(), {"sample_rate": 24000.0}),
        (design_input(), {"response_format": "flac"}),
        (design_input(), ["wav"]),
    ],
)
async def test_design_errors(
    emulator: DashScopeEmulator,
    http: aiohttp.ClientSession,
    input_: dict[str, Any],
    parameters: Any,
) -> None:
    """Bad design requests are 400 InvalidParameter (B.6) and store nothing."""
    status, body = await design(http, emulator, input_, parameters)
    assert (status, body["code"]) == (400, "InvalidParameter")
    assert body["message"]
    assert emulator.voices == {}


async def test_design_limits_are_inclusive(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A 2048-character description and a 1024-character preview text are accepted."""
    status, body = await design(
        http, emulator, design_input(voice_prompt="x" * 2048, preview_text="好" * 1024)
    )
    assert status == 200, body


async def test_design_shares_the_voice_quota(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """Cloned and designed voices count against the same 1000 voices (B.8)."""
    for number in range(1000):
        voice = f"qwen-tts-vc-v{number}-voice-1"
        emulator.voices[voice] = VoiceRecord(voice=voice, target_model=VC_MODEL, preferred_name="v")
    status, body = await design(http, emulator, design_input())
    assert (status, body["code"]) == (400, "Throttling.AllocationQuota")


async def test_designed_voice_only_on_its_target_model(
    emulator: DashScopeEmulator, http: aiohttp.ClientSession
) -> None:
    """A VD model speaks a designed voice made for it, not another model's nor a made-up id."""
    _, created = await design(http, emulator, design_input())
    voice = created["output"]["voice"]
    async with connect(http, emulator, VD_MODEL) as conn:
        assert (await conn.configure(voice=voice))["type"] == "session.updated"
        await conn.send("input_text_buffer.append", text=PREVIEW_TEXT)
        await conn.send("session.finish")
        assert audio_of(await conn.rest())
    for model, other in (
        ("qwen3-tts-vd-realtime-2025-12-16", voice),
        (VD_MODEL, "qwen-tts-vd-madeup-voice-20260101000000000-ab12"),
    ):
        async with connect(http, emulator, model) as conn:
            error = await conn.configure(voice=other)
        assert error["type"] == "error"
        assert error["error"]["param"] == "session.voice"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


async def test_command_line(socket_enabled: None, http: aiohttp.ClientSession) -> None:
    """``python -m tests.dashscope_emulator`` prints its base URL and stops on Ctrl-C."""
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.dashscope_emulator", "--port", "0"],
        *["--api-key", "sk-cli", "--lenient", "--realtime"],
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(RECEIVE_GUARD):
            base_url = (await process.stdout.readline()).decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        async with http.post(
            base_url + "/api/v1/services/audio/tts/customization",
            json={"model": "qwen-voice-enrollment", "input": {"action": "list"}},
            headers={"Authorization": "Bearer sk-cli"},
        ) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        await process.communicate()
    assert process.returncode == 0
