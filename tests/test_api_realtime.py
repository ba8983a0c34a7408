"""The realtime client against the emulator: streaming, modes, validation, faults, cleanup."""

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from http import HTTPStatus

import aiohttp
import pytest
from aiohttp import web

from custom_components.qwen_tts_realtime.api import (
    MAX_RESUMES,
    Endpoint,
    QwenTtsApiError,
    QwenTtsAuthError,
    QwenTtsClient,
    QwenTtsConnectionError,
    QwenTtsProtocolError,
    QwenTtsRateLimitError,
    QwenTtsTimeoutError,
    QwenTtsValidationError,
    RetryPolicy,
    SessionConfig,
    Timeouts,
)

from .api_helpers import drain, quick_client, texts
from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .tls_helpers import make_local_tls

FLASH = "qwen3-tts-flash-realtime"
SENTENCES = ["今天天气很好。", "Let's go for a walk in the park! ", "然后一起吃晚饭。"]
WRITER_TASK = "qwen_tts_text_writer"
# A fault in the first session and in each resumed one.
EVERY_SESSION = MAX_RESUMES + 1


@pytest.fixture
def client(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> QwenTtsClient:
    """A client on the emulator with short timeouts for the stall tests."""
    return quick_client(http, emulator)


async def _collect(
    client: QwenTtsClient, config: SessionConfig, chunks: Iterable[str], model: str = FLASH
) -> bytes:
    """Run one session to its end and return all audio."""
    return await drain(client.synthesize(model, config, texts(chunks)))


def _assert_clean() -> None:
    """No writer task may outlive its session."""
    assert not [task for task in asyncio.all_tasks() if task.get_name() == WRITER_TASK]


async def _assert_pool_free(client: QwenTtsClient) -> None:
    """The one-connection pool is free again: a new session completes."""
    async with asyncio.timeout(10):
        assert await _collect(client, SessionConfig(voice="Cherry"), ["好。"])


async def _assert_ended_gracefully(emulator: DashScopeEmulator) -> None:
    """The stopped session was ended the documented way before the socket closed.

    The text not yet spoken is cleared (nobody pays for it), ``session.finish`` ends
    the session and the service confirms it: the console does not count a failure.
    """
    await emulator.wait_sessions_closed()
    session = emulator.sessions[0]
    received = [event["type"] for event in session.received]
    assert received[-2:] == ["input_text_buffer.clear", "session.finish"]
    assert "never sent" not in [event.get("text") for event in session.received]
    assert session.finished
    assert not session.closed_by_client_early


async def test_server_commit_streams_all_audio(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Every appended chunk is spoken: the PCM lasts exactly as long as the whole text."""
    pcm = await _collect(client, SessionConfig(voice="Cherry", mode="server_commit"), SENTENCES)

    expected = synth_audio_seconds("".join(SENTENCES), emulator.options.ms_per_char)
    assert len(pcm) / 2 / 24000 == pytest.approx(expected, abs=0.001)
    session = emulator.sessions[0]
    received = [event["type"] for event in session.received]
    assert received == [
        "session.update",
        *["input_text_buffer.append"] * len(SENTENCES),
        "session.finish",
    ]
    assert [event["text"] for event in session.received[1:-1]] == SENTENCES
    assert session.finished
    # Several responses in one session: the tail after the first response.done is kept.
    assert sum(event["type"] == "response.done" for event in session.sent) == len(SENTENCES)
    stats = client.recent_sessions[-1]
    assert stats.session_id == session.session_id
    assert len(stats.response_ids) == len(SENTENCES)
    assert stats.characters_sent == len("".join(SENTENCES))
    assert stats.audio_bytes == len(pcm)
    assert stats.error is None
    times = [
        stats.connected,
        stats.session_created,
        stats.first_text_sent,
        stats.first_audio,
        stats.finished,
    ]
    assert None not in times
    assert times == sorted(times)  # type: ignore[type-var]
    _assert_clean()


async def test_audio_arrives_before_the_text_ends(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Audio of the first sentence is yielded while the text source still waits.

    The source only continues once the consumer holds audio, so a client that
    waited for the whole text would never finish (the timeout turns that into a failure).
    """
    got_audio = asyncio.Event()
    order: list[str] = []

    async def llm() -> AsyncIterator[str]:
        yield "第一句话说完了。"
        await got_audio.wait()
        order.append("text resumed")
        yield "第二句。"
        order.append("text ended")

    async with (
        asyncio.timeout(10),
        aclosing(client.synthesize(FLASH, SessionConfig(voice="Cherry"), llm())) as stream,
    ):
        async for _chunk in stream:
            if not got_audio.is_set():
                order.append("audio")
                got_audio.set()

    assert order == ["audio", "text resumed", "text ended"]
    assert emulator.sessions[0].finished


async def test_commit_mode_commits_each_sentence(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Commit mode (the default): chunks are regrouped into sentences, one commit and response each.

    The unfinished sentence of a chunk waits for the next chunk; the last one
    is committed when the text ends.
    """
    chunks = ["今天天气很好。明天", "也不错！Let's go", " for a walk in the park. And", " then"]
    pcm = await _collect(client, SessionConfig(voice="Cherry"), chunks)

    assert len(pcm) / 2 / 24000 == pytest.approx(synth_audio_seconds("".join(chunks), 80))
    session = emulator.sessions[0]
    assert session.config["mode"] == "commit"
    assert [event.get("text") for event in session.received[1:-1]] == [
        "今天天气很好。",
        None,
        "明天也不错！",
        None,
        "Let's go for a walk in the park. ",
        None,
        "And then",
        None,
    ]
    assert [event["type"] for event in session.received[1:-1:2]] == ["input_text_buffer.append"] * 4
    assert [event["type"] for event in session.received[2:-1:2]] == ["input_text_buffer.commit"] * 4
    assert sum(event["type"] == "response.done" for event in session.sent) == 4
    assert session.finished


async def test_session_update_carries_every_setting(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """All supported fields are sent once, in the first event, and unset ones are left out."""
    config = SessionConfig(
        voice="Cherry",
        response_format="wav",
        sample_rate=16000,
        speech_rate=1.2,
        pitch_rate=0.9,
        volume=70,
        language_type="Chinese",
        instructions="语速较快，带着笑意",
        optimize_instructions=True,
        enable_tn=True,
    )
    audio = await _collect(client, config, ["你好。"], model="qwen3-tts-instruct-flash-realtime")

    update = emulator.sessions[0].received[0]
    assert update["type"] == "session.update"
    assert update["session"] == {
        "voice": "Cherry",
        "mode": "commit",
        "response_format": "wav",
        "sample_rate": 16000,
        "speech_rate": 1.2,
        "pitch_rate": 0.9,
        "volume": 70,
        "language_type": "Chinese",
        "instructions": "语速较快，带着笑意",
        "optimize_instructions": True,
        "enable_tn": True,
    }
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getframerate() == 16000
        assert wav.getnchannels() == 1
        assert wav.getnframes() / 16000 == pytest.approx(synth_audio_seconds("你好。", 80))


@pytest.mark.parametrize(
    ("model", "config", "reason"),
    [
        (FLASH, SessionConfig(voice="Cherry", speech_rate=2.5), "out_of_range"),
        (FLASH, SessionConfig(voice="Cherry", volume=101), "out_of_range"),
        (FLASH, SessionConfig(voice="Cherry", sample_rate=22050), "unsupported_sample_rate"),
        (FLASH, SessionConfig(voice="Cherry", instructions="开心"), "unsupported_option"),
        (FLASH, SessionConfig(voice="Cherry", language_type="Klingon"), "unsupported_language"),
        (FLASH, SessionConfig(voice="qwen-tts-vc-me-voice-1"), "voice_not_for_model"),
        (FLASH, SessionConfig(voice=""), "voice_required"),
        ("qwen-tts-realtime", SessionConfig(voice="Cherry", speech_rate=1.1), "unsupported_option"),
        (
            "qwen-tts-realtime",
            SessionConfig(voice="Cherry", response_format="mp3"),
            "unsupported_format",
        ),
        ("qwen3-tts-vc-realtime-2026-01-15", SessionConfig(voice="Cherry"), "voice_not_for_model"),
        ("qwen3-tts-vd-realtime-2026-01-15", SessionConfig(voice="Cherry"), "voice_not_for_model"),
    ],
)
async def test_invalid_settings_are_refused_before_connecting(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    model: str,
    config: SessionConfig,
    reason: str,
) -> None:
    """What the model cannot do is refused locally, with a reason an app can translate."""
    with pytest.raises(QwenTtsValidationError) as caught:
        await _collect(client, config, ["你好"], model=model)
    assert caught.value.reason == reason
    assert emulator.sessions == []
    assert client.recent_sessions[-1].error == reason


async def test_unknown_model_gets_generic_checks_only(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A model newer than the catalogue is not refused locally; the server decides."""
    emulator.options.strict = False
    with pytest.raises(QwenTtsApiError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"], model="qwen9-tts")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, QwenTtsAuthError),
        (403, QwenTtsAuthError),
        (429, QwenTtsRateLimitError),
        (404, QwenTtsApiError),
        (500, QwenTtsConnectionError),
    ],
)
async def test_handshake_failures(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    status: int,
    error: type[Exception],
) -> None:
    """A refused upgrade (every retry too) becomes the matching typed error, nothing left open."""
    retried = status in {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.INTERNAL_SERVER_ERROR}
    for _ in range(client.retry.attempts if retried else 1):
        emulator.fail_next_handshake(status)
    with pytest.raises(error):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])
    assert client.recent_sessions[-1].error  # diagnostics say why it failed
    _assert_clean()
    await _assert_pool_free(client)


