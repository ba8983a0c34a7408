"""Local emulator of Alibaba Cloud DashScope: Qwen-TTS-Realtime, voice enrollment and design.

It implements `shared/docs/protocol.md` (sections A, B and C) on one aiohttp server:

* ``GET  /api-ws/v1/realtime?model=<model>`` - the realtime WebSocket TTS protocol;
* ``POST /api/v1/services/audio/tts/customization`` - the ``qwen-voice-enrollment`` (cloning,
  B.2-B.8) and ``qwen-voice-design`` (B.9) HTTP APIs.

It is an independent implementation of the protocol: it imports nothing from Home Assistant
or from the integration. Audio is deterministic (a tone whose pitch depends on the segment and
whose length is `synth_audio_seconds`), so tests can assert exact durations.

Where the spec leaves a choice to "the reference emulator", the choice made here is written
next to the code that makes it. Run standalone with ``python -m tests.dashscope_emulator``.
"""

import argparse
import asyncio
import base64
import binascii
import contextlib
import io
import json
import logging
import math
import os
import re
import secrets
import signal
import ssl
import string
import struct
import sys
import tempfile
import time
import uuid
import wave
from array import array
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from functools import partial
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

_LOGGER = logging.getLogger(__name__)

REALTIME_PATH: Final = "/api-ws/v1/realtime"
CUSTOMIZATION_PATH: Final = "/api/v1/services/audio/tts/customization"
ENROLLMENT_MODEL: Final = "qwen-voice-enrollment"
DESIGN_MODEL: Final = "qwen-voice-design"

# ---------------------------------------------------------------------------------------------
# Protocol tables (protocol.md A.4.1, A.9 and C)
# ---------------------------------------------------------------------------------------------


class _Family(StrEnum):
    """Model families of A.9; capabilities differ per family."""

    INSTRUCT = "instruct"
    FLASH = "flash"
    VC = "vc"
    VD = "vd"
    QWEN_TTS = "qwen-tts"


_FLASH_VOICES_ALL: Final = frozenset(
    {
        "Cherry", "Ethan", "Nofish", "Jennifer", "Ryan", "Katerina", "Elias", "Jada", "Dylan",
        "Li", "Marcus", "Roy", "Peter", "Sunny", "Eric", "Rocky", "Kiki",
    }
)  # fmt: skip
_FLASH_VOICES_2025_11_27: Final = _FLASH_VOICES_ALL | frozenset(
    {
        "Serena", "Chelsie", "Momo", "Vivian", "Moon", "Maia", "Kai", "Bella", "Aiden",
        "Eldric Sage", "Mia", "Mochi", "Bellona", "Vincent", "Bunny", "Neil", "Arthur", "Nini",
        "Ebona", "Seren", "Pip", "Stella", "Bodega", "Sonrisa", "Alek", "Dolce", "Sohee",
        "Ono Anna", "Lenn", "Emilien", "Andre", "Radio Gol",
    }
)  # fmt: skip
# Section C says the Instruct list is not published; the reference emulator uses this one.
_INSTRUCT_VOICES: Final = frozenset(
    {
        "Cherry", "Serena", "Ethan", "Chelsie", "Momo", "Vivian", "Moon", "Maia", "Kai",
        "Nofish", "Bella", "Eldric Sage", "Mia", "Mochi", "Bellona", "Vincent", "Bunny", "Neil",
        "Elias", "Arthur", "Nini", "Seren", "Pip", "Stella",
    }
)  # fmt: skip
_QWEN_TTS_VOICES: Final = frozenset({"Cherry", "Serena", "Ethan", "Chelsie"})
_NO_SYSTEM_VOICES: Final[frozenset[str]] = frozenset()

_QWEN3_FORMATS: Final = ("pcm", "wav", "mp3", "opus")
_QWEN3_RATES: Final = (8000, 16000, 24000, 48000)


@dataclass(frozen=True, slots=True)
class _ModelSpec:
    """What one realtime model accepts in ``session.update``."""

    family: _Family
    system_voices: frozenset[str]
    formats: tuple[str, ...] = _QWEN3_FORMATS
    sample_rates: tuple[int, ...] = _QWEN3_RATES

    @property
    def tuning(self) -> bool:
        """Whether speech_rate / pitch_rate / volume / bit_rate are accepted."""
        return self.family is not _Family.QWEN_TTS

    @property
    def instructions(self) -> bool:
        """Whether instructions / optimize_instructions are accepted."""
        return self.family is _Family.INSTRUCT

    @property
    def token_billing(self) -> bool:
        """First-generation Qwen-TTS bills tokens; the Qwen3 families bill characters."""
        return self.family is _Family.QWEN_TTS


_INSTRUCT = _ModelSpec(_Family.INSTRUCT, _INSTRUCT_VOICES)
_FLASH_NEW = _ModelSpec(_Family.FLASH, _FLASH_VOICES_2025_11_27)
_VC = _ModelSpec(_Family.VC, _NO_SYSTEM_VOICES)
_VD = _ModelSpec(_Family.VD, _NO_SYSTEM_VOICES)
_QWEN_TTS = _ModelSpec(_Family.QWEN_TTS, _QWEN_TTS_VOICES, ("pcm",), (24000,))

MODELS: Final[Mapping[str, _ModelSpec]] = {
    "qwen3-tts-instruct-flash-realtime": _INSTRUCT,
    "qwen3-tts-instruct-flash-realtime-2026-01-22": _INSTRUCT,
    "qwen3-tts-vd-realtime-2026-01-15": _VD,
    "qwen3-tts-vd-realtime-2025-12-16": _VD,
    "qwen3-tts-vc-realtime-2026-01-15": _VC,
    "qwen3-tts-vc-realtime-2025-11-27": _VC,
    "qwen-tts-vc-realtime-2025-08-20": _VC,
    "qwen3-tts-flash-realtime": _FLASH_NEW,
    "qwen3-tts-flash-realtime-2025-11-27": _FLASH_NEW,
    "qwen3-tts-flash-realtime-2025-09-18": _ModelSpec(_Family.FLASH, _FLASH_VOICES_ALL),
    "qwen-tts-realtime": _QWEN_TTS,
    "qwen-tts-realtime-latest": _QWEN_TTS,
    "qwen-tts-realtime-2025-07-15": _QWEN_TTS,
}

# B.2: target models a voice may be cloned for (2026 list + the Aug-2025 legacy model).
ENROLLMENT_TARGET_MODELS: Final = (
    "qwen3-tts-vc-realtime-2026-01-15",
    "qwen3-tts-vc-realtime-2025-11-27",
    "qwen3-tts-vc-2026-01-22",
    "qwen-tts-vc-realtime-2025-08-20",
)
_ENROLLMENT_LANGUAGES: Final = ("zh", "en", "de", "it", "pt", "es", "ja", "ko", "fr", "ru", "id")
# B.9 and the voice design reference: targets (realtime and the HTTP snapshot), the length
# limits of the description and the preview text, languages, and the preview's formats.
DESIGN_TARGET_MODELS: Final = (
    "qwen3-tts-vd-realtime-2026-01-15",
    "qwen3-tts-vd-realtime-2025-12-16",
    "qwen3-tts-vd-2026-01-26",
)
DESIGN_MAX_PROMPT: Final = 2048
DESIGN_MAX_PREVIEW_TEXT: Final = 1024
_DESIGN_LANGUAGES: Final = ("zh", "en", "de", "it", "pt", "es", "ja", "ko", "fr", "ru")
_PREFERRED_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
_VOICE_QUOTA: Final = 1000
_MAX_AUDIO_BYTES: Final = 10 * 1024 * 1024
_AUDIO_MIME_TYPES: Final = ("audio/wav", "audio/mpeg", "audio/mp4")
# Uploads whose RMS is below this (full scale = 1.0, about -50 dBFS) count as "no speech".
_SILENCE_RMS: Final = 0.003

LANGUAGE_TYPES: Final = (
    "Auto", "Chinese", "English", "German", "Italian", "Portuguese", "Spanish", "Japanese",
    "Korean", "French", "Russian",
)  # fmt: skip
_MODES: Final = ("server_commit", "commit")
_SESSION_FIELDS: Final = (
    "voice", "mode", "language_type", "response_format", "sample_rate", "speech_rate", "volume",
    "pitch_rate", "bit_rate", "instructions", "optimize_instructions", "enable_tn",
)  # fmt: skip
_TUNING_FIELDS: Final = frozenset({"speech_rate", "volume", "pitch_rate", "bit_rate"})
_INSTRUCT_FIELDS: Final = frozenset({"instructions", "optimize_instructions"})
_TUNING_DEFAULTS: Final[Mapping[str, Any]] = {
    "speech_rate": 1.0,
    "volume": 50,
    "pitch_rate": 1.0,
    "bit_rate": 128,
}
_CLIENT_EVENTS: Final = (
    "session.update",
    "input_text_buffer.append",
    "input_text_buffer.commit",
    "input_text_buffer.clear",
    "session.finish",
    "response.cancel",
)
SENTENCE_END: Final = frozenset("。！？；.!?;\n")

