"""Recordings for voice cloning: where they come from, what is refused, what is uploaded."""

import tempfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component

from custom_components.qwen_tts_realtime import recording as recording_module
from custom_components.qwen_tts_realtime.recording import (
    MAX_DOWNLOAD_BYTES,
    Recording,
    async_prepare_recording,
)

from .enrollment_helpers import FileServer, Recordings, make_recording
from .tts_helpers import read_wav


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give each test its own configuration folder (some write files into it)."""
    return hass_tmp_config_dir


@pytest.fixture
def ffmpeg_config() -> dict[str, Any]:
    """Return the configuration of the ffmpeg integration (the defaults)."""
    return {}


@pytest.fixture(autouse=True)
async def setup_ffmpeg(
    hass: HomeAssistant, recordings: Recordings, ffmpeg_config: dict[str, Any]
) -> None:
    """Set up Home Assistant's ffmpeg and allow reading the recordings' folder."""
    assert await async_setup_component(hass, "ffmpeg", ffmpeg_config)
    hass.config.allowlist_external_dirs = {str(recordings.phone_m4a.parent)}


def placeholders(err: HomeAssistantError) -> dict[str, str]:
    """Return the values an error's translated message is built from."""
    assert err.translation_placeholders is not None
    return err.translation_placeholders


def assert_upload(recording: Recording, seconds: float) -> None:
    """Check the WAV that would be uploaded: mono 16-bit, 24 kHz, ``seconds`` long."""
    info = read_wav(recording.wav)
    assert (info.channels, info.sample_rate, info.sample_width) == (1, 24000, 2)
    assert info.seconds == pytest.approx(seconds, abs=0.1)
    assert recording.duration == pytest.approx(info.seconds)
    assert recording.data_uri.startswith("data:audio/wav;base64,")


async def test_phone_memo_is_converted_and_trimmed_to_a_minute(
    hass: HomeAssistant, recordings: Recordings
) -> None:
    """A 75 s stereo 44.1 kHz M4A becomes 60 s of mono 24 kHz WAV, and says it was cut."""
    result = await async_prepare_recording(hass, str(recordings.phone_m4a))

    assert_upload(result, 60.0)
    assert result.trimmed
    assert result.as_dict() == {
        "duration": 60.0,
        "original_duration": 75.0,
        "trimmed": True,
        "sample_rate": 24000,
    }


async def test_recordings_of_unknown_length_are_trimmed_too(
    hass: HomeAssistant, recordings: Recordings
) -> None:
    """A browser's WebM does not say how long it is: it is cut all the same."""
    result = await async_prepare_recording(hass, str(recordings.browser_webm))

    assert_upload(result, 60.0)
    assert result.trimmed
    assert result.as_dict()["original_duration"] is None


@pytest.mark.parametrize("name", ["memo_mp3", "memo_wav"])
async def test_stereo_recordings_become_mono_24khz(
    hass: HomeAssistant, recordings: Recordings, name: str
) -> None:
    """MP3 and WAV at 44.1 kHz stereo are converted whole: 15 s stays 15 s."""
    result = await async_prepare_recording(hass, str(getattr(recordings, name)))

    assert_upload(result, 15.0)
    assert not result.trimmed
    assert result.as_dict()["original_duration"] == result.as_dict()["duration"]


async def test_relative_paths_start_in_the_config_folder(hass: HomeAssistant) -> None:
    """``www/voice.wav`` is the file in the configuration folder's www folder."""
    www = Path(hass.config.path("www"))
    await hass.async_add_executor_job(lambda: www.mkdir(exist_ok=True))
    await hass.async_add_executor_job(
        lambda: make_recording(www / "voice.wav", seconds=12, rate=24000, channels=1)
    )
    hass.config.allowlist_external_dirs = {str(www)}

    assert_upload(await async_prepare_recording(hass, "www/voice.wav"), 12.0)


@pytest.mark.parametrize(
    ("name", "key", "placeholders"),
    [
        ("short_wav", "recording_too_short", {"duration": "5.0", "minimum": "10"}),
        ("silent_m4a", "recording_too_quiet", {"sound": "0.0", "minimum": "3"}),
        ("whisper_wav", "recording_too_quiet", {"sound": "0.0", "minimum": "3"}),
        ("sparse_wav", "recording_too_quiet", {"sound": "2.0", "minimum": "3"}),
    ],
)
async def test_recordings_that_cannot_make_a_voice_are_refused(
    hass: HomeAssistant,
    recordings: Recordings,
    name: str,
    key: str,
    placeholders: dict[str, str],
) -> None:
    """Too short, silent or almost silent recordings get a translated, measured reason."""
    with pytest.raises(ServiceValidationError) as err:
        await async_prepare_recording(hass, str(getattr(recordings, name)))

    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders


@pytest.mark.parametrize("name", ["noise", "text"])
async def test_files_that_are_not_audio_are_refused(
    hass: HomeAssistant, recordings: Recordings, name: str
) -> None:
    """Random bytes and a text file are refused with ffmpeg's reason, without the path."""
    path = getattr(recordings, name)
    with pytest.raises(ServiceValidationError) as err:
        await async_prepare_recording(hass, str(path))

    assert err.value.translation_key == "recording_not_audio"
    reason = placeholders(err.value)["error"]
    assert reason == "Invalid data found when processing input"
    assert str(path) not in reason


async def test_paths_outside_the_allowed_folders_are_refused(
    hass: HomeAssistant, recordings: Recordings
) -> None:
    """Only folders Home Assistant may read are read; nothing is said about others."""
    hass.config.allowlist_external_dirs = {hass.config.path("www")}

    for path in (recordings.memo_wav, recordings.phone_m4a.parent / "missing.wav"):
        with pytest.raises(ServiceValidationError) as err:
            await async_prepare_recording(hass, str(path))
        assert err.value.translation_key == "recording_path_not_allowed"
        assert err.value.translation_placeholders == {"path": str(path)}


async def test_missing_files_in_allowed_folders_are_reported(
    hass: HomeAssistant, recordings: Recordings
) -> None:
    """A typo in an allowed folder says the file is not there (folders are not files)."""
    folder = recordings.phone_m4a.parent
    for path in (folder / "missing.wav", folder):
        with pytest.raises(ServiceValidationError) as err:
            await async_prepare_recording(hass, str(path))
        assert err.value.translation_key == "recording_not_found"


@pytest.fixture
async def local_media(hass: HomeAssistant, recordings: Recordings) -> None:
    """Use the recordings' folder as the "local" media folder."""
    hass.config.media_dirs = {"local": str(recordings.phone_m4a.parent)}
    assert await async_setup_component(hass, media_source.DOMAIN, {})


@pytest.mark.usefixtures("local_media")
async def test_media_browser_picks_are_read_from_the_media_folder(hass: HomeAssistant) -> None:
    """The media selector's value and a plain media-source id both work."""
    picked = {
        "media_content_id": "media-source://media_source/local/phone.m4a",
        "media_content_type": "audio/mp4",
    }
    assert_upload(await async_prepare_recording(hass, picked), 60.0)
    # The media folder is readable even when it is not on the allowlist.
    hass.config.allowlist_external_dirs = set()
    assert_upload(
        await async_prepare_recording(hass, "media-source://media_source/local/memo.mp3"), 15.0
    )


@pytest.mark.usefixtures("local_media")
async def test_media_items_that_cannot_be_resolved_are_refused(hass: HomeAssistant) -> None:
    """An unknown media folder gets a translated error naming the item."""
    item = "media-source://media_source/elsewhere/memo.mp3"
    with pytest.raises(ServiceValidationError) as err:
        await async_prepare_recording(hass, item)

    assert err.value.translation_key == "recording_unresolvable"
    assert placeholders(err.value)["recording"] == item