async def test_wrong_key_is_an_auth_error(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> None:
    """A key the service does not know raises QwenTtsAuthError."""
    client = QwenTtsClient(http, "sk-wrong", Endpoint.from_base_url(emulator.base_url))
    with pytest.raises(QwenTtsAuthError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])


async def test_unreachable_service(http: aiohttp.ClientSession) -> None:
    """Nothing listening is a connection error, not a hang."""
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url("http://127.0.0.1:9"))
    client.retry = RetryPolicy(base_delay=0)
    with pytest.raises(QwenTtsConnectionError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])


async def test_slow_handshake_times_out(
    http: aiohttp.ClientSession, emulator: DashScopeEmulator
) -> None:
    """A handshake slower than the connect timeout ends in QwenTtsTimeoutError."""
    emulator.options.handshake_delay = 5
    client = QwenTtsClient(
        http, API_KEY, Endpoint.from_base_url(emulator.base_url), timeouts=Timeouts(connect=0.2)
    )
    client.retry = RetryPolicy(attempts=1)
    with pytest.raises(QwenTtsTimeoutError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])


@pytest.mark.parametrize(
    ("code", "error", "sessions"),
    [
        ("InternalError", QwenTtsApiError, EVERY_SESSION),
        ("Throttling.RateQuota", QwenTtsRateLimitError, EVERY_SESSION),
        ("InvalidApiKey", QwenTtsAuthError, 1),  # a new session cannot cure it: not resumed
    ],
)
async def test_error_event_mid_stream(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    code: str,
    error: type[QwenTtsApiError],
    sessions: int,
) -> None:
    """An error event in every session keeps the server's code and message."""
    emulator.inject_error_event(code, "Something went wrong.", after_deltas=1, sessions=sessions)
    with pytest.raises(error) as caught:
        await _collect(client, SessionConfig(voice="Cherry"), SENTENCES)
    assert caught.value.code == code
    assert caught.value.server_message == "Something went wrong."
    assert client.recent_sessions[-1].error == code
    assert len(emulator.sessions) == sessions
    _assert_clean()
    await _assert_pool_free(client)