_SESSION_UPDATE_REFUSED: Final = (
    "Session update error: session already started or finished or failed."
)
# DashScope's documented texts for account-level failures (protocol.md A.2, A.8).
_DEFAULT_MESSAGES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("InvalidParameter", "Invalid parameter."),
    401: ("InvalidApiKey", "Invalid API-key provided."),
    403: ("AccessDenied", "Access denied."),
    404: ("Model.NotExist", "Model not exist."),
    429: ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    500: ("InternalError", "An internal error has occured, please try again later."),
    503: ("ServiceUnavailable", "Service unavailable, please try again later."),
}
# B.3 shows gmt_* without a zone; Beijing time is the natural reading for a Beijing service.
_BEIJING = timezone(timedelta(hours=8))
_BASE62 = string.digits + string.ascii_letters


# ---------------------------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class EmulatorOptions:
    """Behaviour knobs; the emulator reads them live, so tests may change them between calls."""

    api_keys: frozenset[str] = frozenset({"sk-emulator"})
    strict: bool = True
    handshake_delay: float = 0.0
    first_audio_delay: float = 0.0  # from a commit to its first audio delta, rendering included
    chunk_interval: float = 0.0
    chunk_ms: int = 100
    ms_per_char: int = 80
    segment_chars: int = 40
    emit_committed_on_auto_commit: bool = True
    # DOC-SE answers an explicit commit with input_text_buffer.committed; off plays a service
    # that does not (clients must not depend on it, A.6).
    emit_committed_on_commit: bool = True
    # A.8: ``error`` events in the Nov-2025 superset shape (type, param, event_id); False
    # sends the Feb/Mar-2026 shape, which has only the code and the message.
    error_details: bool = True
    enroll_min_seconds: float = 10.0
    enroll_min_sample_rate: int = 24000
    enroll_max_seconds: float = 60.0
    # Sessions per minute allowed per model (protocol.md G "Rate limits"); off unless set.
    rpm_limits: Mapping[str, int] = field(default_factory=dict)
    rpm_window: float = 60.0
    # Off: an endpoint without voice design (B.9), which refuses its model as unknown.
    voice_design: bool = True
    clock: Callable[[], float] = time.monotonic


@dataclass
class SessionRecord:
    """Everything that happened on one realtime WebSocket connection."""

    model: str
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    session_id: str = ""
    closed_by_client_early: bool = False
    finished: bool = False
    config: dict[str, Any] = field(default_factory=dict)


def _beijing_now() -> datetime:
    """Return the current time in UTC+8, the zone DashScope timestamps are read in."""
    return datetime.now(tz=_BEIJING)


