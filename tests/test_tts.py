"""The TTS entities in a real Home Assistant, speaking through the DashScope emulator."""

import asyncio
from collections.abc import AsyncGenerator
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

import pytest
from homeassistant.components import tts
from homeassistant.components.tts.const import DATA_COMPONENT
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.qwen_tts_realtime.api import MAX_RESUMES, get_model, language_type_for
from custom_components.qwen_tts_realtime.audio_output import AudioPlan, plan_audio
from custom_components.qwen_tts_realtime.const import (
    CONF_AUDIO_OUTPUT,
    CONF_INSTRUCTIONS,
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_VOICE,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
    DOMAIN,
    OUTPUT_AUTO,
    OUTPUT_MP3,
    OUTPUT_WAV,
    SUBENTRY_TTS,
)
from custom_components.qwen_tts_realtime.data import async_refresh_voices
from custom_components.qwen_tts_realtime.tts import (
    LANGUAGE_TAGS,
    SILENCE_SECONDS,
    QwenTtsEntity,
    voice_list,
)

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator, VoiceRecord, synth_audio_seconds
from .tts_helpers import (
    MP3_SLACK_PER_RESPONSE,
    OPUS_SEAM_SLACK,
    Pages,
    decode_audio,
    read_wav,
    received_events,
    retrieve_media,
    sent_audio_bytes,
)

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

CHERRY = "tts.cherry"
VC_MODEL = "qwen3-tts-vc-realtime-2026-01-15"
CLONED_VOICE = "qwen-tts-vc-grandpa-voice-20260301101010123-a1b2"
MESSAGE = "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。"


def _seconds(emulator: DashScopeEmulator, text: str) -> float:
    """Return the duration of the audio the emulator makes for ``text``."""
    return synth_audio_seconds(text, emulator.options.ms_per_char)


def _responses(emulator: DashScopeEmulator) -> int:
    """Return how many responses the emulator sent in its last session."""
    return sum(event["type"] == "response.created" for event in emulator.sessions[-1].sent)


def _entity(hass: HomeAssistant, entity_id: str = CHERRY) -> QwenTtsEntity:
    """Return our entity object."""
    entity = hass.data[DATA_COMPONENT].get_entity(entity_id)
    assert isinstance(entity, QwenTtsEntity)
    return entity


async def _speak(
    hass: HomeAssistant, message: str, options: dict[str, Any] | None = None, **extra: Any
) -> str:
    """Call ``tts.speak`` to a media player and return the media content id it got."""
    calls = async_mock_service(hass, "media_player", "play_media")
    await hass.services.async_call(
        "tts",
        "speak",
        {
            "entity_id": extra.pop("entity_id", CHERRY),
            "media_player_entity_id": "media_player.kitchen",
            "message": message,
            **({"options": options} if options else {}),
            **extra,
        },
        blocking=True,
    )
    assert len(calls) == 1
    return str(calls[0].data["media_content_id"])


async def _add_profile(
    hass: HomeAssistant, entry: MockConfigEntry, title: str, **data: Any
) -> None:
    """Add a voice profile to an entry that is not set up yet (no warm session, see conftest)."""
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType({**DEFAULT_PROFILE, CONF_WARM_SESSION: False, **data}),
            subentry_type=SUBENTRY_TTS,
            title=title,
            unique_id=None,
        ),
    )


