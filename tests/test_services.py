"""The voice enrollment actions, end to end: Home Assistant, ffmpeg and the DashScope emulator."""

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components import media_source
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.qwen_tts_realtime.api import (
    CLONING_MODELS,
    DESIGN_MODELS,
    QwenTtsClient,
    QwenTtsConnectionError,
)
from custom_components.qwen_tts_realtime.api.catalog import ENROLLMENT_LANGUAGES
from custom_components.qwen_tts_realtime.const import (
    CONF_LANGUAGE_TYPE,
    DOMAIN,
)

from .dashscope_emulator import DashScopeEmulator, VoiceRecord, synth_audio_seconds
from .enrollment_helpers import FileServer, Recordings, added_profile, offered_voices
from .tts_helpers import read_wav, speak_wav

INTEGRATION = Path(__file__).parent.parent / "custom_components" / DOMAIN
VC_MODEL = CLONING_MODELS[0]
OLDER_VC_MODEL = CLONING_MODELS[1]


@pytest.fixture(autouse=True)
def allow_recordings(hass: HomeAssistant, recordings: Recordings) -> None:
    """Let Home Assistant read the test recordings, as allowlist_external_dirs would."""
    hass.config.allowlist_external_dirs = {str(recordings.phone_m4a.parent)}


def create_requests(emulator: DashScopeEmulator) -> list[dict[str, Any]]:
    """Return the create requests the emulator received (the audio replaced by a marker)."""
    return [
        request["input"]
        for request in emulator.http_requests
        if request["input"]["action"] == "create"
    ]


