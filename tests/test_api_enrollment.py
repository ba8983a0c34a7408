"""The voice enrollment client against the emulator: create, list, delete, errors."""

import asyncio
import io
import math
import re
import struct
import wave

import aiohttp
import pytest
from aiohttp import web

from custom_components.qwen_tts_realtime.api import (
    CLONING_MODELS,
    Endpoint,
    QwenTtsApiError,
    QwenTtsAudioRejectedError,
    QwenTtsAuthError,
    QwenTtsClient,
    QwenTtsConnectionError,
    QwenTtsError,
    QwenTtsQuotaError,
    QwenTtsRateLimitError,
    QwenTtsTimeoutError,
    QwenTtsValidationError,
    QwenTtsVoiceNotFoundError,
    audio_data_uri,
)

from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, VoiceRecord

VC_MODEL = CLONING_MODELS[0]
VOICE_ID = re.compile(r"qwen-tts-vc-guanyu-voice-\d{17}-[0-9a-f]{4}")


def speech_like_wav(seconds: float = 12.0, rate: int = 24000) -> bytes:
    """Return a mono 16-bit WAV whose loudness moves like speech (loud enough to pass)."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        sample = envelope * math.sin(2 * math.pi * 220 * t) * 12000
        frames += struct.pack("<h", int(sample))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


async def test_create_list_delete(client: QwenTtsClient, emulator: DashScopeEmulator) -> None:
    """A cloned voice can be created, is listed, and is gone after deletion."""
    voice = await client.create_voice(
        target_model=VC_MODEL,
        preferred_name="guanyu",
        audio=audio_data_uri(speech_like_wav(), "audio/wav"),
        text="我是关羽",
        language="zh",
    )

    assert VOICE_ID.fullmatch(voice.voice_id)
    assert voice.target_model == VC_MODEL
    request = emulator.http_requests[-1]
    assert request["model"] == "qwen-voice-enrollment"
    assert request["input"]["text"] == "我是关羽"
    assert request["input"]["language"] == "zh"
    listed = await client.list_voices()
    assert [(v.voice_id, v.target_model) for v in listed] == [(voice.voice_id, VC_MODEL)]
    assert listed[0].created  # the server's creation time is passed on

    await client.delete_voice(voice.voice_id)
    assert await client.list_voices() == []
    with pytest.raises(QwenTtsVoiceNotFoundError) as caught:
        await client.delete_voice(voice.voice_id)
    assert voice.voice_id in caught.value.server_message


async def test_list_pages_through_everything(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """An account with more voices than one page holds gets all of them, each once."""
    for index in range(250):
        voice_id = f"qwen-tts-vc-v{index}-voice-20260101000000000-{index:04x}"
        emulator.voices[voice_id] = VoiceRecord(
            voice=voice_id, target_model=VC_MODEL, preferred_name=f"v{index}"
        )

    voices = await client.list_voices()

    assert len({voice.voice_id for voice in voices}) == 250
    pages = [
        r
        for r in emulator.http_requests
        if r["input"]["action"] == "list" and r["model"] == "qwen-voice-enrollment"
    ]
    assert len(pages) == 3


async def test_validate_key(client: QwenTtsClient, emulator: DashScopeEmulator) -> None:
    """Key validation is one free list call of a single item."""
    await client.validate_key()
    assert emulator.http_requests[-1]["input"] == {
        "action": "list",
        "page_index": 0,
        "page_size": 1,
    }


async def test_rejected_key(http: aiohttp.ClientSession, emulator: DashScopeEmulator) -> None:
    """A wrong key raises QwenTtsAuthError with the server's words."""
    client = QwenTtsClient(http, "sk-wrong", Endpoint.from_base_url(emulator.base_url))
    with pytest.raises(QwenTtsAuthError) as caught:
        await client.validate_key()
    assert caught.value.code == "InvalidApiKey"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "Audio.PreprocessError", QwenTtsAudioRejectedError),
        (400, "Throttling.AllocationQuota", QwenTtsQuotaError),
        (429, "Throttling.RateQuota", QwenTtsRateLimitError),
        (403, "AccessDenied", QwenTtsAuthError),
        (400, "InvalidParameter", QwenTtsApiError),
    ],
)
async def test_server_errors_keep_code_and_message(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    status: int,
    code: str,
    error: type[QwenTtsApiError],
) -> None:
    """Each documented error code maps to its exception and keeps the server's message."""
    emulator.fail_next_http(status, code, "The server says why.")
    with pytest.raises(error) as caught:
        await client.create_voice(
            target_model=VC_MODEL,
            preferred_name="guanyu",
            audio=audio_data_uri(speech_like_wav(), "audio/wav"),
        )
    assert caught.value.code == code
    assert caught.value.server_message == "The server says why."
    assert caught.value.status == status


