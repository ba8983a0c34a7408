"""The voice design client against the emulator: design, preview, list, delete, limits."""

import base64
import struct
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.qwen_tts_realtime.api import (
    CLONING_MODELS,
    Endpoint,
    QwenTtsClient,
    QwenTtsRateLimitError,
    QwenTtsValidationError,
    QwenTtsVoiceNotFoundError,
    SessionConfig,
    VoiceKind,
)

from .conftest import API_KEY
from .dashscope_emulator import DashScopeEmulator, VoiceRecord, synth_audio_seconds
from .enrollment_helpers import DESIGN_LIMITS, PREVIEW_TEXT, PROMPT, VD_MODEL, VOICE_ID
from .tts_helpers import decode_audio, read_wav


def design_request(**fields: Any) -> dict[str, Any]:
    """Return the arguments of a valid ``design_voice`` call, changed by ``fields``."""
    return {
        "target_model": VD_MODEL,
        "voice_prompt": PROMPT,
        "preview_text": PREVIEW_TEXT,
        "preferred_name": "nainai",
        "language": "zh",
    } | fields


async def test_design_a_voice_and_hear_its_preview(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """The request is the documented one; the preview is a WAV of the preview text's length."""
    designed = await client.design_voice(**design_request())

    assert VOICE_ID.fullmatch(designed.voice.voice_id)
    assert designed.voice.target_model == VD_MODEL
    assert designed.voice.kind is VoiceKind.DESIGNED
    request = emulator.http_requests[-1]
    assert request == {
        "model": "qwen-voice-design",
        "input": {"action": "create", **design_request()},
        "parameters": {"sample_rate": 24000, "response_format": "wav"},
    }
    assert designed.preview is not None
    decoded = await decode_audio(designed.preview.wav)
    expected = synth_audio_seconds(PREVIEW_TEXT, emulator.options.ms_per_char)
    assert (decoded.codec, decoded.sample_rate, decoded.channels) == ("pcm_s16le", 24000, 1)
    assert decoded.seconds == pytest.approx(expected)
    assert designed.preview.seconds == pytest.approx(expected)


async def test_a_designed_voice_speaks_on_its_model(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """A session of the target model accepts the new voice and streams its audio."""
    designed = await client.design_voice(**design_request())

    async def text() -> AsyncIterator[str]:
        yield "今天天气很好。"

    config = SessionConfig(voice=designed.voice.voice_id)
    async with aclosing(client.synthesize(VD_MODEL, config, text())) as stream:
        pcm = b"".join([chunk async for chunk in stream])

    assert len(pcm) / 2 / 24000 == pytest.approx(synth_audio_seconds("今天天气很好。", 80))
    assert emulator.sessions[-1].config["voice"] == designed.voice.voice_id


async def test_list_covers_both_kinds_and_delete_finds_each(
    client: QwenTtsClient, emulator: DashScopeEmulator
) -> None:
    """Cloned and designed voices are listed together, newest first, each with its kind."""
    cloned = "qwen-tts-vc-guanyu-voice-20260101000000000-ab12"
    emulator.voices[cloned] = VoiceRecord(
        voice=cloned,
        target_model=CLONING_MODELS[0],
        preferred_name="guanyu",
        gmt_create="2026-01-01 00:00:00",
    )
    designed = await client.design_voice(**design_request())

    listed = await client.list_voices()

    assert [(voice.voice_id, voice.kind) for voice in listed] == [
        (designed.voice.voice_id, VoiceKind.DESIGNED),
        (cloned, VoiceKind.CLONED),
    ]
    assert listed[0].language == "zh"
    await client.delete_voice(designed.voice.voice_id)
    await client.delete_voice(cloned)
    assert emulator.voices == {}
    assert [request["model"] for request in emulator.http_requests[-2:]] == [
        "qwen-voice-design",
        "qwen-voice-enrollment",
    ]
    with pytest.raises(QwenTtsVoiceNotFoundError):
        await client.delete_voice(designed.voice.voice_id)


@pytest.mark.parametrize(
    ("fields", "reason", "details"),
    [
        *DESIGN_LIMITS,
        ({"target_model": CLONING_MODELS[0]}, "not_a_design_model", {"model": CLONING_MODELS[0]}),
        ({"target_model": "qwen3-tts-flash-realtime"}, "not_a_design_model", {}),
        ({"language": "id"}, "unsupported_language", {"value": "id"}),
    ],
)
async def test_limits_are_checked_before_sending(
    client: QwenTtsClient,
    emulator: DashScopeEmulator,
    fields: dict[str, str],
    reason: str,
    details: dict[str, str],
) -> None:
    """What the service would refuse is refused locally, with the values that explain it."""
    with pytest.raises(QwenTtsValidationError) as caught:
        await client.design_voice(**design_request(**fields))
    assert caught.value.reason == reason
    assert caught.value.details.items() >= details.items()
    assert emulator.http_requests == []


async def test_limits_are_inclusive(client: QwenTtsClient) -> None:
    """A 2048-character description and a 1024-character preview text are sent."""
    designed = await client.design_voice(
        **design_request(voice_prompt="慢" * 2048, preview_text="好" * 1024)
    )
    assert designed.preview is not None
    assert designed.preview.seconds == pytest.approx(1024 * 0.08)


def _streaming_wav(pcm: bytes, rate: int) -> bytes:
    """Return a WAV whose header claims the unknown (streaming) size, as live streams do."""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16),
        *(b"data", 0xFFFFFFFF),
    )
    return header + pcm


