"""Voice previews kept in a media folder, where the media browser and media players find them."""

import re
from dataclasses import dataclass
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .api import DesignedVoice
from .const import DOMAIN, LOGGER

# The media folder Home Assistant creates by default; another one is used if it is not set up.
_DEFAULT_MEDIA_DIR = "local"
# Voice ids are letters, digits, "-" and "_" (protocol.md B.2); anything else never reaches a path.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class PreviewFolder:
    """Where previews go: a folder of this integration inside one media folder."""

    media_dir_id: str
    path: Path

    def media_content_id(self, file_name: str) -> str:
        """Return the ``media-source://`` id of a file in this folder."""
        return f"media-source://media_source/{self.media_dir_id}/{DOMAIN}/{file_name}"


def preview_folder(hass: HomeAssistant) -> PreviewFolder:
    """Return the folder for previews; refuse when Home Assistant has no media folder."""
    media_dirs = hass.config.media_dirs
    if not media_dirs:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_media_folder")
    media_dir_id = next(iter(media_dirs))
    if _DEFAULT_MEDIA_DIR in media_dirs:
        media_dir_id = _DEFAULT_MEDIA_DIR
    return PreviewFolder(media_dir_id, Path(media_dirs[media_dir_id]) / DOMAIN)


def preview_file_name(voice_id: str) -> str:
    """Return the file name of a voice's preview, e.g. ``qwen-tts-vd-nainai-voice-….wav``."""
    return f"{_UNSAFE.sub('_', voice_id)}.wav"


async def _async_write_preview(
    hass: HomeAssistant, folder: PreviewFolder, voice_id: str, wav: bytes
) -> Path:
    """Write a voice's preview into ``folder`` (created if needed) and return the file path."""
    path = folder.path / preview_file_name(voice_id)

    def write() -> None:
        """Create the folder and write the file (blocking, in the executor)."""
        folder.path.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav)

    await hass.async_add_executor_job(write)
    return path


async def async_keep_preview(
    hass: HomeAssistant, folder: PreviewFolder, designed: DesignedVoice
) -> dict[str, str | float | int] | None:
    """Save a new voice's preview; return where it is and what it is, or ``None``.

    The voice exists and works whatever happens here, so a missing preview or a
    folder that cannot be written is logged instead of failing the action (which
    would make people design the voice again).
    """
    voice_id = designed.voice.voice_id
    if designed.preview is None:
        LOGGER.warning("DashScope sent no playable preview for voice %s", voice_id)
        return None
    try:
        path = await _async_write_preview(hass, folder, voice_id, designed.preview.wav)
    except OSError as err:
        LOGGER.warning("The preview of voice %s could not be saved: %s", voice_id, err)
        return None
    return {
        "media_content_id": folder.media_content_id(path.name),
        "path": str(path),
        "duration": round(designed.preview.seconds, 3),
        "sample_rate": designed.preview.sample_rate,
    }