async def test_recording_the_server_refuses(client: QwenTtsClient) -> None:
    """A recording that is too short is refused by the service with an Audio.* code."""
    with pytest.raises(QwenTtsAudioRejectedError) as caught:
        await client.create_voice(
            target_model=VC_MODEL,
            preferred_name="guanyu",
            audio=audio_data_uri(speech_like_wav(seconds=2), "audio/wav"),
        )
    assert caught.value.code.startswith("Audio.")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"preferred_name": "关羽"}, "invalid_preferred_name"),
        ({"preferred_name": "a" * 17}, "invalid_preferred_name"),
        ({"target_model": "qwen3-tts-flash-realtime"}, "not_a_cloning_model"),
        ({"language": "xx"}, "unsupported_language"),
        ({"audio": "data:audio/ogg;base64,AAAA"}, "unsupported_audio_type"),
        ({"audio": "data:audio/wav;base64," + "A" * (10 * 1024 * 1024)}, "audio_too_large"),
        ({"audio": "/config/www/me.wav"}, "invalid_audio"),
    ],
)
async def test_create_is_checked_before_uploading(
    client: QwenTtsClient, emulator: DashScopeEmulator, fields: dict[str, str], reason: str
) -> None:
    """Requests the service would refuse are refused locally, and nothing is uploaded."""
    request = {
        "target_model": VC_MODEL,
        "preferred_name": "guanyu",
        "audio": "https://example.invalid/me.wav",
        "language": None,
    } | fields
    with pytest.raises(QwenTtsValidationError) as caught:
        await client.create_voice(**request)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert emulator.http_requests == []


async def test_unreachable_service(http: aiohttp.ClientSession) -> None:
    """Nothing listening is a connection error."""
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url("http://127.0.0.1:9"))
    with pytest.raises(QwenTtsConnectionError):
        await client.list_voices()


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, "<html>Bad gateway</html>", QwenTtsConnectionError),
        (200, "<html>captive portal</html>", QwenTtsConnectionError),
        (404, "not here", QwenTtsApiError),
        (200, '{"output": {}}', None),
    ],
)
async def test_answers_that_are_not_dashscope(
    http: aiohttp.ClientSession,
    aiohttp_server: object,
    status: int,
    body: str,
    error: type[QwenTtsError] | None,
) -> None:
    """Proxy and gateway pages are told apart from DashScope errors."""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    app = web.Application()
    app.router.add_post("/api/v1/services/audio/tts/customization", handler)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))
    if error is None:
        assert await client.list_voices() == []
        return
    with pytest.raises(error):
        await client.list_voices()


async def test_create_answer_without_output(
    http: aiohttp.ClientSession, aiohttp_server: object
) -> None:
    """A create answer that names no voice is a protocol error, not a crash."""

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"request_id": "1", "output": {"target_model": VC_MODEL}})

    app = web.Application()
    app.router.add_post("/api/v1/services/audio/tts/customization", handler)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))
    with pytest.raises(QwenTtsError):
        await client.create_voice(
            target_model=VC_MODEL, preferred_name="guanyu", audio="https://example.invalid/a.wav"
        )


async def test_slow_service_times_out(http: aiohttp.ClientSession, aiohttp_server: object) -> None:
    """A service that never answers ends in QwenTtsTimeoutError."""
    release = asyncio.Event()

    async def handler(_request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/v1/services/audio/tts/customization", handler)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("custom_components.qwen_tts_realtime.api.client.LIST_TIMEOUT", 0.2)
        with pytest.raises(QwenTtsTimeoutError):
            await client.list_voices()
    release.set()
