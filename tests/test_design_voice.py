"""The design_voice action end to end: Home Assistant, its media folder and the emulator."""

from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest.mock import patch

import probatio
import pytest
from homeassistant.components import media_source
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import DESIGN_MODELS
from custom_components.qwen_tts_realtime.const import (
    DOMAIN,
)

from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .enrollment_helpers import (
    DESIGN_LIMITS,
    PREVIEW_TEXT,
    PROMPT,
    VD_MODEL,
    VOICE_ID,
    added_profile,
    offered_voices,
)
from .tts_helpers import decode_audio, read_wav, retrieve_media, speak_wav


@pytest.fixture
async def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Give Home Assistant a fresh "local" media folder and the media browser.

    Changed in place: the media browser keeps the dict it was set up with.
    """
    hass.config.media_dirs.clear()
    hass.config.media_dirs["local"] = str(tmp_path)
    assert await async_setup_component(hass, media_source.DOMAIN, {})
    return tmp_path


async def design_voice(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    """Call design_voice (a valid request, changed by ``data``) and return its response."""
    request = {"voice_prompt": PROMPT, "preview_text": PREVIEW_TEXT, "preferred_name": "nainai"}
    response = await hass.services.async_call(
        DOMAIN, "design_voice", request | data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


@pytest.mark.usefixtures("init_integration")
async def test_design_voice_saves_a_playable_preview(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    media_dir: Path,
) -> None:
    """The preview is a WAV in the media folder, of the preview text's length, playable by id."""
    response = await design_voice(hass, language="zh")

    voice_id = response["voice_id"]
    assert VOICE_ID.fullmatch(voice_id)
    assert response["target_model"] == VD_MODEL
    file = media_dir / DOMAIN / f"{voice_id}.wav"
    expected = synth_audio_seconds(PREVIEW_TEXT, emulator.options.ms_per_char)
    assert response["preview"] == {
        "media_content_id": f"media-source://media_source/local/{DOMAIN}/{voice_id}.wav",
        "path": str(file),
        "duration": pytest.approx(expected),
        "sample_rate": 24000,
    }
    data = file.read_bytes()
    decoded = await decode_audio(data)
    assert (decoded.codec, decoded.sample_rate, decoded.channels) == ("pcm_s16le", 24000, 1)
    assert decoded.seconds == pytest.approx(expected)
    # The header's sizes are exact, so players show the right length before decoding.
    wav = read_wav(data)
    assert wav.data_size_field == len(wav.frames)
    [request] = [r for r in emulator.http_requests if r["input"]["action"] == "create"]
    assert request["model"] == "qwen-voice-design"
    assert request["input"]["language"] == "zh"

    # The media browser lists it, and a media player gets the same file from its URL.
    media_id = response["preview"]["media_content_id"]
    folder = await media_source.async_browse_media(
        hass, f"media-source://media_source/local/{DOMAIN}"
    )
    assert [child.media_content_id for child in folder.children or []] == [media_id]
    status, played = await retrieve_media(hass, hass_client, media_id)
    assert (status, played) == (HTTPStatus.OK, data)