async def test_server_rejects_settings(client: QwenTtsClient, emulator: DashScopeEmulator) -> None:
    """A session.update the server refuses surfaces as its error (here: unknown system voice)."""
    with pytest.raises(QwenTtsApiError) as caught:
        await _collect(client, SessionConfig(voice="Nobody"), ["你好"])
    assert caught.value.code
    assert emulator.sessions[0].received[0]["type"] == "session.update"


async def test_dropped_connection(client: QwenTtsClient, emulator: DashScopeEmulator) -> None:
    """A connection lost mid-stream again and again is a connection error, never a short answer."""
    emulator.drop_connection(after_deltas=2, sessions=EVERY_SESSION)
    with pytest.raises(QwenTtsConnectionError):
        await _collect(client, SessionConfig(voice="Cherry"), SENTENCES)
    _assert_clean()
    await _assert_pool_free(client)


async def test_stalled_service_times_out(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A service that keeps stopping mid-answer ends in QwenTtsTimeoutError, not a hang."""
    emulator.stall(after_deltas=1, sessions=EVERY_SESSION)
    with pytest.raises(QwenTtsTimeoutError):
        await _collect(client, SessionConfig(voice="Cherry"), SENTENCES)
    _assert_clean()
    await _assert_pool_free(client)


async def test_slow_text_does_not_time_out(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """While the text source pauses (an LLM thinking) the silence is not a timeout.

    The source waits until the server has answered the first sentence and longer
    than the gap timeout (0.5 s) before continuing.
    """

    async def thinking_llm() -> AsyncIterator[str]:
        yield "先说一句。"
        await emulator.wait_for_client_event("input_text_buffer.append")
        await asyncio.sleep(1.0)  # longer than the gap timeout: the pause under test
        yield "再说一句。"

    async with aclosing(
        client.synthesize(FLASH, SessionConfig(voice="Cherry"), thinking_llm())
    ) as stream:
        pcm = b"".join([chunk async for chunk in stream])
    assert len(pcm) / 2 / 24000 == pytest.approx(synth_audio_seconds("先说一句。再说一句。", 80))


async def test_cancelling_the_consumer_closes_everything(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Stopping after the first chunk closes the socket and ends the writer."""
    never = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        yield "开始说话。"
        await never.wait()
        yield "never sent"

    async with aclosing(
        client.synthesize(FLASH, SessionConfig(voice="Cherry"), endless())
    ) as stream:
        async for _chunk in stream:
            break

    _assert_clean()
    await _assert_pool_free(client)
    await _assert_ended_gracefully(emulator)
    # What the service finished after the stop is billed, so the usage counts it.
    billed = sum(
        event["response"]["usage"]["characters"]
        for event in emulator.sessions[0].sent
        if event["type"] == "response.done"
    )
    assert billed
    assert client.recent_sessions[0].billed_characters == billed


async def test_cancelled_task_closes_everything(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Cancelling the task that consumes the audio cleans up the same way."""
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async def endless() -> AsyncIterator[str]:
            yield "开始说话。"
            await asyncio.Event().wait()
            yield ""

        async with aclosing(
            client.synthesize(FLASH, SessionConfig(voice="Cherry"), endless())
        ) as stream:
            async for _chunk in stream:
                first_chunk.set()

    task = asyncio.create_task(consume())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _assert_clean()
    await _assert_pool_free(client)
    await _assert_ended_gracefully(emulator)


@pytest.mark.parametrize("fault", ["error", "drop"])
async def test_stopping_early_while_the_service_fails_raises_nothing(
    client: QwenTtsClient, emulator: DashScopeEmulator, fault: str
) -> None:
    """The service fails as the caller stops: the caller is not handed that failure."""
    if fault == "error":
        emulator.inject_error_event("InternalError", "Something broke.", after_deltas=1)
    else:
        emulator.drop_connection(after_deltas=1)
    async with aclosing(
        client.synthesize(FLASH, SessionConfig(voice="Cherry"), texts(SENTENCES))
    ) as stream:
        async for _chunk in stream:
            break
    await emulator.wait_sessions_closed()
    assert not emulator.sessions[0].finished
    _assert_clean()
    await _assert_pool_free(client)


async def test_stopping_early_is_bounded_when_the_service_is_silent(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A service that never confirms the finish does not hold the caller: the socket closes."""
    emulator.stall(after_deltas=1)
    async with aclosing(
        client.synthesize(FLASH, SessionConfig(voice="Cherry"), texts(SENTENCES))
    ) as stream:
        async for _chunk in stream:
            break
    await emulator.wait_sessions_closed()
    [session] = emulator.sessions
    assert session.received[-1]["type"] == "session.finish"
    assert session.closed_by_client_early  # no session.finished came: we closed, after waiting
    _assert_clean()


async def test_text_source_failure_propagates(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """When the text source fails, its error reaches the consumer and the socket closes."""

    class LlmFailedError(Exception):
        """The language model broke off."""

    async def broken() -> AsyncIterator[str]:
        yield "一句话。"
        await emulator.wait_for_client_event("input_text_buffer.append")
        raise LlmFailedError

    with pytest.raises(LlmFailedError):
        await drain(client.synthesize(FLASH, SessionConfig(voice="Cherry"), broken()))
    _assert_clean()
    await _assert_pool_free(client)


async def test_empty_text_finishes_without_audio(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """No text means no audio, and the session still ends cleanly."""
    assert await _collect(client, SessionConfig(voice="Cherry"), ["", ""]) == b""
    assert emulator.sessions[0].finished


CREATED = '{"type": "session.created", "session": {"id": "sess_1"}}'


async def _misbehaving_server(
    aiohttp_server: object, frames: list[str | bytes], first: str | None = CREATED
) -> Endpoint:
    """Serve a realtime endpoint that sends ``first`` (session.created) and then ``frames``."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if first is None:
            await ws.receive()  # never sends session.created; wait for the client to go
            return ws
        await ws.send_str(first)
        await ws.receive()  # session.update
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/api-ws/v1/realtime", handler)
    server = await aiohttp_server(app)  # type: ignore[operator]
    return Endpoint.from_base_url(str(server.make_url("/")))


@pytest.mark.parametrize(
    "frames",
    [
        ["not json"],
        ['{"no": "type"}'],
        [b"\x00\x01"],
        ['{"type": "response.audio.delta", "delta": "***"}'],
        ['{"type": "response.audio.delta"}'],
    ],
)
async def test_protocol_violations(
    http: aiohttp.ClientSession, aiohttp_server: object, frames: list[str | bytes]
) -> None:
    """Frames the protocol does not allow raise QwenTtsProtocolError."""
    endpoint = await _misbehaving_server(aiohttp_server, frames)
    client = QwenTtsClient(http, API_KEY, endpoint)
    with pytest.raises(QwenTtsProtocolError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])
    _assert_clean()


async def test_failed_response_status(http: aiohttp.ClientSession, aiohttp_server: object) -> None:
    """A response that ends as ``failed`` raises with the server's reason."""
    endpoint = await _misbehaving_server(
        aiohttp_server,
        [
            '{"type": "response.created", "response": {"id": "resp_1"}}',
            (
                '{"type": "response.done", "response": {"id": "resp_1", "status": "failed",'
                ' "status_details": {"error": {"code": "DataInspectionFailed",'
                ' "message": "Input data may contain inappropriate content."}}}}'
            ),
        ],
    )
    client = QwenTtsClient(http, API_KEY, endpoint)
    with pytest.raises(QwenTtsApiError) as caught:
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])
    assert caught.value.code == "DataInspectionFailed"


async def test_close_before_session_created(
    http: aiohttp.ClientSession, aiohttp_server: object
) -> None:
    """A server that closes right after the upgrade is a connection error."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/api-ws/v1/realtime", handler)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))
    with pytest.raises(QwenTtsConnectionError):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (
            '{"type": "error", "error": {"code": "Arrearage", "message": "Overdue."}}',
            QwenTtsApiError,
        ),
        ('{"type": "response.done"}', QwenTtsProtocolError),
        (None, QwenTtsTimeoutError),
    ],
)
async def test_session_must_start_with_session_created(
    http: aiohttp.ClientSession,
    aiohttp_server: object,
    first: str | None,
    error: type[Exception],
) -> None:
    """An error, another event, or silence instead of session.created ends the request."""
    endpoint = await _misbehaving_server(aiohttp_server, [], first=first)
    client = QwenTtsClient(http, API_KEY, endpoint, timeouts=Timeouts(connect=0.3, close=0.3))
    with pytest.raises(error):
        await _collect(client, SessionConfig(voice="Cherry"), ["你好"])
    assert client.recent_sessions[-1].error
    _assert_clean()


async def test_speaks_over_tls(socket_enabled: None) -> None:
    """The real service is only reachable as wss: the client speaks TLS to a trusted host."""
    tls = make_local_tls()
    emulator = DashScopeEmulator()
    await emulator.start(ssl_context=tls.server_context)
    try:
        assert emulator.base_url.startswith("https://")
        connector = aiohttp.TCPConnector(ssl=tls.client_context)
        async with aiohttp.ClientSession(connector=connector) as http:
            client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))
            pcm = await _collect(client, SessionConfig(voice="Cherry"), SENTENCES)
        expected = synth_audio_seconds("".join(SENTENCES), emulator.options.ms_per_char)
        assert len(pcm) / 2 / 24000 == pytest.approx(expected, abs=0.001)
        assert emulator.sessions[0].finished
    finally:
        await emulator.close()
    _assert_clean()


async def test_unanswered_commit_times_out_while_the_text_pauses(
    http: aiohttp.ClientSession, aiohttp_server: object
) -> None:
    """A committed sentence is owed a response even while the LLM is still thinking."""
    commits = 0

    async def silent(request: web.Request) -> web.WebSocketResponse:
        """Greet, then take every client event and never answer."""
        nonlocal commits
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(CREATED)
        async for message in ws:
            commits += '"input_text_buffer.commit"' in message.data
        return ws

    async def thinking() -> AsyncIterator[str]:
        """Write one sentence, then think for ever."""
        yield "第一句话。"
        await asyncio.Event().wait()

    app = web.Application()
    app.router.add_get("/api-ws/v1/realtime", silent)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = QwenTtsClient(
        http,
        API_KEY,
        Endpoint.from_base_url(str(server.make_url("/"))),
        timeouts=Timeouts(first_audio=0.2),
    )
    client.retry = RetryPolicy(attempts=2, base_delay=0)
    with pytest.raises(QwenTtsTimeoutError):
        await drain(client.synthesize(FLASH, SessionConfig(voice="Cherry"), thinking()))
    assert commits == 2  # each attempt committed the sentence and waited for its answer
    _assert_clean()