@pytest.fixture
async def profiles(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up an account with four profiles: Cherry, a cloned voice, the legacy model, Narrator."""
    emulator.voices[CLONED_VOICE] = VoiceRecord(
        voice=CLONED_VOICE,
        target_model=VC_MODEL,
        preferred_name="grandpa",
        gmt_create="2026-03-01 10:10:10",
    )
    mock_config_entry.add_to_hass(hass)
    await _add_profile(hass, mock_config_entry, "Grandpa", model=VC_MODEL, voice=CLONED_VOICE)
    await _add_profile(
        hass,
        mock_config_entry,
        "Legacy",
        **{CONF_MODEL: "qwen-tts-realtime", CONF_VOICE: "Serena"},
    )
    await _add_profile(
        hass,
        mock_config_entry,
        "Narrator",
        **{
            CONF_MODEL: "qwen3-tts-instruct-flash-realtime",
            CONF_VOICE: "Ethan",
            CONF_INSTRUCTIONS: "Speak slowly, like a storyteller.",
            CONF_LANGUAGE_TYPE: "Japanese",
            CONF_AUDIO_OUTPUT: OUTPUT_WAV,
        },
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


async def test_entity_per_profile(
    hass: HomeAssistant,
    profiles: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each voice profile is an entity named after it, on its own service device, keyed by it."""
    entries = [
        entry
        for entry in er.async_entries_for_config_entry(entity_registry, profiles.entry_id)
        if entry.domain == "tts"
    ]
    assert sorted(entry.entity_id for entry in entries) == [
        CHERRY,
        "tts.grandpa",
        "tts.legacy",
        "tts.narrator",
    ]
    cherry = entity_registry.async_get(CHERRY)
    assert cherry is not None
    assert cherry.unique_id == PROFILE_SUBENTRY_ID
    assert cherry.config_subentry_id == PROFILE_SUBENTRY_ID
    device = device_registry.async_get(cherry.device_id or "")
    assert isinstance(device, dr.DeviceEntry)
    assert (device.name, device.model, device.entry_type) == (
        "Cherry",
        "qwen3-tts-flash-realtime",
        dr.DeviceEntryType.SERVICE,
    )
    state = hass.states.get(CHERRY)
    assert state is not None
    assert state.attributes["friendly_name"] == "Cherry"
    # The pickers (Media, pipelines, tts.speak) list the entities by their names.
    names = {_entity(hass, entry.entity_id).name for entry in entries}
    assert names == {"Cherry", "Grandpa", "Legacy", "Narrator"}


async def test_existing_entity_id_is_kept(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_client: ClientSessionGenerator,
) -> None:
    """An install from when entities were called "Speech" keeps ``tts.<profile>_speech``."""
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "tts",
        DOMAIN,
        PROFILE_SUBENTRY_ID,
        config_entry=mock_config_entry,
        config_subentry_id=PROFILE_SUBENTRY_ID,
        suggested_object_id="cherry_speech",
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    entries = er.async_entries_for_config_entry(entity_registry, mock_config_entry.entry_id)
    assert [entry.entity_id for entry in entries if entry.domain == "tts"] == ["tts.cherry_speech"]
    state = hass.states.get("tts.cherry_speech")
    assert state is not None
    assert state.attributes["friendly_name"] == "Cherry"
    status, audio = await retrieve_media(
        hass, hass_client, await _speak(hass, "你好。", entity_id="tts.cherry_speech")
    )
    assert status == HTTPStatus.OK
    assert (await decode_audio(audio)).seconds > 0


async def test_languages_follow_the_model(hass: HomeAssistant, profiles: MockConfigEntry) -> None:
    """Qwen3 profiles offer every language with regional tags; the legacy one zh and en only."""
    cherry = _entity(hass)
    for tag in ("zh-CN", "zh-TW", "zh-HK", "yue", "en-US", "en-GB", "de-DE", "it-IT", "pt-BR"):
        assert tag in cherry.supported_languages
    for tag in ("es-ES", "es-MX", "ja-JP", "ko-KR", "fr-FR", "fr-CA", "ru-RU"):
        assert tag in cherry.supported_languages
    legacy = _entity(hass, "tts.legacy")
    assert {language_type_for(tag) for tag in legacy.supported_languages} == {
        "Chinese",
        "English",
    }
    # Every tag maps back to the language type it is listed under.
    assert all(
        language_type_for(tag) == name for name, tags in LANGUAGE_TAGS.items() for tag in tags
    )
    # Home Assistant's language (English in tests) is the default; a fixed profile language wins.
    assert cherry.default_language == "en-US"
    assert _entity(hass, "tts.narrator").default_language == "ja-JP"


@pytest.mark.parametrize(
    ("ha_language", "expected"), [("zh-Hans", "zh-CN"), ("zh-Hant", "zh-HK"), ("nl", "zh-CN")]
)
async def test_default_language_follows_home_assistant(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, ha_language: str, expected: str
) -> None:
    """A Chinese Home Assistant speaks Chinese by default; so does an unsupported language."""
    hass.config.language = ha_language
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert _entity(hass).default_language == expected


async def test_speak_mp3_streams_the_service_mp3_untouched(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A media player gets the service's own MP3: decodable, as long as the text, not re-encoded."""
    media_id = await _speak(hass, MESSAGE, language="zh-CN")

    status, body = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.OK
    session = emulator.sessions[0]
    assert session.config["response_format"] == "mp3"
    assert session.config["language_type"] == "Chinese"
    assert len(body) == sent_audio_bytes(session)
    audio = await decode_audio(body)
    assert (audio.codec, audio.sample_rate, audio.channels) == ("mp3", 24000, 1)
    expected = _seconds(emulator, MESSAGE)
    assert expected <= audio.seconds <= expected + MP3_SLACK_PER_RESPONSE * _responses(emulator)


async def test_speak_wav_16k_for_a_satellite(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A satellite asking for 16 kHz WAV gets 16 kHz audio the service made at 16 kHz."""
    options = {
        tts.ATTR_PREFERRED_FORMAT: "wav",
        tts.ATTR_PREFERRED_SAMPLE_RATE: 16000,
        tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
        tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
    }
    media_id = await _speak(hass, MESSAGE, options, language="zh-CN")

    status, body = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.OK
    assert emulator.sessions[0].config["response_format"] == "pcm"
    assert emulator.sessions[0].config["sample_rate"] == 16000
    wav = read_wav(body)
    assert (wav.sample_rate, wav.channels, wav.sample_width) == (16000, 1, 2)
    assert wav.seconds == pytest.approx(_seconds(emulator, MESSAGE), abs=1 / 16000)


@pytest.mark.parametrize(
    ("rate", "channels", "width", "service_rate"),
    [
        (16000, 1, 2, 16000),  # ESPHome / VoIP: the service makes it as it is
        (22050, 1, 2, 24000),  # Wyoming: resampled here
        (44100, 2, 2, 48000),  # a stereo media player
        (8000, 1, 1, 8000),  # 8-bit: unsigned samples
        (48000, 1, 4, 48000),
    ],
)
async def test_wav_has_exactly_the_requested_shape(
    hass: HomeAssistant,
    *,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    rate: int,
    channels: int,
    width: int,
    service_rate: int,
) -> None:
    """The entity's own WAV has the requested rate, channels and width (2026.11 won't convert it).

    One streaming header (sizes 0xFFFFFFFF, what ESPHome needs), then PCM that
    decodes to the length of the text.
    """
    options = {
        **(_entity(hass).default_options or {}),
        tts.ATTR_PREFERRED_FORMAT: "wav",
        tts.ATTR_PREFERRED_SAMPLE_RATE: rate,
        tts.ATTR_PREFERRED_SAMPLE_CHANNELS: channels,
        tts.ATTR_PREFERRED_SAMPLE_BYTES: width,
    }

    response = await _entity(hass).async_stream_tts_audio(
        TTSAudioRequest("zh-CN", options, _chunks(MESSAGE))
    )
    body = b"".join([chunk async for chunk in response.data_gen])

    assert response.extension == "wav"
    assert emulator.sessions[0].config["sample_rate"] == service_rate
    assert body[:4] == b"RIFF"
    assert body[4:8] == b"\xff\xff\xff\xff"
    assert body.count(b"RIFF") == 1
    wav = read_wav(body)
    assert wav.data_size_field == 0xFFFFFFFF
    assert (wav.sample_rate, wav.channels, wav.sample_width) == (rate, channels, width)
    expected = _seconds(emulator, MESSAGE)
    assert wav.seconds == pytest.approx(expected, abs=2 / rate)
    decoded = await decode_audio(body[:44].replace(b"\xff\xff\xff\xff", b"\0\0\0\0") + wav.frames)
    assert decoded.seconds == pytest.approx(expected, abs=2 / rate)
    if width == 1:
        # Unsigned 8-bit samples centre on 128: the tone was biased, not wrapped around.
        assert sum(wav.frames) / len(wav.frames) == pytest.approx(128, abs=2)


async def _read_into(stream: tts.ResultStream, chunks: list[bytes]) -> None:
    """Read a result stream to its end, keeping what arrives even if it then fails."""
    async for chunk in stream.async_stream_result():
        chunks.append(chunk)  # noqa: PERF401 - keep what arrived before a failure


async def _chunks(*parts: str) -> AsyncGenerator[str]:
    """Yield text chunks like a streaming LLM."""
    for part in parts:
        yield part


async def test_text_streams_in_and_audio_out_before_the_text_ends(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Audio comes back while the LLM is still writing; the session gets the text in order."""
    first_audio = asyncio.Event()
    parts = ["今天天气", "很好。Let's go ", "for a **walk** in the park! ", "然后一起", "吃晚饭。"]

    async def llm_answer() -> AsyncGenerator[str]:
        """Write two parts, then wait until the listener has heard the first audio."""
        yield parts[0]
        yield parts[1]
        await first_audio.wait()
        for part in parts[2:]:
            yield part

    assert _entity(hass).async_supports_streaming_input()
    stream = tts.async_create_stream(
        hass, CHERRY, "zh-CN", options={tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message_stream(llm_answer())
    chunks = []
    async for chunk in stream.async_stream_result():
        chunks.append(chunk)
        first_audio.set()

    wav = read_wav(b"".join(chunks))
    spoken = "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。"
    assert wav.sample_rate == 24000
    assert wav.seconds == pytest.approx(_seconds(emulator, spoken), abs=1 / 24000)
    session = emulator.sessions[0]
    appended = [event["text"] for event in session.received if "text" in event]
    assert "".join(appended) == spoken
    assert [event["type"] for event in session.received][-1] == "session.finish"
    assert session.finished
    assert received_events(session) == snapshot


async def test_markdown_is_spoken_as_plain_text_and_never_cut(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """LLM Markdown reaches the service as plain words; a long answer is sent whole."""
    paragraph = "## 今日安排\n\n- **上午**：去 [公园](https://example.com/park_map) 散步。\n"
    spoken_paragraph = "今日安排\n上午：去 公园 散步。"
    message = paragraph * 40 + "Use `snake_case` names; 2*3*4 = 24 😀 https://ha.io/a_b_c"
    spoken = "\n".join([spoken_paragraph] * 40) + (
        "\nUse snake_case names; 2*3*4 = 24 😀 https://ha.io/a_b_c"
    )
    media_id = await _speak(hass, message, {tts.ATTR_PREFERRED_FORMAT: "wav"}, language="zh-CN")

    status, body = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.OK
    appended = [event["text"] for event in emulator.sessions[0].received if "text" in event]
    assert "".join(appended) == spoken
    assert read_wav(body).seconds == pytest.approx(_seconds(emulator, spoken), abs=1 / 24000)


async def test_same_request_is_cached_changed_voice_or_rate_is_not(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """Home Assistant replays a cached answer only when nothing that changes the audio changed."""
    for options in (None, None, {"voice": "Ethan"}, {"speech_rate": 1.5}, {"speech_rate": 1.5}):
        await retrieve_media(hass, hass_client, await _speak(hass, "你好。", options))
    assert [(s.config["voice"], s.config["speech_rate"]) for s in emulator.sessions] == [
        ("Cherry", 1.0),
        ("Ethan", 1.0),
        ("Cherry", 1.5),
    ]

    # The profile's voice changes: the same call must not replay Cherry.
    hass.config_entries.async_update_subentry(
        init_integration,
        init_integration.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False, CONF_VOICE: "Serena"},
    )
    await hass.async_block_till_done()
    await retrieve_media(hass, hass_client, await _speak(hass, "你好。"))

    assert [s.config["voice"] for s in emulator.sessions][-1] == "Serena"


async def test_switching_the_audio_output_is_not_answered_from_the_cache(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A profile switched from the service's MP3 to WAV gets a new session, not the old MP3.

    With WAV the service sends PCM and Home Assistant encodes the MP3 the player
    asked for: that is why a user switches (a player that chokes on the service's
    MP3), so replaying the cached one would undo the switch.
    """
    _, service_mp3 = await retrieve_media(hass, hass_client, await _speak(hass, "你好。"))
    hass.config_entries.async_update_subentry(
        init_integration,
        init_integration.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False, CONF_AUDIO_OUTPUT: OUTPUT_WAV},
    )
    await hass.async_block_till_done()

    status, body = await retrieve_media(hass, hass_client, await _speak(hass, "你好。"))

    assert status is HTTPStatus.OK
    assert [session.config["response_format"] for session in emulator.sessions] == ["mp3", "pcm"]
    assert body != service_mp3
    audio = await decode_audio(body)
    assert (audio.codec, audio.sample_rate) == ("mp3", 24000)
    assert audio.seconds == pytest.approx(_seconds(emulator, "你好。"), abs=0.1)

    # WAV asked for by the caller is the service's PCM as it came, one streaming header.
    status, body = await retrieve_media(
        hass, hass_client, await _speak(hass, "你好。", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    )
    assert status is HTTPStatus.OK
    assert len(emulator.sessions) == 3
    wav = read_wav(body)
    assert (wav.sample_rate, wav.channels, wav.sample_width) == (24000, 1, 2)
    assert wav.seconds == pytest.approx(_seconds(emulator, "你好。"), abs=1 / 24000)


async def test_profile_settings_reach_the_service(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    profiles: MockConfigEntry,
) -> None:
    """Instructions and a fixed language go out with the session; call options override them."""
    await retrieve_media(
        hass, hass_client, await _speak(hass, "こんにちは。", entity_id="tts.narrator")
    )
    await retrieve_media(
        hass,
        hass_client,
        await _speak(
            hass,
            "Hello.",
            {CONF_INSTRUCTIONS: "Whisper.", CONF_LANGUAGE_TYPE: "English", "pitch_rate": 0.8},
            entity_id="tts.narrator",
        ),
    )

    first, second = (session.received[0]["session"] for session in emulator.sessions)
    assert first["instructions"] == "Speak slowly, like a storyteller."
    assert first["language_type"] == "Japanese"
    assert (first["voice"], first["response_format"]) == ("Ethan", "pcm")  # audio output: wav
    assert second["instructions"] == "Whisper."
    assert (second["language_type"], second["pitch_rate"]) == ("English", 0.8)


async def test_legacy_model_speaks_pcm_converted_by_home_assistant(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    profiles: MockConfigEntry,
) -> None:
    """qwen-tts-realtime only makes 24 kHz PCM: the player still gets the MP3 it asked for."""
    media_id = await _speak(hass, MESSAGE, entity_id="tts.legacy", language="zh-CN")

    status, body = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.OK
    session = emulator.sessions[0].received[0]["session"]
    assert (session["response_format"], session["sample_rate"]) == ("pcm", 24000)
    assert "speech_rate" not in session
    audio = await decode_audio(body)
    assert (audio.codec, audio.sample_rate) == ("mp3", 24000)
    assert audio.seconds == pytest.approx(_seconds(emulator, MESSAGE), abs=0.1)


async def test_mp3_profile_asks_the_service_for_mp3_even_for_a_satellite(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A profile set to MP3 gets MP3 at the wanted rate; Home Assistant unwraps it into WAV."""
    hass.config_entries.async_update_subentry(
        init_integration,
        init_integration.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False, CONF_AUDIO_OUTPUT: OUTPUT_MP3},
    )
    await hass.async_block_till_done()
    options = {tts.ATTR_PREFERRED_FORMAT: "wav", tts.ATTR_PREFERRED_SAMPLE_RATE: 16000}
    media_id = await _speak(hass, MESSAGE, options, language="zh-CN")

    status, body = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.OK
    assert (
        emulator.sessions[0].config["response_format"],
        emulator.sessions[0].config["sample_rate"],
    ) == ("mp3", 16000)
    wav = read_wav(body)
    assert wav.sample_rate == 16000
    expected = _seconds(emulator, MESSAGE)
    assert expected <= wav.seconds <= expected + MP3_SLACK_PER_RESPONSE * _responses(emulator)


# Five sentences: five responses, so five encoder streams when the service encodes.
LONG_MESSAGE = "第一句话。Second sentence here! 第三句话。The fourth one. 最后一句话。"


@pytest.mark.parametrize(
    ("preferred_format", "codec", "slack_per_seam"),
    [
        ("opus", "opus", OPUS_SEAM_SLACK),
        ("mp3", "mp3", MP3_SLACK_PER_RESPONSE),
        ("wav", "pcm_s16le", 0.0),
        ("flac", "flac", 0.0),
    ],
)
async def test_several_responses_play_to_the_end_in_every_format(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    preferred_format: str,
    codec: str,
    slack_per_seam: float,
) -> None:
    """A session of several responses decodes completely, whatever the container.

    Opus comes from the service as one Ogg stream per response (players such as
    VLC stopped after the first): the caller gets one stream, one serial.
    """
    options = {tts.ATTR_PREFERRED_FORMAT: preferred_format}
    status, body = await retrieve_media(
        hass, hass_client, await _speak(hass, LONG_MESSAGE, options)
    )

    assert status is HTTPStatus.OK
    assert _responses(emulator) == 5
    audio = await decode_audio(body)
    assert (audio.codec, audio.channels) == (codec, 1)
    expected = _seconds(emulator, LONG_MESSAGE)
    assert expected - 0.001 <= audio.seconds <= expected + 0.001 + slack_per_seam * 5
    if preferred_format == "opus":
        pages = Pages.parse(body).pages
        assert len({page.serial for page in pages}) == 1
        assert [page.sequence for page in pages] == list(range(len(pages)))
        assert [page.packets[0][:8] for page in pages].count(b"OpusHead") == 1
    elif preferred_format == "wav":
        assert read_wav(body).seconds == pytest.approx(expected, abs=1 / 24000)
    else:
        assert body.startswith(b"fLaC" if preferred_format == "flac" else b"ID3")


@pytest.mark.parametrize("after_deltas", [1, 3])
async def test_resumed_opus_is_still_one_stream(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    after_deltas: int,
) -> None:
    """A session dropped inside an Ogg page is resumed; its broken page is skipped, not fatal.

    The listener hears the whole message, the interrupted sentence at most twice,
    in one Ogg stream.
    """
    emulator.drop_connection(after_deltas=after_deltas)
    options = {tts.ATTR_PREFERRED_FORMAT: "opus"}
    status, body = await retrieve_media(
        hass, hass_client, await _speak(hass, LONG_MESSAGE, options)
    )

    assert status is HTTPStatus.OK
    assert len(emulator.sessions) == 2
    pages = Pages.parse(body).pages
    assert len({page.serial for page in pages}) == 1
    assert [page.sequence for page in pages] == list(range(len(pages)))
    audio = await decode_audio(body)
    expected = _seconds(emulator, LONG_MESSAGE)
    repeated = _seconds(emulator, "第一句话。")
    assert expected <= audio.seconds <= expected + repeated + OPUS_SEAM_SLACK * 6


async def test_one_shot_audio_is_a_complete_file(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """``async_get_tts_audio`` returns whole files: a WAV with its exact sizes, or an MP3."""
    entity = _entity(hass)

    extension, data = await entity.async_get_tts_audio(
        "你好。", "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    assert extension == "wav"
    assert data is not None
    wav = read_wav(data)
    assert wav.data_size_field == len(wav.frames)
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    assert wav.seconds == pytest.approx(_seconds(emulator, "你好。"))

    extension, data = await entity.async_get_tts_audio("你好。", "zh-CN", {})
    assert extension == "mp3"
    assert data is not None
    assert (await decode_audio(data)).codec == "mp3"


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"speech_rate": 3}, "out_of_range", "speech_rate must be between 0.5 and 2.0, not 3.0"),
        ({"pitch_rate": 0.1}, "out_of_range", "pitch_rate must be between 0.5 and 2.0, not 0.1"),
        ({"volume": 101}, "out_of_range", "volume must be between 0 and 100, not 101"),
        ({"volume": 50.5}, "invalid_option", "The option volume cannot be 50.5"),
        ({"speech_rate": "fast"}, "invalid_option", "The option speech_rate cannot be fast"),
        (
            {tts.ATTR_PREFERRED_SAMPLE_BYTES: 8},
            "invalid_option",
            "The option preferred_sample_bytes cannot be 8",
        ),
        (
            {"language_type": "Klingon"},
            "unsupported_language",
            "The language Klingon is not supported here",
        ),
        ({"voice": ""}, "voice_required", "A voice is required"),
        (
            {"voice": CLONED_VOICE},
            "voice_not_for_model",
            (
                f"The voice {CLONED_VOICE} cannot be used with the model qwen3-tts-flash-realtime:"
                " system voices need a system-voice model, cloned and designed voices the model"
                " they were made for"
            ),
        ),
    ],
)
async def test_bad_options_are_refused_before_anything_is_sent(
    hass: HomeAssistant,
    *,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    options: dict[str, Any],
    key: str,
    message: str,
) -> None:
    """Bad option values fail with a translated error and open no session."""
    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", options=options)
    stream.async_set_message("你好。")

    with pytest.raises(ServiceValidationError) as raised:
        await _read_into(stream, [])

    assert raised.value.translation_key == key
    assert str(raised.value) == message
    assert emulator.sessions == []


async def test_model_specific_validation(
    hass: HomeAssistant, emulator: DashScopeEmulator, profiles: MockConfigEntry
) -> None:
    """A system voice on a cloning profile, or Japanese on the legacy model, is refused."""
    grandpa = _entity(hass, "tts.grandpa")
    with pytest.raises(ServiceValidationError) as raised:
        await grandpa.async_get_tts_audio("你好。", "zh-CN", {"voice": "Cherry"})
    assert raised.value.translation_key == "voice_not_for_model"

    legacy = _entity(hass, "tts.legacy")
    with pytest.raises(ServiceValidationError) as raised:
        await legacy.async_get_tts_audio("你好。", "zh-CN", {"language_type": "Japanese"})
    assert raised.value.translation_key == "unsupported_language"
    assert emulator.sessions == []

    # Options a model does not have are not offered, so Home Assistant refuses them itself.
    with pytest.raises(HomeAssistantError, match="Invalid options found"):
        tts.async_create_stream(hass, "tts.legacy", "zh-CN", {"speech_rate": 1.2})
    with pytest.raises(HomeAssistantError, match="Invalid options found"):
        tts.async_create_stream(hass, CHERRY, "zh-CN", {CONF_INSTRUCTIONS: "Sing."})


async def test_voices_for_the_picker(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    emulator: DashScopeEmulator,
    profiles: MockConfigEntry,
) -> None:
    """The voice picker lists readable system voices, or the account's cloned voices, own first."""
    client = await hass_ws_client(hass)

    async def voices(engine_id: str) -> list[dict[str, str]]:
        await client.send_json_auto_id(
            {"type": "tts/engine/voices", "engine_id": engine_id, "language": "zh-CN"}
        )
        response = await client.receive_json()
        assert response["success"]
        return list(response["result"]["voices"])

    cherry = await voices(CHERRY)
    assert cherry[0] == {"voice_id": "Cherry", "name": "Cherry (芊悦)"}
    assert {"voice_id": "Rocky", "name": "Rocky (粤语 · Cantonese)"} in cherry
    assert len(cherry) == 49
    narrator = await voices("tts.narrator")
    assert narrator[0] == {"voice_id": "Ethan", "name": "Ethan (晨煦)"}

    assert await voices("tts.grandpa") == [
        {"voice_id": CLONED_VOICE, "name": "grandpa (2026-03-01 10:10)"}
    ]
    # A voice cloned for the model elsewhere shows up once the account's list is refreshed.
    emulator.voices["qwen-tts-vc-nana-voice-20260302101010123-c3d4"] = VoiceRecord(
        voice="qwen-tts-vc-nana-voice-20260302101010123-c3d4",
        target_model=VC_MODEL,
        preferred_name="nana",
        gmt_create="2026-03-02 10:10:10",
    )
    emulator.voices["qwen-tts-vc-other-voice-20260302101010123-e5f6"] = VoiceRecord(
        voice="qwen-tts-vc-other-voice-20260302101010123-e5f6",
        target_model="qwen3-tts-vc-realtime-2025-11-27",
        preferred_name="other",
    )
    await async_refresh_voices(hass, profiles)
    await hass.async_block_till_done()

    assert [voice["name"] for voice in await voices("tts.grandpa")] == [
        "grandpa (2026-03-01 10:10)",
        "nana (2026-03-02 10:10)",
    ]


async def test_rejected_key_fails_the_fetch_and_starts_reauth(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A key rejected at synthesis time: the player gets HTTP 500 and the user a re-auth flow."""
    emulator.fail_next_handshake(401)
    media_id = await _speak(hass, MESSAGE)

    status, _ = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.INTERNAL_SERVER_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_model_without_access_opens_a_repair_not_reauth(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A valid key refused the model (handshake 403): a Repairs issue names the model."""
    emulator.fail_next_handshake(403)
    media_id = await _speak(hass, MESSAGE)

    status, _ = await retrieve_media(hass, hass_client, media_id)

    assert status is HTTPStatus.INTERNAL_SERVER_ERROR
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    issues = [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.translation_key == "model_access_denied"
    ]
    assert [(issue.translation_placeholders or {})["model"] for issue in issues] == [
        init_integration.subentries[next(iter(init_integration.subentries))].data["model"]
    ]


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        ("error", "rate_limited"),
        ("drop", "cannot_connect"),
    ],
)
async def test_failure_mid_stream_is_a_translated_error(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    fault: str,
    key: str,
) -> None:
    """Sessions that keep breaking after some audio end the stream with a translated error.

    (One that breaks once is resumed: see test_tts_resume.py.)
    """
    sessions = MAX_RESUMES + 1
    if fault == "error":
        emulator.inject_error_event(
            "Throttling.RateQuota", "Too many requests.", after_deltas=2, sessions=sessions
        )
    else:
        emulator.drop_connection(after_deltas=2, sessions=sessions)
    stream = tts.async_create_stream(
        hass, CHERRY, "zh-CN", options={tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message(MESSAGE)

    received: list[bytes] = []
    with pytest.raises(HomeAssistantError) as raised:
        await _read_into(stream, received)

    assert raised.value.translation_key == key
    assert read_wav(b"".join(received)).seconds > 0  # the audio before the failure was delivered
    assert len(emulator.sessions) == sessions
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.parametrize(
    ("message", "preferred_format", "codec"),
    [
        ("   \n\t ", None, "mp3"),
        ("**", None, "mp3"),
        ("```", "opus", "opus"),
        ("---\n***", "wav", "pcm_s16le"),
        ("[laughs] (sighs) **", "flac", "flac"),
    ],
)
async def test_nothing_to_say_is_a_short_silence_without_a_session(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    message: str,
    preferred_format: str | None,
    codec: str,
) -> None:
    """Blank, Markdown-only or direction-only messages play as a valid near-empty file.

    No session is opened (nothing is billed), and the player gets a file it can
    open in the format it asked for, never an HTTP 500.
    """
    options = {tts.ATTR_PREFERRED_FORMAT: preferred_format} if preferred_format else None
    status, body = await retrieve_media(hass, hass_client, await _speak(hass, message, options))

    assert status is HTTPStatus.OK
    audio = await decode_audio(body)
    assert audio.codec == codec
    assert SILENCE_SECONDS <= audio.seconds <= SILENCE_SECONDS + MP3_SLACK_PER_RESPONSE
    assert emulator.sessions == []


async def test_try_voice_with_nothing_to_say(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """The "try voice" dialog (tts_get_url) plays a Markdown-only message as a short MP3."""
    client = await hass_client()
    response = await client.post("/api/tts_get_url", json={"engine_id": CHERRY, "message": "**"})
    assert response.status == HTTPStatus.OK

    audio = await client.get((await response.json())["path"])

    assert audio.status == HTTPStatus.OK
    decoded = await decode_audio(await audio.read())
    assert decoded.codec == "mp3"
    assert SILENCE_SECONDS <= decoded.seconds <= SILENCE_SECONDS + MP3_SLACK_PER_RESPONSE
    assert emulator.sessions == []


async def test_streamed_text_with_nothing_to_say_opens_no_session(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """An LLM stream that is only syntax gives a silent WAV of the satellite's shape."""
    stream = tts.async_create_stream(
        hass,
        CHERRY,
        "zh-CN",
        options={tts.ATTR_PREFERRED_FORMAT: "wav", tts.ATTR_PREFERRED_SAMPLE_RATE: 16000},
    )
    stream.async_set_message_stream(_chunks("**", "  \n", "[whisp", "ering]", "```"))
    chunks: list[bytes] = []
    await _read_into(stream, chunks)

    wav = read_wav(b"".join(chunks))
    assert (wav.sample_rate, wav.channels, wav.sample_width) == (16000, 1, 2)
    assert wav.seconds == pytest.approx(SILENCE_SECONDS)
    assert wav.frames == bytes(len(wav.frames))
    assert emulator.sessions == []


async def test_one_shot_with_nothing_to_say(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """``async_get_tts_audio`` of a blank message is a silent WAV file, 8-bit silence unsigned."""
    extension, data = await _entity(hass).async_get_tts_audio(
        " ** ", "zh-CN", {tts.ATTR_PREFERRED_SAMPLE_BYTES: 1}
    )

    assert extension == "wav"
    assert data is not None
    wav = read_wav(data)
    assert (wav.sample_width, wav.data_size_field) == (1, len(wav.frames))
    assert wav.frames == b"\x80" * round(24000 * SILENCE_SECONDS)
    assert emulator.sessions == []


async def test_stage_directions_are_not_spoken(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """An expressive LLM answer reaches the service without its directions, content kept."""
    message = "[laughs] 好的！（叹气）我这就去 **\n(see below) Done [whispering]."
    status, _ = await retrieve_media(hass, hass_client, await _speak(hass, message))

    assert status is HTTPStatus.OK
    appended = [event["text"] for event in emulator.sessions[0].received if "text" in event]
    assert "".join(appended) == "好的！我这就去\n(see below) Done."


async def test_sample_rate_that_is_not_a_number(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """Home Assistant 2026.11 hands declared options over as they came: they are checked here."""
    with pytest.raises(ServiceValidationError) as raised:
        await _entity(hass).async_get_tts_audio(
            "你好。", "zh-CN", {tts.ATTR_PREFERRED_SAMPLE_RATE: "high"}
        )
    assert raised.value.translation_placeholders == {
        "option": "preferred_sample_rate",
        "value": "high",
    }


@pytest.mark.parametrize(
    ("model_id", "preference", "options", "expected"),
    [
        ("qwen3-tts-flash-realtime", OUTPUT_AUTO, {}, AudioPlan("mp3", "mp3", 24000)),
        (
            "qwen3-tts-flash-realtime",
            OUTPUT_AUTO,
            {"preferred_format": "opus", "preferred_sample_rate": 48000},
            AudioPlan("opus", "opus", 48000),
        ),
        # Compressed audio only in the shape asked for; otherwise PCM shaped here.
        (
            "qwen3-tts-flash-realtime",
            OUTPUT_AUTO,
            {"preferred_format": "mp3", "preferred_sample_rate": 44100},
            AudioPlan("wav", "pcm", 48000, rate=44100),
        ),
        (
            "qwen3-tts-flash-realtime",
            OUTPUT_MP3,
            {"preferred_format": "wav", "preferred_sample_channels": 2},
            AudioPlan("wav", "pcm", 24000, channels=2),
        ),
        (
            "qwen3-tts-flash-realtime",
            OUTPUT_WAV,
            {"preferred_format": "mp3"},
            AudioPlan("wav", "pcm", 24000),
        ),
        (
            "qwen3-tts-flash-realtime",
            OUTPUT_AUTO,
            {"preferred_format": "flac", "preferred_sample_rate": 96000},
            AudioPlan("wav", "pcm", 48000, rate=96000),
        ),
        ("qwen-tts-realtime", OUTPUT_MP3, {}, AudioPlan("wav", "pcm", 24000)),
        # A model newer than the catalogue: PCM at 24 kHz, which every model makes.
        ("qwen3-tts-flash-realtime-2099-01-01", OUTPUT_AUTO, {}, AudioPlan("wav", "pcm", 24000)),
    ],
)
def test_audio_plan(
    model_id: str, preference: str, options: dict[str, Any], expected: AudioPlan
) -> None:
    """The service is asked for what the caller wants whenever the model can make it."""
    assert plan_audio(get_model(model_id), preference, options) == expected


@pytest.mark.parametrize(
    ("model_id", "voice"),
    [
        ("qwen3-tts-vd-realtime-2026-01-15", "qwen-tts-vd-sky-voice-1-ab"),
        ("qwen3-tts-flash-realtime-2099-01-01", "Cherry"),
        (VC_MODEL, "qwen-tts-vc-gone-voice-1-ab"),
    ],
)
def test_voice_list_always_offers_the_profile_voice(model_id: str, voice: str) -> None:
    """Designed voices, unknown models and deleted clones still list the profile's voice."""
    assert voice_list(model_id, get_model(model_id), voice, []) == [tts.Voice(voice, voice)]