@pytest.mark.usefixtures("media_dir")
async def test_design_voice_with_a_profile_speaks(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """create_profile adds a TTS entity on the target model that speaks with the new voice."""
    response = await design_voice(
        hass, target_model=DESIGN_MODELS[1], language="zh", create_profile=True
    )
    await hass.async_block_till_done()

    voice_id = response["voice_id"]
    entity_id = added_profile(
        hass, init_integration, response, title="nainai", model=DESIGN_MODELS[1]
    )

    assert offered_voices(hass, entity_id) == [voice_id]

    text = "乖孙，作业写完了没得？"
    speech = await speak_wav(hass, entity_id, text)
    assert speech.seconds == pytest.approx(synth_audio_seconds(text, emulator.options.ms_per_char))
    # The new profile may keep a session ready too: count the one that spoke.
    [session] = [session for session in emulator.sessions if session.received]
    assert (session.model, session.config["voice"]) == (DESIGN_MODELS[1], voice_id)


@pytest.mark.parametrize(("data", "key", "placeholders"), DESIGN_LIMITS)
@pytest.mark.usefixtures("init_integration", "media_dir")
async def test_limits_are_refused_before_any_request(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    data: dict[str, str],
    key: str,
    placeholders: dict[str, str],
) -> None:
    """Too long, empty or badly named requests get a translated answer; nothing is sent."""
    emulator.http_requests.clear()

    with pytest.raises(ServiceValidationError) as err:
        await design_voice(hass, **data)

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders
    assert emulator.http_requests == []


@pytest.mark.usefixtures("init_integration", "media_dir")
async def test_models_that_are_not_voice_design_are_refused(hass: HomeAssistant) -> None:
    """Only voice-design models are accepted (a cloning model is not one), before sending."""
    with pytest.raises(probatio.Invalid, match="target_model"):
        await design_voice(hass, target_model="qwen3-tts-vc-realtime-2026-01-15")


@pytest.mark.usefixtures("init_integration")
async def test_no_media_folder_is_refused_before_designing(
    hass: HomeAssistant, emulator: DashScopeEmulator
) -> None:
    """Without a media folder the preview has nowhere to go: nothing is created."""
    hass.config.media_dirs.clear()
    emulator.http_requests.clear()

    with pytest.raises(ServiceValidationError) as err:
        await design_voice(hass)

    assert err.value.translation_key == "no_media_folder"
    assert emulator.http_requests == []


@pytest.mark.usefixtures("init_integration")
async def test_an_unwritable_media_folder_keeps_the_voice(
    hass: HomeAssistant, emulator: DashScopeEmulator, tmp_path: Path
) -> None:
    """A preview that cannot be written is logged; the voice id still comes back."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    hass.config.media_dirs.clear()
    hass.config.media_dirs["media"] = str(blocker)

    response = await design_voice(hass)

    assert response["preview"] is None
    assert response["voice_id"] in emulator.voices


@pytest.mark.usefixtures("init_integration", "media_dir")
async def test_service_errors_keep_the_server_message(
    hass: HomeAssistant, emulator: DashScopeEmulator
) -> None:
    """What DashScope refuses is reported with its code and message."""
    emulator.fail_next_http(400, "DataInspectionFailed", "Input data may contain inappropriate.")

    with pytest.raises(HomeAssistantError) as err:
        await design_voice(hass)

    assert err.value.translation_key == "service_error"
    assert err.value.translation_placeholders == {
        "code": "DataInspectionFailed",
        "message": "Input data may contain inappropriate.",
    }


@pytest.mark.usefixtures("init_integration", "media_dir")
async def test_a_voice_without_preview_is_still_returned(
    hass: HomeAssistant, emulator: DashScopeEmulator
) -> None:
    """A service answer without preview audio still gives the voice (and no file)."""
    with patch("custom_components.qwen_tts_realtime.api.client.parse_preview", return_value=None):
        response = await design_voice(hass)

    assert response["preview"] is None
    assert response["voice_id"] in emulator.voices


@pytest.mark.usefixtures("init_integration", "media_dir")
async def test_only_administrators_design_voices(
    hass: HomeAssistant, hass_read_only_user: MockUser, emulator: DashScopeEmulator
) -> None:
    """Designing a voice changes the account and writes a file: administrators only."""
    emulator.http_requests.clear()

    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "design_voice",
            {"voice_prompt": PROMPT, "preview_text": PREVIEW_TEXT, "preferred_name": "nainai"},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
            return_response=True,
        )
    assert emulator.http_requests == []


@pytest.mark.usefixtures("media_dir")
async def test_list_and_delete_designed_voices(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """list_voices shows designed voices with their kind; delete_voice removes them."""
    designed = (await design_voice(hass, language="zh"))["voice_id"]

    response: Any = await hass.services.async_call(
        DOMAIN, "list_voices", {}, blocking=True, return_response=True
    )
    assert [(v["voice_id"], v["target_model"], v["kind"]) for v in response["voices"]] == [
        (designed, VD_MODEL, "designed")
    ]

    await hass.services.async_call(DOMAIN, "delete_voice", {"voice_id": designed}, blocking=True)

    assert emulator.voices == {}
    deletes = [r["model"] for r in emulator.http_requests if r["input"]["action"] == "delete"]
    assert deletes == ["qwen-voice-design"]
    assert init_integration.runtime_data.custom_voices == []
