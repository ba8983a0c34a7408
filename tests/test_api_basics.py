"""Endpoints, the model catalogue and WAV framing: the client's pure parts."""

import io
import wave

import pytest

from custom_components.qwen_tts_realtime.api import (
    MODELS,
    Endpoint,
    QwenTtsValidationError,
    Region,
    SessionStats,
    VoiceKind,
    get_model,
    language_type_for,
    models_for_region,
    pcm_to_wav,
    wav_header,
)


@pytest.mark.parametrize(
    ("region", "realtime", "customization"),
    [
        (
            Region.BEIJING,
            "wss://dashscope.aliyuncs.com/api-ws/v1/realtime?model=m",
            "https://dashscope.aliyuncs.com/api/v1/services/audio/tts/customization",
        ),
        (
            Region.SINGAPORE,
            "wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime?model=m",
            "https://dashscope-intl.aliyuncs.com/api/v1/services/audio/tts/customization",
        ),
    ],
)
def test_region_urls(region: Region, realtime: str, customization: str) -> None:
    """Each region's realtime and enrollment URLs are the documented ones."""
    endpoint = Endpoint.for_region(region)
    assert str(endpoint.realtime_url("m")) == realtime
    assert str(endpoint.customization_url) == customization


@pytest.mark.parametrize(
    ("base_url", "realtime"),
    [
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/api-ws/v1/realtime?model=m"),
        ("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/api-ws/v1/realtime?model=m"),
        (
            "https://ws-1.cn-beijing.maas.aliyuncs.com",
            "wss://ws-1.cn-beijing.maas.aliyuncs.com/api-ws/v1/realtime?model=m",
        ),
        ("https://proxy.lan/dash/", "wss://proxy.lan/dash/api-ws/v1/realtime?model=m"),
    ],
)
def test_custom_endpoint(base_url: str, realtime: str) -> None:
    """Workspace domains, proxies and the emulator work as custom base URLs."""
    endpoint = Endpoint.for_region(Region.CUSTOM, base_url)
    assert str(endpoint.realtime_url("m")) == realtime


@pytest.mark.parametrize(
    "base_url", ["", "dashscope.aliyuncs.com", "ftp://host", "https://h/?a=1", "http://u:p@h", "::"]
)
def test_bad_custom_endpoint(base_url: str) -> None:
    """A base URL that is not http(s)://host[:port] is refused with a reason."""
    with pytest.raises(QwenTtsValidationError) as caught:
        Endpoint.for_region(Region.CUSTOM, base_url)
    assert caught.value.reason == "invalid_base_url"


@pytest.mark.parametrize(
    ("tag", "language_type"),
    [
        ("zh-CN", "Chinese"),
        ("zh-HK", "Chinese"),
        ("yue", "Chinese"),
        ("en-GB", "English"),
        ("pt_BR", "Portuguese"),
        ("ja", "Japanese"),
        ("nl-NL", "Auto"),
    ],
)
def test_language_mapping(tag: str, language_type: str) -> None:
    """Locale tags map to the session's language_type; unknown ones let the model detect."""
    assert language_type_for(tag) == language_type


def test_catalogue() -> None:
    """The catalogue knows voices, dialects, regions and limits per model."""
    flash = get_model("qwen3-tts-flash-realtime")
    assert flash is not None
    assert flash.default_voice == "Cherry"
    rocky = flash.system_voice("Rocky")
    assert rocky is not None
    assert rocky.display_name == "Rocky (粤语 · Cantonese)"
    assert flash.system_voice("Nobody") is None
    mia = flash.system_voice("Mia")
    assert mia is not None
    assert mia.display_name == "Mia"
    assert flash.system_voice("Cherry").display_name == "Cherry (芊悦)"  # type: ignore[union-attr]
    assert {"Eldric Sage", "Ono Anna", "Radio Gol"} <= {v.voice_id for v in flash.voices}
    legacy = MODELS["qwen-tts-realtime"]
    assert (legacy.formats, legacy.sample_rates, legacy.tuning) == (("pcm",), (24000,), False)
    singapore = {model.model_id for model in models_for_region(Region.SINGAPORE)}
    assert "qwen-tts-realtime" not in singapore
    assert "qwen3-tts-flash-realtime" in singapore
    assert len(models_for_region(Region.CUSTOM)) == len(MODELS)
    vc = MODELS["qwen3-tts-vc-realtime-2026-01-15"]
    assert vc.voice_kind is VoiceKind.CLONED
    assert vc.default_voice is None


def test_wav_framing() -> None:
    """Complete WAV has exact sizes; the streaming header uses the 0xFFFFFFFF placeholder."""
    pcm = b"\x01\x00" * 16000
    with wave.open(io.BytesIO(pcm_to_wav(pcm, 16000))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() == 16000
    header = wav_header(24000)
    assert len(header) == 44
    assert header[4:8] == header[40:44] == b"\xff\xff\xff\xff"


@pytest.mark.parametrize(
    ("response", "characters", "tokens"),
    [
        ({"usage": {"characters": 25}}, 25, 0),
        (
            {"usage": {"total_tokens": 67, "input_tokens": 3, "output_tokens": 64}},
            0,
            67,
        ),
        ({"usage": {"characters": True}}, 0, 0),
        ({"usage": {"characters": -3, "total_tokens": "9"}}, 0, 0),
        ({"usage": None}, 0, 0),
        ({}, 0, 0),
        (None, 0, 0),
    ],
)
def test_usage_is_taken_from_response_done(response: object, characters: int, tokens: int) -> None:
    """Characters (Qwen3) or tokens (first generation) add up; odd usage counts nothing."""
    stats = SessionStats(model="m")
    stats.add_usage(response)
    stats.add_usage({"usage": {"characters": 5}} if characters else None)
    assert stats.billed_characters == characters + (5 if characters else 0)
    assert stats.billed_tokens == tokens
    assert stats.as_dict()["billed_tokens"] == tokens