@pytest.mark.parametrize(
    ("preview_audio", "rate", "seconds"),
    [
        # Raw PCM (the other reading of "base64 audio"), at the rate the answer names.
        ({"data": base64.b64encode(bytes(32000)).decode(), "sample_rate": 16000}, 16000, 1.0),
        ({"data": base64.b64encode(bytes(48000)).decode()}, 24000, 1.0),
        ({"data": base64.b64encode(_streaming_wav(bytes(96000), 48000)).decode()}, 48000, 1.0),
        (None, None, None),
        ({"data": "not base64!"}, None, None),
        ({"data": base64.b64encode(b"RIFF\x00\x00\x00\x00WAVEjunk").decode()}, None, None),
    ],
)
async def test_preview_readings(
    http: aiohttp.ClientSession,
    aiohttp_server: Any,
    preview_audio: dict[str, Any] | None,
    rate: int | None,
    seconds: float | None,
) -> None:
    """PCM is wrapped, streaming sizes are fixed; without a usable preview the voice is kept."""
    voice = "qwen-tts-vd-nainai-voice-20260101000000-ab12"

    async def handler(_request: web.Request) -> web.Response:
        output: dict[str, Any] = {"voice": voice, "target_model": VD_MODEL}
        if preview_audio is not None:
            output["preview_audio"] = preview_audio
        return web.json_response({"output": output, "usage": {"count": 1}, "request_id": "1"})

    app = web.Application()
    app.router.add_post("/api/v1/services/audio/tts/customization", handler)
    server = await aiohttp_server(app)
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))

    designed = await client.design_voice(**design_request())

    assert designed.voice.voice_id == voice
    if rate is None:
        assert designed.preview is None
        return
    assert designed.preview is not None
    wav = read_wav(designed.preview.wav)
    assert (wav.sample_rate, wav.seconds, designed.preview.seconds) == (rate, seconds, seconds)
    assert wav.data_size_field == len(wav.frames)


async def test_an_endpoint_without_voice_design_still_lists_cloned_voices(
    client: QwenTtsClient, emulator: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused design list leaves the cloned voices usable and says designs are unknown."""
    cloned = "qwen-tts-vc-guanyu-voice-20260101000000000-ab12"
    emulator.voices[cloned] = VoiceRecord(
        voice=cloned, target_model=CLONING_MODELS[0], preferred_name="guanyu"
    )
    emulator.options.voice_design = False

    assert [voice.voice_id for voice in await client.list_voices()] == [cloned]
    assert client.unlisted_kinds == {VoiceKind.DESIGNED}
    assert "The designed voices cannot be listed: InvalidParameter" in caplog.text

    emulator.options.voice_design = True
    await client.list_voices()
    assert client.unlisted_kinds == frozenset()


async def test_a_throttled_design_list_is_an_error(
    http: aiohttp.ClientSession, aiohttp_server: Any
) -> None:
    """Throttling is worth retrying, so it is not taken for a missing design API."""

    async def handler(request: web.Request) -> web.Response:
        if (await request.json())["model"] == "qwen-voice-design":
            body = {"request_id": "1", "code": "Throttling", "message": "Requests throttling."}
            return web.json_response(body, status=429)
        return web.json_response({"output": {"voice_list": []}, "request_id": "1"})

    app = web.Application()
    app.router.add_post("/api/v1/services/audio/tts/customization", handler)
    server = await aiohttp_server(app)
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(str(server.make_url("/"))))

    with pytest.raises(QwenTtsRateLimitError):
        await client.list_voices()
