"""Recordings for voice cloning: find them, check them and normalise them with ffmpeg.

Whatever people have (a stereo 44.1 kHz phone memo in M4A, an MP3, a long WAV) becomes
what the enrollment service asks for: mono 16-bit WAV at 24 kHz, at most 60 s. Recordings
that cannot make a voice are refused here, before anything is uploaded.
"""

import asyncio
import ipaddress
import math
import os
import re
import socket
import sys
import tempfile
from array import array
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from homeassistant.components import media_source
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import audio_data_uri, pcm_to_wav
from .const import DOMAIN

# Qwen3-TTS works at 24 kHz, and the service refuses recordings below it (protocol.md B.7).
SAMPLE_RATE = 24000
BYTES_PER_SECOND = SAMPLE_RATE * 2
# The service refuses recordings longer than a minute; longer ones are cut to their start.
MAX_SECONDS = 60.0
# The service asks for 10-20 s; shorter recordings make poor voices or are refused.
MIN_SECONDS = 10.0
# The service needs at least 3 s of clear speech.
MIN_SOUND_SECONDS = 3.0
# A 50 ms window counts as sound when its RMS reaches -45 dBFS: speech in a phone memo sits
# around -30 to -15 dBFS, a quiet room around -60 dBFS. A level check, not speech detection.
WINDOW_SAMPLES = SAMPLE_RATE // 20
SOUND_RMS = 32768 * 10 ** (-45 / 20)
# Downloads are held in memory; a minute of 48 kHz 24-bit stereo WAV is 17 MB.
MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
DOWNLOAD_TIMEOUT = 60.0
# A download follows at most this many redirects, checking the address of each hop.
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Link-local networks hold the cloud metadata services (169.254.169.254, and Alibaba
# Cloud's 100.100.100.200), which hand out credentials: never fetched.
_FORBIDDEN_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("100.100.100.200/32"),
)
# ffmpeg stops after a minute of output, so even a long input decodes in seconds.
FFMPEG_TIMEOUT = 60.0

_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_MEDIA_SOURCE_PREFIX = "media-source://"


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    """A recording ready for upload, and what was measured on the way."""

    wav: bytes
    duration: float
    original_duration: float | None
    trimmed: bool

    @property
    def data_uri(self) -> str:
        """Return the recording as the ``data:`` URI the enrollment service takes."""
        return audio_data_uri(self.wav, "audio/wav")

    def as_dict(self) -> dict[str, Any]:
        """Return what the create action reports about the uploaded recording."""
        return {
            "duration": round(self.duration, 2),
            "original_duration": (
                None if self.original_duration is None else round(self.original_duration, 2)
            ),
            "trimmed": self.trimmed,
            "sample_rate": SAMPLE_RATE,
        }


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    """Return a translated error about a recording the user has to change."""
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def async_prepare_recording(
    hass: HomeAssistant, recording: str | Mapping[str, Any]
) -> Recording:
    """Load, check and normalise a recording for upload.

    ``recording`` is a media selector value, a ``media-source://`` id, an http(s) URL or
    a file path (relative paths are taken from the configuration folder). Raises
    ``ServiceValidationError`` for recordings that cannot be used.
    """
    async with _async_local_file(hass, recording) as path:
        pcm, original_duration = await _async_decode(hass, path)
    max_bytes = int(MAX_SECONDS * BYTES_PER_SECOND)
    trimmed = len(pcm) > max_bytes
    pcm = pcm[:max_bytes]
    sound_seconds = await hass.async_add_executor_job(_sound_seconds, pcm)
    duration = len(pcm) / BYTES_PER_SECOND
    if duration < MIN_SECONDS:
        raise _invalid(
            "recording_too_short", duration=f"{duration:.1f}", minimum=f"{MIN_SECONDS:g}"
        )
    if sound_seconds < MIN_SOUND_SECONDS:
        raise _invalid(
            "recording_too_quiet", sound=f"{sound_seconds:.1f}", minimum=f"{MIN_SOUND_SECONDS:g}"
        )
    return Recording(
        wav=pcm_to_wav(pcm, SAMPLE_RATE),
        duration=duration,
        original_duration=original_duration if trimmed else duration,
        trimmed=trimmed,
    )


@asynccontextmanager
async def _async_local_file(
    hass: HomeAssistant, recording: str | Mapping[str, Any]
) -> AsyncIterator[Path]:
    """Yield a local file holding the recording (a temporary one for downloads)."""
    if isinstance(recording, Mapping):
        recording = str(recording["media_content_id"])
    # Errors name what the user gave: a media source's address may hold an access token.
    shown = recording
    if recording.startswith(_MEDIA_SOURCE_PREFIX):
        try:
            media = await media_source.async_resolve_media(hass, recording, None)
        except media_source.Unresolvable as err:
            raise _invalid("recording_unresolvable", recording=recording, error=str(err)) from err
        except AssertionError as err:
            # The local media source asserts a MIME type, which a file without extension lacks.
            raise _invalid("recording_no_type", recording=recording) from err
        if media.path is not None:
            # The media source checks the path's name, not where a symlink in it leads.
            if not await hass.async_add_executor_job(_is_readable, hass, media.path):
                raise _invalid("recording_path_not_allowed", path=str(media.path))
            yield await _async_existing_file(hass, media.path)
            return
        if not media.url.startswith(("http://", "https://")):
            raise _invalid("recording_source_not_supported", recording=recording)
        recording = media.url
    if recording.startswith(("http://", "https://")):
        data = await _async_download(hass, recording, shown)
        path = await hass.async_add_executor_job(_write_temp_file, data)
        try:
            yield path
        finally:
            await hass.async_add_executor_job(path.unlink)
        return
    path = Path(hass.config.path(recording))
    # Check the allowlist before existence, so nothing is told about other folders.
    if not await hass.async_add_executor_job(hass.config.is_allowed_path, str(path)):
        raise _invalid("recording_path_not_allowed", path=str(path))
    yield await _async_existing_file(hass, path)


