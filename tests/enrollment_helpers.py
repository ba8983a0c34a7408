"""Custom-voice test helpers: recordings, a web server, a voice design, the voices offered."""

import random
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from aiohttp import web
from homeassistant.components.tts.const import DATA_COMPONENT
from homeassistant.components.tts.const import DOMAIN as TTS_DOMAIN
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.qwen_tts_realtime.api import DESIGN_MODELS
from custom_components.qwen_tts_realtime.const import (
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)
from custom_components.qwen_tts_realtime.tts import QwenTtsEntity

# A voice design request: the newest voice-design model, a description and a preview text.
VD_MODEL = DESIGN_MODELS[0]
PROMPT = "一位温暖、略带沙哑的四川奶奶，说话很慢。"
PREVIEW_TEXT = "乖孙，吃饭了没得？"
VOICE_ID = re.compile(r"qwen-tts-vd-nainai-voice-\d{17}-[0-9a-f]{4}")
# Design requests refused before sending: (changed fields, reason, its placeholders).
DESIGN_LIMITS: list[tuple[dict[str, str], str, dict[str, str]]] = [
    ({"voice_prompt": "慢" * 2049}, "voice_prompt_too_long", {"length": "2049", "max": "2048"}),
    ({"voice_prompt": "  \n"}, "voice_prompt_required", {}),
    ({"preview_text": "好" * 1025}, "preview_text_too_long", {"length": "1025", "max": "1024"}),
    ({"preview_text": ""}, "preview_text_required", {}),
    ({"preferred_name": "奶奶"}, "invalid_preferred_name", {"value": "奶奶"}),
    ({"preferred_name": "a" * 17}, "invalid_preferred_name", {"value": "a" * 17}),
]

# Tone level of the generated "speech" (the sine source's default amplitude, about -21 dBFS RMS).
_TONE = "sine=frequency=220:sample_rate={rate}:duration={seconds}"
_FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
_CODECS = {"m4a": ("-c:a", "aac"), "mp3": ("-c:a", "libmp3lame"), "wav": ("-c:a", "pcm_s16le")}