async def create_voice(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    """Call create_voice and return its response."""
    response = await hass.services.async_call(
        DOMAIN, "create_voice", data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


def uploaded_wav(spy: Any) -> bytes:
    """Return the WAV file the client was given to upload."""
    data_uri: str = spy.call_args.kwargs["audio"]
    header, _, encoded = data_uri.partition(",")
    assert header == "data:audio/wav;base64"
    return base64.b64decode(encoded)


async def test_create_voice_from_a_long_phone_memo(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    recordings: Recordings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 75 s stereo M4A is uploaded as 60 s of mono 24 kHz WAV; the new voice is listed."""
    caplog.set_level(logging.INFO)
    with patch.object(
        QwenTtsClient, "create_voice", autospec=True, side_effect=QwenTtsClient.create_voice
    ) as spy:
        response = await create_voice(
            hass, recording=str(recordings.phone_m4a), preferred_name="grandma"
        )

    voice_id = response["voice_id"]
    assert voice_id.startswith("qwen-tts-vc-grandma-voice-")
    assert response == {
        "voice_id": voice_id,
        "target_model": VC_MODEL,
        "recording": {
            "duration": 60.0,
            "original_duration": 75.0,
            "trimmed": True,
            "sample_rate": 24000,
        },
    }
    upload = read_wav(uploaded_wav(spy))
    assert (upload.channels, upload.sample_rate, upload.sample_width) == (1, 24000, 2)
    assert upload.seconds == pytest.approx(60.0)
    assert "only its first 60 s are uploaded" in caplog.text
    # The emulator checked the upload (mono, >= 24 kHz, <= 60 s) and stored the voice.
    assert emulator.voices[voice_id].target_model == VC_MODEL
    assert [voice.voice_id for voice in init_integration.runtime_data.custom_voices] == [voice_id]
    # No profile unless asked for.
    assert list(init_integration.subentries) == ["profile_cherry"]


@pytest.fixture
async def local_media(hass: HomeAssistant, recordings: Recordings) -> None:
    """Use the recordings' folder as the "local" media folder (not on the allowlist)."""
    hass.config.media_dirs = {"local": str(recordings.phone_m4a.parent)}
    hass.config.allowlist_external_dirs = set()
    assert await async_setup_component(hass, media_source.DOMAIN, {})


@pytest.mark.usefixtures("local_media")
async def test_create_voice_from_the_media_browser_with_a_profile(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """A media pick with create_profile gives a TTS entity that offers and speaks the voice."""
    response = await create_voice(
        hass,
        recording={
            "media_content_id": "media-source://media_source/local/memo.mp3",
            "media_content_type": "audio/mpeg",
        },
        preferred_name="grandma",
        target_model=OLDER_VC_MODEL,
        text="小宝，回家吃饭啦！",
        language="zh",
        create_profile=True,
    )
    await hass.async_block_till_done()

    voice_id = response["voice_id"]
    assert response["recording"]["trimmed"] is False
    [request] = create_requests(emulator)
    assert (request["target_model"], request["text"], request["language"]) == (
        OLDER_VC_MODEL,
        "小宝，回家吃饭啦！",
        "zh",
    )
    entity_id = added_profile(
        hass, init_integration, response, title="grandma", model=OLDER_VC_MODEL
    )
    assert offered_voices(hass, entity_id)[0] == voice_id

    text = "小宝，作业写完了吗？"
    speech = await speak_wav(hass, entity_id, text)
    assert speech.seconds == pytest.approx(synth_audio_seconds(text, emulator.options.ms_per_char))
    # The new profile may keep a session ready too: count the one that spoke.
    [session] = [session for session in emulator.sessions if session.received]
    assert (session.model, session.config["voice"]) == (OLDER_VC_MODEL, voice_id)


async def test_create_voice_from_a_web_address(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    recordings: Recordings,
    file_server: FileServer,
) -> None:
    """An M4A on a web server in the home network is downloaded, converted and uploaded."""
    file_server.files["phone.m4a"] = recordings.phone_m4a.read_bytes()

    response = await create_voice(
        hass,
        recording=file_server.url("phone.m4a"),
        preferred_name="grandpa",
        config_entry_id=init_integration.entry_id,
        create_profile=True,
    )
    await hass.async_block_till_done()

    assert response["voice_id"] in emulator.voices
    # The service got the converted recording, not the address.
    [request] = create_requests(emulator)
    assert request["audio"]["data"].startswith("<data:audio/wav;base64,")
    # Without a language the new profile detects it from the text.
    profile = init_integration.subentries[response["profile_subentry_id"]]
    assert profile.data[CONF_LANGUAGE_TYPE] == "Auto"


@pytest.mark.parametrize(
    ("recording", "key"),
    [
        ("short_wav", "recording_too_short"),
        ("silent_m4a", "recording_too_quiet"),
        ("sparse_wav", "recording_too_quiet"),
        ("noise", "recording_not_audio"),
        ("text", "recording_not_audio"),
        ("missing", "recording_not_found"),
        ("not_allowed", "recording_path_not_allowed"),
    ],
)
@pytest.mark.usefixtures("init_integration")
async def test_unusable_recordings_are_refused_before_uploading(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    recordings: Recordings,
    tmp_path: Path,
    *,
    recording: str,
    key: str,
) -> None:
    """Each unusable recording gets its translated reason, and nothing is uploaded."""
    paths = {
        "missing": recordings.phone_m4a.parent / "missing.m4a",
        "not_allowed": tmp_path / "memo.wav",
    }
    path = paths.get(recording) or getattr(recordings, recording)

    with pytest.raises(ServiceValidationError) as err:
        await create_voice(hass, recording=str(path), preferred_name="grandma")

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert create_requests(emulator) == []
    assert emulator.voices == {}


@pytest.mark.parametrize("name", ["grandma voice", "奶奶", "a_name_longer_than_16"])
@pytest.mark.usefixtures("init_integration")
async def test_names_the_service_refuses_are_refused_first(
    hass: HomeAssistant, emulator: DashScopeEmulator, name: str
) -> None:
    """A name with spaces, non-ASCII letters or too long is refused before any work."""
    with (
        patch("custom_components.qwen_tts_realtime.services.async_prepare_recording") as prepare,
        pytest.raises(ServiceValidationError) as err,
    ):
        await create_voice(hass, recording="www/memo.wav", preferred_name=name)

    assert err.value.translation_key == "invalid_preferred_name"
    assert err.value.translation_placeholders == {"value": name}
    prepare.assert_not_called()
    assert create_requests(emulator) == []


@pytest.mark.parametrize(
    ("status", "code", "message", "key"),
    [
        (400, "Audio.PreprocessError", "Audio preprocess error.", "audio_rejected"),
        (
            400,
            "Throttling.AllocationQuota",
            "Maximum voice storage limit exceeded, please delete existing voices.",
            "quota_exceeded",
        ),
        (429, "Throttling.RateQuota", "Requests rate limit exceeded.", "rate_limited"),
        (500, "InternalError", "Internal server error.", "service_error"),
    ],
)
async def test_service_errors_keep_the_server_message(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    recordings: Recordings,
    *,
    status: int,
    code: str,
    message: str,
    key: str,
) -> None:
    """What DashScope says about a refused voice reaches the user, translated around it."""
    emulator.fail_next_http(status, code, message)

    with pytest.raises(HomeAssistantError) as err:
        await create_voice(hass, recording=str(recordings.memo_wav), preferred_name="grandma")

    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == {"code": code, "message": message}
    assert emulator.voices == {}
    assert init_integration.state is ConfigEntryState.LOADED


async def test_a_rejected_key_starts_reauthentication(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    recordings: Recordings,
) -> None:
    """A key revoked since set-up fails the action and asks the user for a new key."""
    emulator.options.api_keys = frozenset({"sk-someone-else"})

    with pytest.raises(HomeAssistantError) as err:
        await create_voice(hass, recording=str(recordings.memo_wav), preferred_name="grandma")

    assert err.value.translation_key == "invalid_auth"
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["context"]["entry_id"] == init_integration.entry_id


async def test_a_failed_refresh_does_not_fail_a_created_voice(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    recordings: Recordings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The voice exists once created: the action returns it even if the list cannot update."""
    with patch(
        "custom_components.qwen_tts_realtime.services.async_refresh_voices",
        side_effect=QwenTtsConnectionError("connection reset"),
    ):
        response = await create_voice(
            hass, recording=str(recordings.memo_wav), preferred_name="grandma"
        )

    assert response["voice_id"] in emulator.voices
    assert "could not be refreshed (connection reset)" in caplog.text


def _seed_voices(emulator: DashScopeEmulator) -> list[VoiceRecord]:
    """Put two voices on the account, as if cloned in the Model Studio console."""
    voices = [
        VoiceRecord(
            voice="qwen-tts-vc-grandpa-voice-20260301101010123-a1b2",
            target_model=VC_MODEL,
            preferred_name="grandpa",
            language="zh",
            gmt_create="2026-03-01 10:10:10",
        ),
        VoiceRecord(
            voice="qwen-tts-vc-teacher-voice-20260201090909123-c3d4",
            target_model=OLDER_VC_MODEL,
            preferred_name="teacher",
            gmt_create="2026-02-01 09:09:09",
        ),
    ]
    emulator.voices.update({voice.voice: voice for voice in voices})
    return voices


async def test_list_voices(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """The account's voices are listed newest first, and the voice pickers catch up."""
    grandpa, teacher = _seed_voices(emulator)

    response = await hass.services.async_call(
        DOMAIN, "list_voices", {}, blocking=True, return_response=True
    )

    assert response == {
        "voices": [
            {
                "voice_id": grandpa.voice,
                "target_model": VC_MODEL,
                "created": "2026-03-01 10:10:10",
                "language": "zh",
                "kind": "cloned",
            },
            {
                "voice_id": teacher.voice,
                "target_model": OLDER_VC_MODEL,
                "created": "2026-02-01 09:09:09",
                "language": None,
                "kind": "cloned",
            },
        ]
    }
    assert [voice.voice_id for voice in init_integration.runtime_data.custom_voices] == [
        grandpa.voice,
        teacher.voice,
    ]


@pytest.mark.usefixtures("init_integration")
async def test_list_voices_reports_service_errors(
    hass: HomeAssistant, emulator: DashScopeEmulator
) -> None:
    """A failing list says what DashScope answered."""
    emulator.fail_next_http(429, "Throttling", "Requests throttling triggered.")

    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "list_voices", {}, blocking=True, return_response=True
        )

    assert err.value.translation_key == "rate_limited"


async def test_delete_voice(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """A deleted voice leaves the account and the voice pickers."""
    grandpa, teacher = _seed_voices(emulator)
    await hass.config_entries.async_reload(init_integration.entry_id)

    await hass.services.async_call(
        DOMAIN, "delete_voice", {"voice_id": grandpa.voice}, blocking=True
    )

    assert list(emulator.voices) == [teacher.voice]
    assert [voice.voice_id for voice in init_integration.runtime_data.custom_voices] == [
        teacher.voice
    ]


@pytest.mark.usefixtures("init_integration")
async def test_deleting_an_unknown_voice_is_a_clear_error(
    hass: HomeAssistant, emulator: DashScopeEmulator
) -> None:
    """A typo in the voice id names the id and points to list_voices."""
    voice_id = "qwen-tts-vc-nobody-voice-20260101000000000-0000"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "delete_voice", {"voice_id": voice_id}, blocking=True
        )

    assert err.value.translation_key == "delete_unknown_voice"
    assert err.value.translation_placeholders == {"voice_id": voice_id}

    for empty in ("", "  "):
        with pytest.raises(ServiceValidationError) as missing:
            await hass.services.async_call(
                DOMAIN, "delete_voice", {"voice_id": empty}, blocking=True
            )
        assert missing.value.translation_key == "voice_id_required"

    emulator.fail_next_http(500, "InternalError", "Internal server error.")
    with pytest.raises(HomeAssistantError) as server_error:
        await hass.services.async_call(
            DOMAIN, "delete_voice", {"voice_id": voice_id}, blocking=True
        )
    assert server_error.value.translation_key == "service_error"


async def test_actions_need_a_loaded_account(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """With the account unloaded the actions say so instead of failing somewhere deeper."""
    await hass.config_entries.async_unload(init_integration.entry_id)

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "list_voices",
            {"config_entry_id": init_integration.entry_id},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "service_config_entry_not_loaded"


async def test_actions_wait_for_a_reloading_account(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """An action called while the account reloads (a profile was just added) waits for it.

    The account's set-up is held at its voice listing, so the action arrives while the
    entry is not loaded, as the next action of a script after create_voice can.
    """
    grandpa, teacher = _seed_voices(emulator)
    in_setup, release = asyncio.Event(), asyncio.Event()
    list_voices = QwenTtsClient.list_voices

    async def held_in_setup(client: QwenTtsClient) -> Any:
        """List the voices; during the entry's set-up, only once the test says so."""
        if init_integration.state is ConfigEntryState.SETUP_IN_PROGRESS:
            in_setup.set()
            await release.wait()
        return await list_voices(client)

    with patch.object(QwenTtsClient, "list_voices", held_in_setup):
        reload = hass.async_create_task(hass.config_entries.async_reload(init_integration.entry_id))
        await in_setup.wait()
        listing = hass.async_create_task(
            hass.services.async_call(DOMAIN, "list_voices", {}, blocking=True, return_response=True)
        )
        release.set()
        response = await listing
        assert await reload

    assert response is not None
    listed: Any = response["voices"]
    assert [voice["voice_id"] for voice in listed] == [grandpa.voice, teacher.voice]
    assert init_integration.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("init_integration")
async def test_only_administrators_change_voices(
    hass: HomeAssistant, hass_read_only_user: MockUser, recordings: Recordings
) -> None:
    """Other users may list the voices but not create or delete them (or read files)."""
    context = Context(user_id=hass_read_only_user.id)

    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "create_voice",
            {"recording": str(recordings.memo_wav), "preferred_name": "grandma"},
            blocking=True,
            context=context,
            return_response=True,
        )
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN, "delete_voice", {"voice_id": "x"}, blocking=True, context=context
        )
    response = await hass.services.async_call(
        DOMAIN, "list_voices", {}, blocking=True, context=context, return_response=True
    )
    assert response == {"voices": []}


def test_action_descriptions_match_the_code() -> None:
    """The UI offers exactly the models and languages the actions accept, in both languages."""
    services = load_yaml_dict(INTEGRATION / "services.yaml")
    for action, models in (("create_voice", CLONING_MODELS), ("design_voice", DESIGN_MODELS)):
        fields = services[action]["fields"]
        assert fields["target_model"]["selector"]["select"]["options"] == list(models)
        assert fields["target_model"]["default"] == models[0]
        assert fields["language"]["selector"]["select"]["options"] == list(ENROLLMENT_LANGUAGES)
    icons = json.loads((INTEGRATION / "icons.json").read_text())
    assert set(icons["services"]) == set(services)

    for language in ("en", "zh-Hans"):
        strings = json.loads((INTEGRATION / "translations" / f"{language}.json").read_text())
        for action, description in services.items():
            translated = strings["services"][action]
            assert translated["name"]
            assert translated["description"]
            for field in description["fields"]:
                assert translated["fields"][field]["name"]
                assert translated["fields"][field]["description"]
        assert set(strings["selector"]["enrollment_language"]["options"]) == set(
            ENROLLMENT_LANGUAGES
        )