def _is_readable(hass: HomeAssistant, path: Path) -> bool:
    """Tell whether ``path``, symlinks followed, is in a media folder or an allowed folder."""
    target = path.resolve()
    media_dirs = [Path(folder).resolve() for folder in hass.config.media_dirs.values()]
    return any(target.is_relative_to(folder) for folder in media_dirs) or (
        hass.config.is_allowed_path(str(target))
    )


async def _async_existing_file(hass: HomeAssistant, path: Path) -> Path:
    """Return ``path`` if it is a file (not a folder, not a pipe ffmpeg would wait on)."""
    if not await hass.async_add_executor_job(path.is_file):
        raise _invalid("recording_not_found", path=str(path))
    return path


async def _async_download(hass: HomeAssistant, url: str, shown: str) -> bytes:
    """Download a recording into memory, refusing anything over the size limit.

    Errors name the recording as ``shown``.
    """
    limit = f"{MAX_DOWNLOAD_BYTES // (1024 * 1024)}"
    received = bytearray()
    try:
        async with _async_get_checked(hass, url, shown) as response:
            if not response.ok:
                raise _invalid(
                    "recording_download_failed", url=shown, error=f"HTTP {response.status}"
                )
            if (response.content_length or 0) > MAX_DOWNLOAD_BYTES:
                raise _invalid("recording_too_large", url=shown, limit=limit)
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += chunk
                if len(received) > MAX_DOWNLOAD_BYTES:
                    raise _invalid("recording_too_large", url=shown, limit=limit)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise _invalid(
            "recording_download_failed", url=shown, error=str(err) or type(err).__name__
        ) from err
    return bytes(received)


async def _async_check_address(hass: HomeAssistant, url: str, shown: str) -> None:
    """Refuse a URL whose host is, or resolves to, a link-local or metadata address."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await hass.loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as err:
        raise _invalid("recording_download_failed", url=shown, error=str(err)) from err
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if any(address in network for network in _FORBIDDEN_NETWORKS):
            raise _invalid("recording_address_not_allowed", url=shown, address=str(address))


@asynccontextmanager
async def _async_get_checked(
    hass: HomeAssistant, url: str, shown: str
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET ``url``, following at most MAX_REDIRECTS redirects and checking every hop."""
    session = async_get_clientsession(hass)
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    for _ in range(MAX_REDIRECTS + 1):
        if not url.startswith(("http://", "https://")):
            raise _invalid("recording_source_not_supported", recording=shown)
        await _async_check_address(hass, url, shown)
        async with session.get(url, timeout=timeout, allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                yield response
                return
            url = urljoin(url, location)
    raise _invalid("recording_download_failed", url=shown, error="too many redirects")


def _write_temp_file(data: bytes) -> Path:
    """Write a download to a temporary file: ffmpeg needs to seek in M4A files."""
    handle, name = tempfile.mkstemp(prefix="qwen_tts_recording_")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return Path(name)


async def _async_decode(hass: HomeAssistant, path: Path) -> tuple[bytes, float | None]:
    """Decode the first audio stream to 24 kHz mono 16-bit PCM, a little over a minute at most.

    Returns the PCM and the input's duration as ffmpeg reports it (``None`` if unknown).
    """
    command = (
        get_ffmpeg_manager(hass).binary,
        *("-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-map", "0:a:0"),
        *("-ac", "1", "-ar", str(SAMPLE_RATE), "-t", f"{MAX_SECONDS + 1:g}"),
        *("-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"),
    )
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="recording_ffmpeg_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    try:
        async with asyncio.timeout(FFMPEG_TIMEOUT):
            pcm, log = await process.communicate()
    except TimeoutError as err:
        process.kill()
        await process.wait()
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="recording_ffmpeg_failed",
            translation_placeholders={"error": f"no result after {FFMPEG_TIMEOUT:g} s"},
        ) from err
    messages = log.decode(errors="replace")
    if process.returncode:
        last_line = next(
            (line for line in reversed(messages.splitlines()) if line.strip()), "unknown error"
        )
        raise _invalid("recording_not_audio", error=last_line.removeprefix(f"{path}: ").strip())
    duration = _DURATION.search(messages)
    if duration is None:
        return pcm, None
    hours, minutes, seconds = duration.groups()
    return pcm, int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _sound_seconds(pcm: bytes) -> float:
    """Return how many seconds of 16-bit PCM are loud enough to be speech."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - PCM from ffmpeg is little-endian
        samples.byteswap()
    loud = 0
    threshold = SOUND_RMS * SOUND_RMS
    for start in range(0, len(samples) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES):
        window = samples[start : start + WINDOW_SAMPLES]
        if math.sumprod(window, window) / WINDOW_SAMPLES >= threshold:
            loud += 1
    return loud * WINDOW_SAMPLES / SAMPLE_RATE