def make_recording(
    path: Path,
    *,
    seconds: float,
    rate: int = 44100,
    channels: int = 2,
    sound_seconds: float | None = None,
    level_db: float = 0.0,
) -> Path:
    """Write a tone recording in the format of ``path``'s suffix and return the path.

    ``sound_seconds`` keeps the tone only at the start (silence after it); ``level_db``
    changes the tone's level; a level of ``-inf`` makes digital silence.
    """
    tone = _TONE.format(rate=rate, seconds=sound_seconds or seconds)
    filters = f"volume={level_db}dB"
    if sound_seconds is not None:
        filters += f",apad=whole_dur={seconds}"
    if level_db == float("-inf"):
        tone, filters = f"anullsrc=sample_rate={rate}:duration={seconds}", "anull"
    command = [
        *(_FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", tone),
        *("-af", filters, "-ac", str(channels), "-ar", str(rate), *_CODECS[path.suffix[1:]]),
        str(path),
    ]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - no shell, own arguments
    return path


def make_browser_recording(path: Path, *, seconds: float) -> Path:
    """Write WebM/Opus the way a browser's MediaRecorder does: streamed, with no duration."""
    tone = _TONE.format(rate=48000, seconds=seconds)
    command = [
        *(_FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", tone),
        *("-c:a", "libopus", "-f", "webm", "pipe:1"),
    ]
    with path.open("wb") as file:
        subprocess.run(command, check=True, stdout=file)  # noqa: S603 - no shell, own arguments
    return path


def write_noise(path: Path, size: int = 64 * 1024) -> Path:
    """Write bytes that are not audio in any format (seeded, so the same every run)."""
    path.write_bytes(random.Random(5).randbytes(size))  # noqa: S311 - test data
    return path


class FileServer:
    """Serves files over http://127.0.0.1, like a NAS or a phone-sync web folder would."""

    def __init__(self) -> None:
        """Create a stopped server with no files."""
        self.files: dict[str, bytes] = {}
        # Served chunked (no Content-Length): this many bytes of zeros.
        self.endless_bytes = 0
        # /redirect/{name} answers 302 to redirects[name].
        self.redirects: dict[str, str] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Self:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/redirect/{name}", self._redirect)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        """Return the URL of a file (which may not exist)."""
        return f"{self.base_url}/files/{name}"

    async def _file(self, request: web.Request) -> web.Response:
        """Serve one file, or 404."""
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.Response:
        """Redirect to where ``redirects`` says."""
        raise web.HTTPFound(self.redirects[request.match_info["name"]])

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Send ``endless_bytes`` without announcing the size."""
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = bytes(1024 * 1024)
        try:
            for _ in range(self.endless_bytes // len(chunk)):
                await response.write(chunk)
        except ConnectionError:
            # The client stopped reading, as it should when the size limit is passed.
            pass
        return response


@dataclass(frozen=True, slots=True)
class Recordings:
    """The recordings people actually have, and the ones voice cloning cannot use."""

    phone_m4a: Path  # a phone memo: stereo AAC, 44.1 kHz, 75 s (too long: trimmed)
    memo_mp3: Path  # stereo MP3, 44.1 kHz, 15 s
    memo_wav: Path  # stereo 16-bit WAV, 44.1 kHz, 15 s
    browser_webm: Path  # WebM/Opus from a browser, 70 s, its duration not recorded
    short_wav: Path  # mono 48 kHz, 5 s
    silent_m4a: Path  # 15 s of digital silence
    sparse_wav: Path  # 15 s with only 2 s of sound
    whisper_wav: Path  # 15 s at -60 dB below the normal tone: too quiet to be speech
    noise: Path  # random bytes named like audio
    text: Path  # a text file

    @classmethod
    def create(cls, directory: Path) -> Self:
        """Make every recording in ``directory``."""
        return cls(
            phone_m4a=make_recording(directory / "phone.m4a", seconds=75),
            memo_mp3=make_recording(directory / "memo.mp3", seconds=15),
            memo_wav=make_recording(directory / "memo.wav", seconds=15),
            browser_webm=make_browser_recording(directory / "browser.webm", seconds=70),
            short_wav=make_recording(directory / "short.wav", seconds=5, rate=48000, channels=1),
            silent_m4a=make_recording(directory / "silent.m4a", seconds=15, level_db=float("-inf")),
            sparse_wav=make_recording(directory / "sparse.wav", seconds=15, sound_seconds=2),
            whisper_wav=make_recording(directory / "whisper.wav", seconds=15, level_db=-60),
            noise=write_noise(directory / "noise.m4a"),
            text=_write_text(directory / "notes.txt"),
        )


def _write_text(path: Path) -> Path:
    """Write a text file, what a wrong pick in a file browser gives."""
    path.write_text("Shopping list: milk, eggs, bread.\n")
    return path


def added_profile(
    hass: HomeAssistant, entry: ConfigEntry, response: Mapping[str, Any], *, title: str, model: str
) -> str:
    """Check the Chinese voice profile an action added for its new voice; return its entity id."""
    profile = entry.subentries[response["profile_subentry_id"]]
    assert (profile.subentry_type, profile.title) == (SUBENTRY_TTS, title)
    assert dict(profile.data) == DEFAULT_PROFILE | {
        CONF_MODEL: model,
        CONF_VOICE: response["voice_id"],
        CONF_LANGUAGE_TYPE: "Chinese",
    }
    assert entry.state is ConfigEntryState.LOADED
    entity_id = er.async_get(hass).async_get_entity_id(
        TTS_DOMAIN, DOMAIN, response["profile_subentry_id"]
    )
    assert entity_id is not None
    return entity_id


def offered_voices(hass: HomeAssistant, entity_id: str) -> list[str]:
    """Return the voice ids a profile's TTS entity offers, in order (the first is the default)."""
    entity = hass.data[DATA_COMPONENT].get_entity(entity_id)
    assert isinstance(entity, QwenTtsEntity)
    voices = entity.async_get_supported_voices(hass.config.language)
    assert voices is not None
    return [voice.voice_id for voice in voices]