@pytest.mark.usefixtures("local_media")
async def test_media_items_that_escape_the_media_folder_are_refused(
    hass: HomeAssistant, recordings: Recordings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A file without extension, an encoded ``..`` and a symlink out get translated errors."""
    folder = recordings.phone_m4a.parent
    (folder / "memo").write_bytes(recordings.memo_mp3.read_bytes())
    outside = tmp_path_factory.mktemp("secret") / "secret.mp3"
    outside.write_bytes(recordings.memo_mp3.read_bytes())
    (folder / "link.mp3").symlink_to(outside)
    hass.config.allowlist_external_dirs = {str(folder)}

    with pytest.raises(ServiceValidationError) as no_type:
        await async_prepare_recording(hass, "media-source://media_source/local/memo")
    assert no_type.value.translation_key == "recording_no_type"

    with pytest.raises(ServiceValidationError) as dots:
        await async_prepare_recording(hass, "media-source://media_source/local/%2e%2e/secret.mp3")
    assert dots.value.translation_key == "recording_not_found"

    with pytest.raises(ServiceValidationError) as link:
        await async_prepare_recording(hass, "media-source://media_source/local/link.mp3")
    assert link.value.translation_key == "recording_path_not_allowed"


async def test_link_local_addresses_are_never_fetched(
    hass: HomeAssistant, recordings: Recordings, file_server: FileServer
) -> None:
    """Metadata addresses are refused, directly or behind a redirect; redirects are bounded."""
    file_server.files["memo.wav"] = recordings.memo_wav.read_bytes()
    for url in ("http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x.wav"):
        with pytest.raises(ServiceValidationError) as direct:
            await async_prepare_recording(hass, url)
        assert direct.value.translation_key == "recording_address_not_allowed"

    file_server.redirects["meta"] = "http://169.254.169.254/latest/meta-data"
    with pytest.raises(ServiceValidationError) as redirected:
        await async_prepare_recording(hass, f"{file_server.base_url}/redirect/meta")
    assert redirected.value.translation_key == "recording_address_not_allowed"

    file_server.redirects["loop"] = f"{file_server.base_url}/redirect/loop"
    with pytest.raises(ServiceValidationError) as loop:
        await async_prepare_recording(hass, f"{file_server.base_url}/redirect/loop")
    assert loop.value.translation_key == "recording_download_failed"

    file_server.redirects["ok"] = "/files/memo.wav"
    result = await async_prepare_recording(hass, f"{file_server.base_url}/redirect/ok")
    assert result.duration > 10


@pytest.mark.usefixtures("local_media")
async def test_media_items_that_are_web_addresses_are_downloaded(
    hass: HomeAssistant, recordings: Recordings, file_server: FileServer
) -> None:
    """A media source that resolves to an http(s) URL (a NAS, a radio) is downloaded.

    Home Assistant's own media sources either give a file or such a URL, except the
    ones served by Home Assistant itself (a relative URL), which are refused.
    """
    file_server.files["memo.wav"] = recordings.memo_wav.read_bytes()
    item = "media-source://nas/memo.wav"
    resolve = "homeassistant.components.media_source.async_resolve_media"
    with patch(resolve, return_value=media_source.PlayMedia(file_server.url("memo.wav"), "")):
        assert_upload(await async_prepare_recording(hass, item), 15.0)

    # Errors name the media item, not the address (which may carry an access token).
    with (
        patch(resolve, return_value=media_source.PlayMedia(file_server.url("gone.wav"), "")),
        pytest.raises(ServiceValidationError) as err,
    ):
        await async_prepare_recording(hass, item)
    assert placeholders(err.value) == {"url": item, "error": "HTTP 404"}

    with (
        patch(resolve, return_value=media_source.PlayMedia("/api/tts_proxy/x.mp3", "")),
        pytest.raises(ServiceValidationError) as err,
    ):
        await async_prepare_recording(hass, item)
    assert err.value.translation_key == "recording_source_not_supported"


def _temporary_recordings() -> set[Path]:
    """Return the download copies left in the temporary folder."""
    return set(Path(tempfile.gettempdir()).glob("qwen_tts_recording_*"))


async def test_recordings_are_downloaded_from_web_addresses(
    hass: HomeAssistant, recordings: Recordings, file_server: FileServer
) -> None:
    """An M4A on a web server is downloaded, converted, and its copy removed."""
    file_server.files["phone.m4a"] = recordings.phone_m4a.read_bytes()
    before = await hass.async_add_executor_job(_temporary_recordings)

    result = await async_prepare_recording(hass, file_server.url("phone.m4a"))

    assert_upload(result, 60.0)
    assert result.trimmed
    assert await hass.async_add_executor_job(_temporary_recordings) == before


async def test_unusable_downloads_are_refused(
    hass: HomeAssistant, recordings: Recordings, file_server: FileServer
) -> None:
    """A missing file, a dead server and an oversized file all say what went wrong."""
    with pytest.raises(ServiceValidationError) as err:
        await async_prepare_recording(hass, file_server.url("missing.m4a"))
    assert err.value.translation_key == "recording_download_failed"
    assert placeholders(err.value)["error"] == "HTTP 404"

    file_server.files["huge.wav"] = bytes(MAX_DOWNLOAD_BYTES + 1)
    file_server.endless_bytes = MAX_DOWNLOAD_BYTES + 2 * 1024 * 1024
    for url in (file_server.url("huge.wav"), f"{file_server.base_url}/stream"):
        with pytest.raises(ServiceValidationError) as err:
            await async_prepare_recording(hass, url)
        assert err.value.translation_key == "recording_too_large"
        assert err.value.translation_placeholders == {"url": url, "limit": "25"}

    url = file_server.url("phone.m4a")
    await file_server.close()
    with pytest.raises(ServiceValidationError) as err:
        await async_prepare_recording(hass, url)
    assert err.value.translation_key == "recording_download_failed"


@pytest.mark.parametrize("ffmpeg_config", [{"ffmpeg": {"ffmpeg_bin": "/nonexistent/ffmpeg"}}])
async def test_a_missing_ffmpeg_is_reported(hass: HomeAssistant, recordings: Recordings) -> None:
    """A wrong ffmpeg_bin in the ffmpeg integration's settings gives a translated error."""
    with pytest.raises(HomeAssistantError) as err:
        await async_prepare_recording(hass, str(recordings.memo_wav))

    assert err.value.translation_key == "recording_ffmpeg_failed"
    assert "/nonexistent/ffmpeg" in placeholders(err.value)["error"]


async def test_a_stuck_ffmpeg_is_stopped(hass: HomeAssistant, recordings: Recordings) -> None:
    """An ffmpeg that takes longer than allowed is killed and reported."""
    with (
        patch.object(recording_module, "FFMPEG_TIMEOUT", 0),
        pytest.raises(HomeAssistantError) as err,
    ):
        await async_prepare_recording(hass, str(recordings.phone_m4a))

    assert err.value.translation_key == "recording_ffmpeg_failed"
    assert err.value.translation_placeholders == {"error": "no result after 0 s"}
