"""Voice previews kept in a media folder, where the media browser and media players find them."""

import re
from dataclasses import dataclass
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .const import DOMAIN

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


async def async_save_preview(
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