def _gmt_now() -> str:
    """Return the current time in the ``YYYY-MM-DD HH:MM:SS`` form of B.3."""
    return _beijing_now().strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class VoiceRecord:
    """One custom voice; tests may pre-seed `DashScopeEmulator.voices` with these.

    ``designer`` is the customization model that made it: cloned voices belong to
    ``qwen-voice-enrollment``, designed ones (with their prompt and preview text) to
    ``qwen-voice-design``; each model lists, queries and deletes only its own voices.
    """

    voice: str
    target_model: str
    preferred_name: str
    language: str | None = None
    gmt_create: str = field(default_factory=_gmt_now)
    gmt_modified: str = field(default_factory=_gmt_now)
    designer: str = ENROLLMENT_MODEL
    voice_prompt: str | None = None
    preview_text: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the voice as one ``voice_list`` entry of B.3 (B.5's query fields for designs)."""
        entry: dict[str, Any] = {
            "voice": self.voice,
            "gmt_create": self.gmt_create,
            "gmt_modified": self.gmt_modified,
            "target_model": self.target_model,
        }
        optional = {
            "language": self.language,
            "voice_prompt": self.voice_prompt,
            "preview_text": self.preview_text,
        }
        entry.update({name: value for name, value in optional.items() if value is not None})
        return entry


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    """Return a DashScope-style id: prefix plus 21 base62 characters (A.5)."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(21))


def _spoken_chars(text: str) -> int:
    """Count the characters that produce audio: everything except whitespace."""
    return sum(1 for char in text if not char.isspace())


def synth_audio_seconds(text: str, ms_per_char: int) -> float:
    """Return the duration of the audio the emulator synthesizes for ``text``."""
    return _spoken_chars(text) * ms_per_char / 1000


def _sample_count(text: str, ms_per_char: int, sample_rate: int) -> int:
    """Return the exact number of samples for ``text`` (all supported rates divide by 1000)."""
    return _spoken_chars(text) * ms_per_char * sample_rate // 1000


def _is_cjk(char: str) -> bool:
    """Tell whether a character is a CJK ideograph, kana or hangul syllable."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    )


def billed_characters(text: str) -> int:
    """Return ``usage.characters`` for a segment: CJK counts 2, every other character 1."""
    return sum(2 if _is_cjk(char) else 1 for char in text)


def split_segments(buffer: str, segment_chars: int) -> tuple[list[str], str]:
    """Cut the server_commit buffer into complete segments and the remainder.

    A segment ends after a run of sentence-ending punctuation; a remainder of at least
    ``segment_chars`` characters is committed whole so long unpunctuated text still streams.
    """
    segments: list[str] = []
    start = 0
    index = 0
    while index < len(buffer):
        if buffer[index] in SENTENCE_END:
            end = index + 1
            while end < len(buffer) and buffer[end] in SENTENCE_END:
                end += 1
            segments.append(buffer[start:end])
            start = index = end
        else:
            index += 1
    rest = buffer[start:]
    if len(rest) >= segment_chars:
        segments.append(rest)
        rest = ""
    return segments, rest


def tone_pcm(
    samples: int, sample_rate: int, segment_index: int, *, volume: int = 50, pitch: float = 1.0
) -> bytes:
    """Return a sine tone as signed 16-bit little-endian mono PCM.

    The pitch steps through a scale with the segment index so responses are told apart by ear.
    """
    frequency = 220.0 * 2 ** ((segment_index % 12) / 12) * pitch
    period = max(2, round(sample_rate / frequency))
    amplitude = 0.25 * 32767 * min(volume, 100) / 50
    cycle = array(
        "h", (round(amplitude * math.sin(2 * math.pi * k / period)) for k in range(period))
    )
    pcm = (cycle * (samples // period + 1))[:samples]
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm.tobytes()


def speech_like_wav(
    seconds: float, sample_rate: int = 24000, *, channels: int = 1, level: float = 0.3
) -> bytes:
    """Return a 16-bit WAV that passes enrollment's content check: 4 "syllables" per second.

    ``level`` is the peak relative to full scale; 0 gives digital silence.
    """
    one_second = array("h")
    for k in range(sample_rate):
        t = k / sample_rate
        envelope = 0.5 * (1 - math.cos(2 * math.pi * 4 * t))
        voice = math.sin(2 * math.pi * 180 * t) + 0.5 * math.sin(2 * math.pi * 360 * t)
        one_second.extend([round(level * envelope * voice / 1.5 * 32767)] * channels)
    samples = (one_second * math.ceil(seconds))[: round(seconds * sample_rate) * channels]
    if sys.byteorder == "big":
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(samples.tobytes())
    return buffer.getvalue()


def wav_header(data_bytes: int, sample_rate: int) -> bytes:
    """Return a 44-byte RIFF header for mono 16-bit PCM with exact lengths."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        data_bytes,
    )


def _split_fixed(data: bytes, size: int) -> list[bytes]:
    """Split bytes into pieces of ``size`` (last one shorter); never returns an empty list."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _split_even(data: bytes, pieces: int) -> list[bytes]:
    """Split bytes into ``pieces`` nearly equal parts; never returns an empty list."""
    pieces = max(1, min(pieces, len(data)))
    bounds = [len(data) * i // pieces for i in range(pieces + 1)]
    return [data[bounds[i] : bounds[i + 1]] for i in range(pieces)]


def _mask_authorization(value: str) -> str:
    """Hide an API key but keep its scheme and first characters, e.g. ``Bearer sk-***``."""
    scheme, _, key = value.strip().partition(" ")
    return f"{scheme} {key.strip()[:3]}***" if key else "***"


def _api_key_valid(header: str | None, api_keys: frozenset[str]) -> bool:
    """Check ``Authorization: Bearer <key>``; the scheme is case-insensitive (A.2)."""
    scheme, _, key = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and key.strip() in api_keys


def _quote_list(values: Sequence[object]) -> str:
    """Render supported values the way DashScope messages do: ``'a', 'b'``."""
    return ", ".join(f"'{value}'" for value in values)


def _invalid_value(value: object, supported: str) -> str:
    """Return the documented ``Invalid value`` message (A.8)."""
    return f"Invalid value: '{value}'. Supported values are: {supported}."


def _is_number(value: object) -> bool:
    """Tell whether a JSON value is a number (JSON booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    """Tell whether a JSON value is an integral number (``50`` or ``50.0``)."""
    return _is_number(value) and float(value).is_integer()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# ffmpeg (mp3 / Ogg Opus output, probing non-WAV uploads)
# ---------------------------------------------------------------------------------------------


class _FfmpegError(Exception):
    """ffmpeg/ffprobe is missing or failed."""


async def _run_tool(args: Sequence[str], stdin: bytes | None = None) -> bytes:
    """Run ffmpeg or ffprobe and return stdout; kill it if the caller is cancelled."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise _FfmpegError(f"cannot run {args[0]}: {err}") from err
    try:
        stdout, stderr = await process.communicate(stdin)
    except BaseException:
        # A cancelled session must not leave an encoder running behind the test.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise _FfmpegError(stderr.decode(errors="replace").strip()[-300:])
    return stdout


def _mp3_bit_rate(bit_rate: int, sample_rate: int) -> int:
    """Clamp kbps into what an MP3 at this rate can carry (MPEG-1 / 2 / 2.5 limits)."""
    if sample_rate < 16000:
        return max(8, min(bit_rate, 64))
    if sample_rate < 32000:
        return max(8, min(bit_rate, 160))
    return max(32, min(bit_rate, 320))


async def encode_audio(pcm: bytes, sample_rate: int, response_format: str, bit_rate: int) -> bytes:
    """Encode mono s16le PCM as MP3 or Ogg Opus with ffmpeg."""
    if response_format == "mp3":
        codec = ["-c:a", "libmp3lame", "-b:a", f"{_mp3_bit_rate(bit_rate, sample_rate)}k"]
        container = "mp3"
    else:
        # libopus refuses more than 256 kbps per channel; the API allows up to 510 (A.4.1).
        codec = ["-c:a", "libopus", "-b:a", f"{max(6, min(bit_rate, 256))}k"]
        container = "ogg"
    args = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(sample_rate),
        "-ac", "1", "-i", "pipe:0", *codec, "-f", container, "pipe:1",
    ]  # fmt: skip
    return await _run_tool(args, pcm)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class _HttpError(Exception):
    """An HTTP failure answered with DashScope's ``{"request_id","code","message"}`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep the status, code and message of the answer."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad_request(message: str) -> _HttpError:
    """Return a 400 ``InvalidParameter`` error."""
    return _HttpError(400, "InvalidParameter", message)


class _WsError(Exception):
    """A client event the server answers with an ``error`` event (A.8)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        """Keep the message and the offending parameter (``session.voice``...)."""
        super().__init__(message)
        self.message = message
        self.param = param


class _StopSession(Exception):  # noqa: N818 - control flow, not an error
    """The worker must stop: the socket was closed or dropped by a fault."""


# ---------------------------------------------------------------------------------------------
# Enrollment audio analysis (B.7)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AudioProbe:
    """What the enrollment checks need to know about an upload."""

    channels: int
    sample_rate: int
    seconds: float
    rms: float  # 0.0 .. 1.0 of full scale


def _rms(pcm: bytes) -> float:
    """Return the RMS of s16le PCM relative to full scale."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return 0.0
    return math.sqrt(math.sumprod(samples, samples) / len(samples)) / 32768


def _probe_wav(data: bytes) -> _AudioProbe | None:
    """Read a 16-bit PCM WAV with the stdlib; None hands the upload to ffmpeg instead."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels, width, rate, frames = reader.getparams()[:4]
            pcm = reader.readframes(frames)
    except wave.Error, EOFError, struct.error:
        return None
    if width != 2 or rate <= 0:  # only 16-bit samples are read here
        return None
    return _AudioProbe(channels, rate, len(pcm) / (2 * channels * rate), _rms(pcm))


def _write_temp(data: bytes) -> str:
    """Write an upload to a temporary file (MP4 needs a seekable input) and return its path."""
    handle, path = tempfile.mkstemp(prefix="dashscope-emulator-", suffix=".audio")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path


async def _probe_with_ffmpeg(data: bytes) -> _AudioProbe:
    """Probe MP3/M4A (or anything else) with ffprobe and decode it with ffmpeg."""
    path = await asyncio.to_thread(_write_temp, data)
    probe_args = [
        "ffprobe", "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=channels,sample_rate", "-of", "json", path,
    ]  # fmt: skip
    decode_args = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:a:0",
        "-ac", "1", "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1",
    ]  # fmt: skip
    try:
        stream = json.loads(await _run_tool(probe_args))["streams"][0]
        channels, rate = int(stream["channels"]), int(stream["sample_rate"])
        pcm = await _run_tool(decode_args)
    except (_FfmpegError, ValueError, KeyError, IndexError, TypeError) as err:
        raise _HttpError(400, "Audio.DecoderError", "Decoder audio file failed.") from err
    finally:
        await asyncio.to_thread(os.unlink, path)
    if not pcm or rate <= 0:
        raise _HttpError(400, "Audio.DecoderError", "Decoder audio file failed.")
    return _AudioProbe(channels, rate, len(pcm) / (2 * rate), _rms(pcm))


def _check_enrollment_audio(probe: _AudioProbe, options: EmulatorOptions) -> None:
    """Apply B.7 in the order a real pipeline would fail: format, rate, length, content."""
    if probe.channels != 1:
        # Not documented (B.6 last row); this emulator answers Audio.PreprocessError.
        raise _HttpError(
            400,
            "Audio.PreprocessError",
            f"Audio preprocess error. Audio must be mono, got {probe.channels} channels.",
        )
    if probe.sample_rate < options.enroll_min_sample_rate:
        raise _HttpError(
            400,
            "Audio.AudioRateError",
            "File sample rate unsupported. Make sure the sample rate is at least "
            f"{options.enroll_min_sample_rate} Hz.",
        )
    if probe.seconds > options.enroll_max_seconds:
        raise _HttpError(
            400, "Audio.DurationLimitError", "Audio duration exceeds maximum allowed limit."
        )
    if probe.seconds < options.enroll_min_seconds:
        raise _HttpError(
            400,
            "Audio.PreprocessError",
            "Audio preprocess error. No segments meet minimum duration requirement.",
        )
    if probe.rms < _SILENCE_RMS:
        raise _HttpError(
            400, "Audio.PreprocessError", "Audio preprocess error. No speech detected."
        )


# ---------------------------------------------------------------------------------------------
# session.update validation (A.4.1)
# ---------------------------------------------------------------------------------------------


def _check_voice(
    value: object, model: str, spec: _ModelSpec, enrolled: Mapping[str, VoiceRecord]
) -> str:
    """Validate ``voice`` against the model's system voices or the enrolled voices."""
    if not isinstance(value, str) or not value:
        raise _WsError(_invalid_value(value, "a voice name"), param="session.voice")
    if spec.family in (_Family.VC, _Family.VD):
        # Cloned and designed voices speak only on the model they were made for (B.2, B.9).
        usable = sorted(v for v, r in enrolled.items() if r.target_model == model)
        if value in usable:
            return value
        made = "enrolled" if spec.family is _Family.VC else "designed"
        supported = _quote_list(usable) or f"voices {made} with target_model '{model}'"
        raise _WsError(_invalid_value(value, supported), param="session.voice")
    if value not in spec.system_voices:
        supported = _quote_list(sorted(spec.system_voices))
        raise _WsError(_invalid_value(value, supported), param="session.voice")
    return value


def _is_choice(value: object, choices: Sequence[object]) -> bool:
    """Tell whether a JSON value is one of ``choices`` (type included: 24000.0 is not 24000)."""
    return any(type(value) is type(choice) and value == choice for choice in choices)


def _check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """Validate an enumerated session field."""
    if not _is_choice(value, choices):
        raise _WsError(_invalid_value(value, _quote_list(choices)), param=f"session.{name}")
    return value


def _check_range(name: str, value: object, low: float, high: float, *, integer: bool) -> object:
    """Validate a numeric field against an inclusive range."""
    ok = _is_integer(value) if integer else _is_number(value)
    if not ok or not low <= float(value) <= high:  # type: ignore[arg-type]
        kind = "integers" if integer else "numbers"
        raise _WsError(_invalid_value(value, f"{kind} in [{low}, {high}]"), param=f"session.{name}")
    return int(value) if integer else value  # type: ignore[call-overload]


_RANGES: Final[Mapping[str, tuple[float, float, bool]]] = {
    # name: (low, high, integer) - A.4.1
    "speech_rate": (0.5, 2.0, False),
    "pitch_rate": (0.5, 2.0, False),
    "volume": (0, 100, True),
    "bit_rate": (6, 510, True),
}
_LANGUAGES_BY_LOWER: Final = {language.lower(): language for language in LANGUAGE_TYPES}


def _check_field(
    name: str, value: object, model: str, spec: _ModelSpec, enrolled: Mapping[str, VoiceRecord]
) -> object:
    """Validate and normalise one known session field."""
    param = f"session.{name}"
    choices = {"mode": _MODES, "response_format": spec.formats, "sample_rate": spec.sample_rates}
    if name in choices:
        return _check_choice(name, value, choices[name])
    if name in _RANGES:
        low, high, integer = _RANGES[name]
        return _check_range(name, value, low, high, integer=integer)
    match name:
        case "voice":
            return _check_voice(value, model, spec, enrolled)
        case "language_type":
            # Docs use capitalised names; case-insensitive matching is the emulator's choice.
            if not isinstance(value, str) or value.lower() not in _LANGUAGES_BY_LOWER:
                raise _WsError(_invalid_value(value, _quote_list(LANGUAGE_TYPES)), param=param)
            return _LANGUAGES_BY_LOWER[value.lower()]
        case "instructions":
            if not isinstance(value, str):
                raise _WsError(_invalid_value(value, "a string"), param=param)
        case _:  # enable_tn, optimize_instructions
            if not isinstance(value, bool):
                raise _WsError(_invalid_value(value, "true, false"), param=param)
    return value


def _field_supported(name: str, value: object, spec: _ModelSpec) -> bool:
    """Tell whether the model supports a (known) field at all."""
    if name in _TUNING_FIELDS:
        return spec.tuning
    if name in _INSTRUCT_FIELDS:
        # DOC-CE's own session.update example sends instructions "" and
        # optimize_instructions false, so those "unset" values are accepted everywhere.
        return spec.instructions or value == "" or value is False
    return True


def validate_session_update(
    session: object,
    *,
    model: str,
    enrolled: Mapping[str, VoiceRecord],
    strict: bool,
) -> dict[str, Any]:
    """Validate a ``session`` object and return the accepted fields.

    Invalid values always fail. Unknown fields, fields the model does not support and a
    missing ``voice`` fail in strict mode and are dropped / defaulted in lenient mode.
    """
    if not isinstance(session, dict):
        raise _WsError(_invalid_value(session, "an object"), param="session")
    spec = MODELS[model]
    accepted: dict[str, Any] = {}
    for name, value in session.items():
        if name not in _SESSION_FIELDS:
            if strict:
                raise _WsError(f"Unknown parameter: 'session.{name}'.", param=f"session.{name}")
            continue
        if not _field_supported(name, value, spec):
            if strict:
                raise _WsError(
                    f"Parameter 'session.{name}' is not supported by model '{model}'.",
                    param=f"session.{name}",
                )
            continue
        if name in _INSTRUCT_FIELDS and not spec.instructions:
            continue  # an accepted "unset" value on a model without instructions
        accepted[name] = _check_field(name, value, model, spec, enrolled)
    if strict and "voice" not in accepted:
        # DOC-CE marks session.voice as required.
        raise _WsError("Missing required parameter: 'session.voice'.", param="session.voice")
    return accepted


def _default_config(session_id: str, model: str) -> dict[str, Any]:
    """Return the effective configuration before any session.update."""
    config: dict[str, Any] = {
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "voice": "Cherry",
        "language_type": "Auto",
        "mode": "server_commit",
        "response_format": "pcm",
        "sample_rate": 24000,
    }
    if MODELS[model].tuning:
        config.update(_TUNING_DEFAULTS)
    return config


# ---------------------------------------------------------------------------------------------
# Realtime session
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _SessionFaults:
    """Faults armed for the next realtime session (see the DashScopeEmulator methods)."""

    error: tuple[str, str] | None = None
    error_after: int = 0
    drop_after: int | None = None
    stall_after: int | None = None
    garble_after: int | None = None
    # End the session as idle-expired when its first client event arrives (see expire_next_session).
    expire_on_first_event: bool = False
    expire_error: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class _Segment:
    """Text of one response and its position in the session (drives the tone pitch)."""

    text: str
    index: int


class _State(StrEnum):
    """Session states of A.3."""

    CREATED = "created"
    ACTIVE = "active"
    FAILED = "failed"
    FINISHING = "finishing"


class _RealtimeSession:
    """One realtime connection: the A.3 state machine (reader side) plus a synthesis worker.

    The reader handles client events in arrival order; responses are queued and produced one
    after another by the worker, so audio streams while the client is still appending text.
    """

    def __init__(
        self,
        emulator: DashScopeEmulator,
        ws: web.WebSocketResponse,
        request: web.Request,
        record: SessionRecord,
        faults: _SessionFaults,
    ) -> None:
        """Set up state; nothing is sent until `run`."""
        self._emu = emulator
        self._ws = ws
        self._transport = request.transport
        self.record = record
        self._spec = MODELS[record.model]
        self._faults = faults
        self._state = _State.CREATED
        self._buffer = ""
        self._queue: asyncio.Queue[_Segment | None] = asyncio.Queue()
        self._segments = 0
        self._event_ids: set[str] = set()
        self._send_lock = asyncio.Lock()
        self._cancel: asyncio.Event | None = None
        self._deltas = 0
        self._stalled = False
        self._server_closing = False
        self._worker: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    @property
    def _options(self) -> EmulatorOptions:
        """Return the emulator options (read live)."""
        return self._emu.options

    async def run(self) -> None:
        """Greet, then read client events until the socket closes."""
        # session.created carries the fields of the DOC-SE example, in its order.
        created = ("object", "mode", "model", "voice", "response_format", "sample_rate", "id")
        await self._send(
            {
                "event_id": new_id("event_"),
                "type": "session.created",
                "session": {key: self.record.config[key] for key in created},
            }
        )
        self._worker = asyncio.create_task(self._work(), name=f"emulator {self.record.session_id}")
        try:
            async for message in self._ws:
                await self._on_message(message)
        finally:
            if not self._server_closing and not self.record.finished:
                self.record.closed_by_client_early = True
            await self._stop_worker()

    @property
    def idle(self) -> bool:
        """Tell whether the session has been sent nothing since ``session.created``."""
        return self._state is _State.CREATED and not self.record.received

    async def end_idle(self, error: tuple[str, str] | None, *, drop: bool = False) -> None:
        """End the session as an idle limit of the service might (A.10: undocumented).

        Three readings: a plain close (1000), an ``error`` event then a close (1011),
        or a dropped connection (no close frame).
        """
        self._server_closing = True
        if drop:
            if self._transport is not None:
                self._transport.close()
            return
        if error is not None:
            code, message = error
            with contextlib.suppress(_StopSession):
                await self._send(
                    {
                        "event_id": new_id("event_"),
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "code": code,
                            "message": message,
                            "param": None,
                            "event_id": None,
                        },
                    }
                )
        await self._ws.close(code=WSCloseCode.OK if error is None else WSCloseCode.INTERNAL_ERROR)

    async def shutdown(self) -> None:
        """Close the socket because the emulator is shutting down (1001 going away)."""
        self._server_closing = True
        await self._stop_worker()
        await self._ws.close(code=WSCloseCode.GOING_AWAY)

    async def _stop_worker(self) -> None:
        """Cancel the worker and wait for it."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any], *, audio_bytes: int | None = None) -> None:
        """Send one server event and record it (audio replaced by its byte length)."""
        if self._stalled:
            return  # a stalled server says nothing more, not even errors
        if self._ws.closed:
            raise _StopSession
        async with self._send_lock:
            try:
                await self._ws.send_str(json.dumps(event, ensure_ascii=False))
            except ConnectionError as err:
                raise _StopSession from err
            self.record.sent.append(
                event if audio_bytes is None else event | {"delta": audio_bytes}
            )

    async def _send_error(self, error: _WsError, client_event_id: object) -> None:
        """Send an ``error`` event in one of the two documented shapes of A.8."""
        details: dict[str, Any] = {"code": "invalid_value", "message": error.message}
        if self._options.error_details:
            details |= {
                "type": "invalid_request_error",
                "param": error.param,
                "event_id": client_event_id if isinstance(client_event_id, str) else None,
            }
        with contextlib.suppress(_StopSession):
            await self._send({"event_id": new_id("event_"), "type": "error", "error": details})

    # -- reader side -------------------------------------------------------------------------

    async def _on_message(self, message: aiohttp.WSMessage) -> None:
        """Parse one frame and dispatch it; protocol errors become ``error`` events."""
        strict = self._options.strict
        if message.type is not WSMsgType.TEXT:
            if strict and message.type is WSMsgType.BINARY:
                await self._send_error(_WsError("Binary frames are not supported."), None)
            return
        try:
            event = json.loads(message.data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            if strict:
                await self._send_error(_WsError("Invalid JSON in client event."), None)
            return
        self.record.received.append(event)
        self._emu._note_client_event(event)
        if self._faults.expire_on_first_event:
            self._faults.expire_on_first_event = False
            await self.end_idle(self._faults.expire_error)
            return
        try:
            await self._dispatch(event)
        except _WsError as error:
            await self._send_error(error, event.get("event_id"))
        except _StopSession:
            pass

    def _check_event_id(self, event: dict[str, Any]) -> None:
        """Strict mode: event_id must be present and unique per connection (A.4)."""
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise _WsError("Missing required parameter: 'event_id'.", param="event_id")
        if event_id in self._event_ids:
            raise _WsError(f"Duplicate event_id: '{event_id}'.", param="event_id")
        self._event_ids.add(event_id)

    def _admit(self, event: dict[str, Any]) -> bool:
        """Decide whether an event is processed; strict mode raises instead of ignoring."""
        strict = self._options.strict
        event_type = event.get("type")
        if event_type not in _CLIENT_EVENTS:
            if strict:
                raise _WsError(
                    _invalid_value(event_type, _quote_list(_CLIENT_EVENTS)), param="type"
                )
            return False
        if strict:
            self._check_event_id(event)
        if self._state is _State.FINISHING and event_type != "response.cancel":
            if strict:
                raise _WsError("Session is finishing: no more client events are accepted.")
            return False
        if event_type == "session.finish" and self._state is _State.CREATED:
            # session.update is optional (DOC-CE): a session nothing was sent to may end at once.
            return True
        if event_type != "session.update" and self._state in {_State.CREATED, _State.FAILED}:
            if strict:
                raise _WsError(
                    f"Session not configured: send a valid session.update before '{event_type}'."
                )
            # Lenient: "if not sent, the system uses the default configuration" (DOC-CE).
            self._state = _State.ACTIVE
        return True

    async def _dispatch(self, event: dict[str, Any]) -> None:
        """Apply one client event to the session state machine."""
        if not self._admit(event):
            return
        match event["type"]:
            case "session.update":
                await self._on_session_update(event)
            case "input_text_buffer.append":
                await self._on_append(event)
            case "input_text_buffer.commit":
                await self._commit_explicit()
            case "input_text_buffer.clear":
                self._buffer = ""
                await self._send(
                    {"event_id": new_id("event_"), "type": "input_text_buffer.cleared"}
                )
            case "session.finish":
                await self._on_finish()
            case _:  # response.cancel
                # Not in the server docs (A.4.6): end the current response as "cancelled";
                # with nothing in progress it is silently ignored.
                if self._cancel is not None:
                    self._cancel.set()

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        """Validate and apply ``session.update`` (only the first one in strict mode)."""
        strict = self._options.strict
        if strict and self._state is not _State.CREATED:
            raise _WsError(_SESSION_UPDATE_REFUSED)
        try:
            accepted = validate_session_update(
                event.get("session"),
                model=self.record.model,
                enrolled=self._emu.voices,
                strict=strict,
            )
        except _WsError:
            if strict:
                self._state = _State.FAILED
            raise
        config = dict(self.record.config) | accepted
        self.record.config = config
        self._state = _State.ACTIVE
        await self._send(
            {"event_id": new_id("event_"), "type": "session.updated", "session": config}
        )

    async def _on_append(self, event: dict[str, Any]) -> None:
        """Buffer text; in server_commit mode cut off and queue complete segments."""
        text = event.get("text")
        if not isinstance(text, str):
            raise _WsError("Missing required parameter: 'text'.", param="text")
        self._buffer += text
        if self.record.config["mode"] != "server_commit":
            return
        segments, self._buffer = split_segments(self._buffer, self._options.segment_chars)
        for segment in segments:
            if segment.strip():  # whitespace between sentences is not worth a response
                await self._commit(segment, announce=self._options.emit_committed_on_auto_commit)

    async def _commit_explicit(self) -> None:
        """Handle ``input_text_buffer.commit``: one response for the whole buffer."""
        if not self._buffer:
            raise _WsError("Error committing input text buffer: the buffer is empty.")
        text, self._buffer = self._buffer, ""
        await self._commit(text, announce=self._options.emit_committed_on_commit)

    async def _commit(self, text: str, *, announce: bool) -> None:
        """Acknowledge a commit and queue its response."""
        if announce:
            await self._send(
                {"event_id": new_id("event_"), "type": "input_text_buffer.committed", "item_id": ""}
            )
        self._queue.put_nowait(_Segment(text, self._segments))
        self._segments += 1

    async def _on_finish(self) -> None:
        """Synthesize what is left (commit mode too, per the SDK docstring), then finish."""
        self._state = _State.FINISHING
        text, self._buffer = self._buffer, ""
        if text.strip():
            await self._commit(text, announce=self._options.emit_committed_on_auto_commit)
        self._queue.put_nowait(None)

    # -- worker side -------------------------------------------------------------------------

    async def _work(self) -> None:
        """Produce queued responses one after another; ``None`` means finish the session."""
        try:
            while (segment := await self._queue.get()) is not None:
                await self._respond(segment)
            await self._maybe_fault(final=True)
            self.record.finished = True
            try:
                await self._send({"event_id": new_id("event_"), "type": "session.finished"})
            except _StopSession:
                self.record.finished = False
                raise
            self._server_closing = True
            await self._ws.close(code=WSCloseCode.OK)
        except _StopSession:
            return

    async def _pause(self, seconds: float, cancel: asyncio.Event) -> bool:
        """Wait for pacing, cut short by response.cancel; return whether it was cancelled."""
        if seconds > 0 and not cancel.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await cancel.wait()
        return cancel.is_set()

    async def _maybe_fault(self, *, final: bool = False) -> None:
        """Fire an armed fault once enough deltas went out (or before session.finished)."""
        faults = self._faults
        if faults.error is not None and (final or self._deltas >= faults.error_after):
            code, message = faults.error
            faults.error = None
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "error",
                    "error": {
                        "type": "server_error",
                        "code": code,
                        "message": message,
                        "param": None,
                        "event_id": None,
                    },
                }
            )
            self._server_closing = True
            await self._ws.close(code=WSCloseCode.INTERNAL_ERROR)
            raise _StopSession
        if faults.drop_after is not None and (final or self._deltas >= faults.drop_after):
            faults.drop_after = None
            self._server_closing = True
            # transport.close() flushes what was written and sends FIN: no close frame, no
            # session.finished - what a crashed gateway looks like to the client.
            if self._transport is not None:
                self._transport.close()
            raise _StopSession
        if faults.stall_after is not None and (final or self._deltas >= faults.stall_after):
            faults.stall_after = None
            self._stalled = True
            await asyncio.get_running_loop().create_future()  # until the socket is closed
        if faults.garble_after is not None and (final or self._deltas >= faults.garble_after):
            faults.garble_after = None
            # A frame cut off mid-JSON, as a broken proxy might pass on; nothing after it
            # arrives (the client must give up on this connection).
            async with self._send_lock:
                try:
                    await self._ws.send_str('{"type": "response.audio.delta", "delta": "AAAA')
                except ConnectionError as err:
                    raise _StopSession from err
            self._stalled = True
            await asyncio.get_running_loop().create_future()  # until the socket is closed

    async def _render(self, segment: _Segment, config: Mapping[str, Any]) -> list[bytes]:
        """Synthesize a segment and cut it into delta payloads of about chunk_ms each."""
        options = self._options
        rate = int(config["sample_rate"])
        pcm = tone_pcm(
            _sample_count(segment.text, options.ms_per_char, rate),
            rate,
            segment.index,
            volume=int(config.get("volume", 50)),
            pitch=float(config.get("pitch_rate", 1.0)),
        )
        chunk_bytes = max(2, rate * 2 * options.chunk_ms // 1000)
        match config["response_format"]:
            case "pcm":
                return _split_fixed(pcm, chunk_bytes)
            case "wav":
                # One header per response with exact lengths (A.7: the choice of this emulator).
                chunks = _split_fixed(pcm, chunk_bytes)
                chunks[0] = wav_header(len(pcm), rate) + chunks[0]
                return chunks
            case response_format:
                encoded = await encode_audio(
                    pcm, rate, response_format, int(config.get("bit_rate", 128))
                )
                return _split_even(encoded, math.ceil(len(pcm) / chunk_bytes))

    def _usage(self, text: str, seconds: float) -> dict[str, Any]:
        """Return ``response.done.usage``: characters (Qwen3) or tokens (Qwen-TTS), A.5."""
        if not self._spec.token_billing:
            return {"characters": billed_characters(text)}
        text_tokens = max(1, _spoken_chars(text))
        audio_tokens = max(50, math.ceil(50 * seconds))  # 50 tokens per second, minimum 50
        return {
            "total_tokens": text_tokens + audio_tokens,
            "input_tokens": text_tokens,
            "output_tokens": audio_tokens,
            "input_tokens_details": {"text_tokens": text_tokens},
            "output_tokens_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        }

    async def _respond(self, segment: _Segment) -> None:
        """Send one complete response in the exact A.6 order."""
        config = dict(self.record.config)
        response_id, item_id = new_id("resp_"), new_id("item_")
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        part = {"type": "audio", "text": ""}
        self._cancel = cancel = asyncio.Event()
        try:
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "response.created",
                    "response": {
                        "id": response_id,
                        "object": "realtime.response",
                        "conversation_id": "",
                        "status": "in_progress",
                        "voice": config["voice"],
                        "output": [],
                    },
                }
            )
            item = {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "response.output_item.added",
                    "response_id": response_id,
                    "output_index": 0,
                    "item": item,
                }
            )
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "response.content_part.added",
                    **ids,
                    "content_index": 0,
                    "part": part,
                }
            )
            status = await self._stream_audio(segment, config, ids, cancel)
        finally:
            self._cancel = None
        await self._send_response_tail(segment, config, ids, item, status)

    async def _stream_audio(
        self,
        segment: _Segment,
        config: Mapping[str, Any],
        ids: Mapping[str, Any],
        cancel: asyncio.Event,
    ) -> str:
        """Send the audio deltas; return the response status."""
        # first_audio_delay is the service's whole first-packet latency: rendering is part of it.
        rendering_started = asyncio.get_running_loop().time()
        try:
            chunks = await self._render(segment, config)
        except _FfmpegError as err:
            _LOGGER.warning("Audio encoding failed: %s", err)
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "error",
                    "error": {
                        "type": "server_error",
                        "code": "InternalError",
                        "message": f"Audio encoding failed: {err}",
                        "param": None,
                        "event_id": None,
                    },
                }
            )
            return "failed"
        rendered_in = asyncio.get_running_loop().time() - rendering_started
        if await self._pause(self._options.first_audio_delay - rendered_in, cancel):
            return "cancelled"
        for index, chunk in enumerate(chunks):
            if index and await self._pause(self._options.chunk_interval, cancel):
                return "cancelled"
            if cancel.is_set():
                return "cancelled"
            await self._maybe_fault()
            await self._send(
                {
                    "event_id": new_id("event_"),
                    "type": "response.audio.delta",
                    **ids,
                    "content_index": 0,
                    "delta": base64.b64encode(chunk).decode(),
                },
                audio_bytes=len(chunk),
            )
            self._deltas += 1
            await self._maybe_fault()
        return "completed"

    async def _send_response_tail(
        self,
        segment: _Segment,
        config: Mapping[str, Any],
        ids: Mapping[str, Any],
        item: Mapping[str, Any],
        status: str,
    ) -> None:
        """Send audio.done, content_part.done, output_item.done and response.done."""
        part = {"type": "audio", "text": ""}
        item_status = "completed" if status == "completed" else "incomplete"
        await self._send(
            {"event_id": new_id("event_"), "type": "response.audio.done", **ids, "content_index": 0}
        )
        await self._send(
            {
                "event_id": new_id("event_"),
                "type": "response.content_part.done",
                **ids,
                "content_index": 0,
                "part": part,
            }
        )
        await self._send(
            {
                "event_id": new_id("event_"),
                "type": "response.output_item.done",
                "response_id": ids["response_id"],
                "output_index": 0,
                "item": dict(item) | {"status": item_status, "content": [part]},
            }
        )
        seconds = synth_audio_seconds(segment.text, self._options.ms_per_char)
        await self._send(
            {
                "event_id": new_id("event_"),
                "type": "response.done",
                "response": {
                    "id": ids["response_id"],
                    "object": "realtime.response",
                    "conversation_id": "",
                    "status": status,
                    "modalities": ["text", "audio"],
                    "voice": config["voice"],
                    "output": [
                        dict(item)
                        | {"status": item_status, "content": [{"type": "audio", "transcript": ""}]}
                    ],
                    "usage": self._usage(segment.text, seconds),
                },
            }
        )


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


def _json_response(body: Mapping[str, Any], status: int = 200) -> web.Response:
    """Return a JSON response without escaping non-ASCII text."""
    return web.json_response(body, status=status, dumps=partial(json.dumps, ensure_ascii=False))


def _error_response(status: int, code: str, message: str) -> web.Response:
    """Return DashScope's HTTP error body."""
    return _json_response(
        {"request_id": str(uuid.uuid4()), "code": code, "message": message}, status
    )


def _redact_body(body: object) -> object:
    """Replace the base64 audio of a create request by a short marker for `http_requests`."""
    if not isinstance(body, dict):
        return body
    input_ = body.get("input")
    audio = input_.get("audio") if isinstance(input_, dict) else None
    data = audio.get("data") if isinstance(audio, dict) else None
    if not isinstance(data, str) or (not data.startswith("data:") and len(data) <= 300):
        return body
    header = data.partition(",")[0]
    marker = f"<{header}, {len(data)} chars>" if data.startswith("data:") else data[:300] + "..."
    return body | {"input": input_ | {"audio": audio | {"data": marker}}}  # type: ignore[operator]


def _int_param(input_: Mapping[str, Any], name: str, default: int) -> int:
    """Read a paging integer in [0, 1000000] (B.3)."""
    value = input_.get(name, default)
    if not _is_integer(value) or not 0 <= value <= 1_000_000:
        raise _bad_request(_invalid_value(value, f"integers in [0, 1000000] for input.{name}"))
    return int(value)


def _str_param(input_: Mapping[str, Any], name: str, *, max_length: int | None = None) -> str:
    """Read a required non-empty string field of ``input`` (at most ``max_length`` long)."""
    value = input_.get(name)
    if not isinstance(value, str) or not value:
        raise _bad_request(f"Missing required parameter: 'input.{name}'.")
    if max_length is not None and len(value) > max_length:
        raise _bad_request(
            f"Parameter 'input.{name}' is too long: {len(value)} characters, "
            f"at most {max_length} allowed."
        )
    return value


def _preferred_name(input_: Mapping[str, Any]) -> str:
    """Read ``input.preferred_name``: 1-16 ASCII letters, digits or underscores (B.2, B.9)."""
    preferred_name = _str_param(input_, "preferred_name")
    if not _PREFERRED_NAME.fullmatch(preferred_name):
        raise _bad_request(
            _invalid_value(preferred_name, "1-16 ASCII letters, digits or underscores")
        )
    return preferred_name


def _choice_param(
    parameters: Mapping[str, Any], name: str, default: object, choices: Sequence[object]
) -> Any:
    """Read an enumerated ``parameters`` field."""
    value = parameters.get(name, default)
    if not _is_choice(value, choices):
        raise _bad_request(_invalid_value(value, _quote_list(choices)))
    return value


class DashScopeEmulator:
    """A local DashScope: realtime TTS WebSocket plus voice-enrollment HTTP API.

    Use ``await start()`` / ``await close()`` or ``async with DashScopeEmulator() as emu``.
    Fault methods arm a fault for the next handshake, session or HTTP request only.
    """

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        """Create a stopped emulator."""
        self.options = options if options is not None else EmulatorOptions()
        self.base_url = ""
        self.sessions: list[SessionRecord] = []
        self.http_requests: list[dict[str, Any]] = []
        self.voices: dict[str, VoiceRecord] = {}
        self._runner: web.AppRunner | None = None
        self._live: set[_RealtimeSession] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False
        self._handshake_faults: deque[tuple[int, str, str]] = deque()
        self._http_faults: deque[tuple[int, str, str]] = deque()
        self._session_faults: deque[_SessionFaults] = deque()
        self._session_starts: dict[str, deque[float]] = {}
        self.rate_limited = 0
        self._hanging_handshakes = 0
        self._client_events: dict[str, list[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, int, asyncio.Future[dict[str, Any]]]] = []

    async def __aenter__(self) -> Self:
        """Start on 127.0.0.1 with a free port."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close everything."""
        await self.close()

    @property
    def ws_url(self) -> str:
        """Return the realtime endpoint without the ``?model=`` query (what the SDK takes)."""
        return self.base_url.replace("http", "ws", 1) + REALTIME_PATH

    @property
    def customization_url(self) -> str:
        """Return the voice enrollment endpoint."""
        return self.base_url + CUSTOMIZATION_PATH

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Listen on host:port (0 = any free port) and return the base URL.

        With ``ssl_context`` it serves TLS (``https``/``wss``), as the real service does.
        """
        if self._runner is not None:
            return self.base_url
        self._closing = False
        # Room for a 10 MB data URI plus the JSON around it, so oversize uploads get the
        # DashScope error instead of aiohttp's bare 413.
        app = web.Application(client_max_size=_MAX_AUDIO_BYTES * 2)
        app.router.add_get(REALTIME_PATH, self._handle_realtime)
        app.router.add_post(CUSTOMIZATION_PATH, self._handle_customization)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        scheme = "http" if ssl_context is None else "https"
        self.base_url = f"{scheme}://{shown_host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        """Close every open WebSocket, then the server; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True  # requests arriving from now on are refused at once
        for session in list(self._live):
            await session.shutdown()
        # Cancel what is still being served (a handshake in handshake_delay, an enrollment in
        # ffmpeg, an idle keep-alive connection): aiohttp would wait shutdown_timeout for them,
        # and forgets handlers whose client already left, which then outlive close().
        await self._cancel_connections()
        await runner.cleanup()
        await self._cancel_connections()
        for _, _, waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()

    # -- fault injection ---------------------------------------------------------------------

    def fail_next_handshake(
        self, status: int, code: str | None = None, message: str | None = None
    ) -> None:
        """Answer the next realtime handshake with this HTTP error instead of upgrading."""
        default_code, default_message = _DEFAULT_MESSAGES.get(status, _DEFAULT_MESSAGES[500])
        self._handshake_faults.append(
            (status, code or default_code, message if message is not None else default_message)
        )

    def hang_next_handshake(self) -> None:
        """Never answer the next upgrade request (a connect timeout for the client)."""
        self._hanging_handshakes += 1

    def _next_sessions(self, sessions: int) -> list[_SessionFaults]:
        """Return the fault records of the next ``sessions`` sessions."""
        while len(self._session_faults) < sessions:
            self._session_faults.append(_SessionFaults())
        return list(self._session_faults)[:sessions]

    def inject_error_event(
        self, code: str, message: str, *, after_deltas: int = 0, sessions: int = 1
    ) -> None:
        """Next session(s): send an ``error`` event after N audio deltas, then close (1011)."""
        for faults in self._next_sessions(sessions):
            faults.error = (code, message)
            faults.error_after = after_deltas

    def drop_connection(self, *, after_deltas: int, sessions: int = 1) -> None:
        """Next session(s): close TCP after N deltas (no close frame, no session.finished)."""
        for faults in self._next_sessions(sessions):
            faults.drop_after = after_deltas

    def stall(self, *, after_deltas: int, sessions: int = 1) -> None:
        """Next session(s): go silent after N deltas but keep the socket open."""
        for faults in self._next_sessions(sessions):
            faults.stall_after = after_deltas

    def garble(self, *, after_deltas: int, sessions: int = 1) -> None:
        """Next session(s): send a frame that is not valid JSON after N deltas, then nothing."""
        for faults in self._next_sessions(sessions):
            faults.garble_after = after_deltas

    def expire_next_session(self, *, error: tuple[str, str] | None = None) -> None:
        """Next session: end it as idle-expired once its first client event arrives.

        What a client sees that takes a kept-ready session just as the service drops it.
        """
        [faults] = self._next_sessions(1)
        faults.expire_on_first_event = True
        faults.expire_error = error

    async def end_idle_sessions(
        self, *, error: tuple[str, str] | None = None, drop: bool = False
    ) -> int:
        """End every open session that was sent nothing yet, as an idle limit would.

        Returns how many were ended (see ``_RealtimeSession.end_idle`` for the readings).
        """
        idle = [session for session in self._live if session.idle]
        for session in idle:
            await session.end_idle(error, drop=drop)
        return len(idle)

    def fail_next_http(self, status: int, code: str, message: str) -> None:
        """Answer the next customization request with this error body."""
        self._http_faults.append((status, code, message))

    async def wait_for_client_event(self, event_type: str, *, count: int = 1) -> dict[str, Any]:
        """Return the ``count``-th client event of this type (any session), waiting for it."""
        seen = self._client_events.get(event_type, [])
        if len(seen) >= count:
            return seen[count - 1]
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event_type, count, waiter))
        return await waiter

    async def wait_sessions_closed(self) -> None:
        """Wait until every realtime connection accepted so far has ended on the server side.

        After this, `SessionRecord` flags such as ``closed_by_client_early`` are final.
        """
        while self._live:
            await next(iter(self._live)).ended.wait()

    async def _cancel_connections(self) -> None:
        """Cancel the tasks still serving connections and wait for them."""
        pending = [task for task in self._connections if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _track(self, request: web.Request) -> bool:
        """Remember the connection task serving a request; False once close() has begun."""
        task = request.task
        if task not in self._connections:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        return not self._closing

    def _note_client_event(self, event: dict[str, Any]) -> None:
        """Count a received client event and wake the matching waiters."""
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return
        seen = self._client_events.setdefault(event_type, [])
        seen.append(event)
        pending = []
        for waited_type, count, waiter in self._waiters:
            if waited_type == event_type and len(seen) >= count:
                if not waiter.done():
                    waiter.set_result(seen[count - 1])
            else:
                pending.append((waited_type, count, waiter))
        self._waiters = pending

    # -- realtime ----------------------------------------------------------------------------

    async def _refuse_handshake(  # noqa: PLR0911 - one return per documented refusal
        self, request: web.Request
    ) -> web.Response | None:
        """Return the HTTP error that refuses this upgrade, or None to accept it (A.2)."""
        if not self._track(request):
            return _error_response(503, *_DEFAULT_MESSAGES[503])
        if self.options.handshake_delay > 0:
            await asyncio.sleep(self.options.handshake_delay)
        if self._hanging_handshakes:
            self._hanging_handshakes -= 1
            await asyncio.Event().wait()  # until close() cancels the handler
        if self._handshake_faults:
            return _error_response(*self._handshake_faults.popleft())
        if not _api_key_valid(request.headers.get("Authorization"), self.options.api_keys):
            return _error_response(401, "InvalidApiKey", "Invalid API-key provided.")
        model = request.query.get("model", "")
        if not model:
            return _error_response(400, "InvalidParameter", "Missing required parameter: 'model'.")
        if model not in MODELS:
            # Unknown model: the spec leaves the mode open; this emulator refuses the upgrade.
            return _error_response(404, "Model.NotExist", "Model not exist.")
        if self._over_rate_limit(model):
            self.rate_limited += 1
            return _error_response(429, *_DEFAULT_MESSAGES[429])
        return None

    def _over_rate_limit(self, model: str) -> bool:
        """Count this session start; return whether it is one too many for the minute."""
        limit = self.options.rpm_limits.get(model)
        if limit is None:
            return False
        now = self.options.clock()
        starts = self._session_starts.setdefault(model, deque())
        while starts and starts[0] <= now - self.options.rpm_window:
            starts.popleft()
        if len(starts) >= limit:
            return True
        starts.append(now)
        return False

    async def _handle_realtime(self, request: web.Request) -> web.StreamResponse:
        """Authenticate and upgrade, then run the session until the socket closes."""
        if (refusal := await self._refuse_handshake(request)) is not None:
            return refusal
        model = request.query["model"]
        ws = web.WebSocketResponse(timeout=1.0)
        if not ws.can_prepare(request).ok:
            return _error_response(400, "InvalidParameter", "A WebSocket upgrade is required.")
        await ws.prepare(request)
        session_id = new_id("sess_")
        headers = {
            str(name): _mask_authorization(value) if name.lower() == "authorization" else value
            for name, value in request.headers.items()
        }
        record = SessionRecord(
            model=model,
            headers=headers,
            session_id=session_id,
            config=_default_config(session_id, model),
        )
        self.sessions.append(record)
        faults = self._session_faults.popleft() if self._session_faults else _SessionFaults()
        session = _RealtimeSession(self, ws, request, record, faults)
        self._live.add(session)
        try:
            await session.run()
        finally:
            self._live.discard(session)
            session.ended.set()
        return ws

    # -- voice enrollment and design ---------------------------------------------------------

    async def _handle_customization(self, request: web.Request) -> web.Response:
        """Serve create / list / query / delete of both customization models (B.2-B.9)."""
        if not self._track(request):
            return _error_response(503, *_DEFAULT_MESSAGES[503])
        try:
            return _json_response(await self._customization(request))
        except _HttpError as err:
            return _error_response(err.status, err.code, err.message)

    async def _customization(self, request: web.Request) -> dict[str, Any]:
        """Record the request, apply faults and authentication, then run the action."""
        try:
            body = await request.json()
        except ValueError as err:
            raise _bad_request("Request body is not valid JSON.") from err
        redacted = _redact_body(body)
        self.http_requests.append(redacted if isinstance(redacted, dict) else {"_body": redacted})
        if self._http_faults:
            raise _HttpError(*self._http_faults.popleft())
        if not _api_key_valid(request.headers.get("Authorization"), self.options.api_keys):
            raise _HttpError(401, "InvalidApiKey", "Invalid API-key provided.")
        return await self._action(body)

    async def _action(self, body: object) -> dict[str, Any]:
        """Dispatch on ``model`` and ``input.action``; return the success body."""
        if not isinstance(body, dict):
            raise _bad_request("Request body must be a JSON object.")
        model = body.get("model")
        models = [ENROLLMENT_MODEL]
        if self.options.voice_design:
            models.append(DESIGN_MODEL)
        if model not in models:
            raise _bad_request(_invalid_value(model, _quote_list(models)))
        input_ = body.get("input")
        if not isinstance(input_, dict):
            raise _bad_request("Missing required parameter: 'input'.")
        request_id = str(uuid.uuid4())
        match input_.get("action"):
            case "create":
                if model == DESIGN_MODEL:
                    output = await self._design_voice(input_, body.get("parameters"))
                else:
                    output = await self._create_voice(input_)
                return {"output": output, "usage": {"count": 1}, "request_id": request_id}
            case "list":
                output = self._list_voices(input_, model)
            case "query":
                # Documented for voice design (B.5); enrollment answers the same way.
                output = self._find_voice(_str_param(input_, "voice"), model).as_json()
            case "delete":
                del self.voices[self._find_voice(_str_param(input_, "voice"), model).voice]
                return {"usage": {"count": 0}, "request_id": request_id}
            case action:
                raise _bad_request(_invalid_value(action, "'create', 'list', 'query', 'delete'"))
        return {"output": output, "usage": {"count": 0}, "request_id": request_id}

    def _find_voice(self, voice: str, designer: str) -> VoiceRecord:
        """Return a voice of this customization model or raise the documented not-found error."""
        record = self.voices.get(voice)
        if record is None or record.designer != designer:
            raise _HttpError(400, "BadRequest.VoiceNotFound", f"Voice '{voice}' not found.")
        return record

    def _list_voices(self, input_: Mapping[str, Any], designer: str) -> dict[str, Any]:
        """Return one page of this customization model's voices, newest first (B.3)."""
        page_index = _int_param(input_, "page_index", 0)
        page_size = _int_param(input_, "page_size", 10)
        own = [voice for voice in self.voices.values() if voice.designer == designer]
        # gmt_create has one-second resolution: ties are broken by insertion order.
        newest_first = [
            voice
            for _, voice in sorted(
                enumerate(own), key=lambda pair: (pair[1].gmt_create, pair[0]), reverse=True
            )
        ]
        page = newest_first[page_index * page_size : (page_index + 1) * page_size]
        return {
            "voice_list": [voice.as_json() for voice in page],
            "page_index": page_index,
            "page_size": page_size,
            "total_count": len(own),
        }

    def _check_quota(self) -> None:
        """Refuse a 1001st custom voice; cloned and designed voices share the quota (B.8, G)."""
        if len(self.voices) >= _VOICE_QUOTA:
            raise _HttpError(
                400,
                "Throttling.AllocationQuota",
                "Maximum voice storage limit exceeded, please delete existing voices.",
            )

    def _store_voice(self, kind: str, preferred_name: str, **fields: Any) -> VoiceRecord:
        """Name a new voice ``qwen-tts-{vc|vd}-{name}-voice-{stamp}-{hex}`` (B.2) and keep it."""
        now = _beijing_now()
        stamp = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
        voice = f"qwen-tts-{kind}-{preferred_name}-voice-{stamp}-{secrets.token_hex(2)}"
        gmt = now.strftime("%Y-%m-%d %H:%M:%S")
        self.voices[voice] = record = VoiceRecord(
            voice=voice, preferred_name=preferred_name, gmt_create=gmt, gmt_modified=gmt, **fields
        )
        return record

    async def _design_voice(self, input_: Mapping[str, Any], parameters: object) -> dict[str, Any]:
        """Validate a design request, store the voice and render its preview (B.9)."""
        target_model = _str_param(input_, "target_model")
        if target_model not in DESIGN_TARGET_MODELS:
            raise _bad_request(_invalid_value(target_model, _quote_list(DESIGN_TARGET_MODELS)))
        voice_prompt = _str_param(input_, "voice_prompt", max_length=DESIGN_MAX_PROMPT)
        preview_text = _str_param(input_, "preview_text", max_length=DESIGN_MAX_PREVIEW_TEXT)
        preferred_name = _preferred_name(input_)
        language = input_.get("language", "zh")  # the documented default
        if language not in _DESIGN_LANGUAGES:
            raise _bad_request(_invalid_value(language, _quote_list(_DESIGN_LANGUAGES)))
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise _bad_request(_invalid_value(parameters, "an object for parameters"))
        rate = _choice_param(parameters, "sample_rate", 24000, _QWEN3_RATES)
        response_format = _choice_param(parameters, "response_format", "wav", _QWEN3_FORMATS)
        self._check_quota()
        pcm = tone_pcm(_sample_count(preview_text, self.options.ms_per_char, rate), rate, 0)
        match response_format:
            case "pcm":
                audio = pcm
            case "wav":
                audio = wav_header(len(pcm), rate) + pcm
            case _:
                audio = await encode_audio(pcm, rate, response_format, 128)
        record = self._store_voice(
            "vd",
            preferred_name,
            target_model=target_model,
            language=language,
            designer=DESIGN_MODEL,
            voice_prompt=voice_prompt,
            preview_text=preview_text,
        )
        return {
            "voice": record.voice,
            "target_model": target_model,
            "preview_audio": {
                "data": base64.b64encode(audio).decode(),
                "sample_rate": rate,
                "response_format": response_format,
            },
        }

    async def _create_voice(self, input_: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a create request and its audio, then store the voice (B.2, B.7)."""
        target_model = _str_param(input_, "target_model")
        if target_model not in ENROLLMENT_TARGET_MODELS:
            raise _bad_request(_invalid_value(target_model, _quote_list(ENROLLMENT_TARGET_MODELS)))
        preferred_name = _preferred_name(input_)
        language = input_.get("language")
        if language is not None and language not in _ENROLLMENT_LANGUAGES:
            raise _bad_request(_invalid_value(language, _quote_list(_ENROLLMENT_LANGUAGES)))
        if not isinstance(input_.get("text", ""), str):
            raise _bad_request(_invalid_value(input_.get("text"), "a string for input.text"))
        audio = input_.get("audio")
        data = audio.get("data") if isinstance(audio, dict) else None
        if not isinstance(data, str) or not data:
            raise _bad_request("Missing required parameter: 'input.audio.data'.")
        self._check_quota()
        probe = _probe_wav(payload := await self._load_audio(data))
        if probe is None:
            probe = await _probe_with_ffmpeg(payload)
        _check_enrollment_audio(probe, self.options)
        record = self._store_voice(
            "vc", preferred_name, target_model=target_model, language=language
        )
        return {"voice": record.voice, "target_model": target_model}

    async def _load_audio(self, data: str) -> bytes:
        """Decode a data URI or download a URL; enforce the 10 MB limit."""
        if data.startswith("data:"):
            if len(data) >= _MAX_AUDIO_BYTES:
                raise _HttpError(400, "Audio.FileSizeExceed", "File too large (limit 10 MB).")
            header, _, encoded = data.partition(",")
            mime = header[5:].split(";")[0].strip().lower()
            if not header.endswith(";base64") or mime not in _AUDIO_MIME_TYPES:
                raise _bad_request(_invalid_value(header + ",", _quote_list(_AUDIO_MIME_TYPES)))
            try:
                return base64.b64decode(encoded, validate=True)
            except binascii.Error as err:
                raise _bad_request("input.audio.data is not valid base64.") from err
        if data.startswith(("http://", "https://")):
            return await _download(data)
        raise _bad_request(_invalid_value(data[:40], "a data URI or an http(s) URL"))


async def _download(url: str) -> bytes:
    """Fetch an enrollment URL; failures are InvalidParameter (B.6 has no code for them)."""
    received = bytearray()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.get(url) as response,
        ):
            if response.status != 200:
                raise _bad_request(f"Failed to download audio: HTTP {response.status}.")
            async for chunk in response.content.iter_chunked(65536):
                received += chunk
                if len(received) > _MAX_AUDIO_BYTES:
                    raise _HttpError(400, "Audio.FileSizeExceed", "File too large (limit 10 MB).")
    except (aiohttp.ClientError, TimeoutError) as err:
        raise _bad_request(f"Failed to download audio: {err}.") from err
    return bytes(received)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.dashscope_emulator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted key (repeatable)"
    )
    parser.add_argument("--lenient", action="store_true", help="ignore protocol mistakes")
    parser.add_argument("--realtime", action="store_true", help="pace audio at real time")
    parser.add_argument("--first-audio-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--enroll-min-sample-rate", type=int, default=24000, metavar="HZ")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    """Run until SIGINT (Ctrl-C) or SIGTERM."""
    options = EmulatorOptions(
        api_keys=frozenset(args.api_keys or ["sk-emulator"]),
        strict=not args.lenient,
        first_audio_delay=args.first_audio_delay,
        enroll_min_sample_rate=args.enroll_min_sample_rate,
    )
    if args.realtime:
        options.chunk_interval = options.chunk_ms / 1000
    emulator = DashScopeEmulator(options)
    base_url = await emulator.start(args.host, args.port)
    sys.stdout.write(
        f"{base_url}\n"
        f"  realtime:   {emulator.ws_url}?model=<model>\n"
        f"  voices:     {emulator.customization_url} (enrollment and design)\n"
        f"  api keys:   {', '.join(sorted(options.api_keys))}\n"
    )
    sys.stdout.flush()
    # Our own handlers: a parent that started us in the background (a shell without job
    # control, CI) leaves SIGINT ignored, and Python then never raises KeyboardInterrupt.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tests.dashscope_emulator``."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
