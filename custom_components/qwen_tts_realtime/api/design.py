"""Voice design: a voice made from a description, with a spoken preview (protocol.md B.9)."""

import base64
import binascii
import wave
from dataclasses import dataclass
from typing import Any

from .audio import as_wav_file
from .catalog import VoiceKind
from .enrollment import EnrolledVoice, validate_voice_request
from .errors import QwenTtsValidationError

DESIGN_MODEL = "qwen-voice-design"
# Limits of the voice design reference (B.9, G), in characters.
MAX_VOICE_PROMPT = 2048
MAX_PREVIEW_TEXT = 1024
# The preview is asked for as the documented default: a WAV at 24 kHz, playable as it is.
PREVIEW_FORMAT = "wav"
PREVIEW_SAMPLE_RATE = 24000


@dataclass(frozen=True, slots=True)
class VoicePreview:
    """The preview the service spoke with a new voice, as a WAV file with exact sizes."""

    wav: bytes
    sample_rate: int
    seconds: float


@dataclass(frozen=True, slots=True)
class DesignedVoice:
    """A designed voice and its preview (``None`` when the service sent no usable one)."""

    voice: EnrolledVoice
    preview: VoicePreview | None


def _check_text(reason: str, text: str, limit: int) -> None:
    """Refuse a blank text or one longer than ``limit`` characters."""
    if not text.strip():
        raise QwenTtsValidationError(f"{reason}_required", f"{reason} is empty")
    if len(text) > limit:
        raise QwenTtsValidationError(
            f"{reason}_too_long",
            f"{reason} has {len(text)} characters, at most {limit} are allowed",
            length=str(len(text)),
            max=str(limit),
        )


def validate_design(
    *,
    target_model: str,
    voice_prompt: str,
    preview_text: str,
    preferred_name: str,
    language: str | None,
) -> None:
    """Refuse a design request the service would reject, before sending anything."""
    _check_text("voice_prompt", voice_prompt, MAX_VOICE_PROMPT)
    _check_text("preview_text", preview_text, MAX_PREVIEW_TEXT)
    validate_voice_request(VoiceKind.DESIGNED, target_model, preferred_name, language)


def parse_preview(output: dict[str, Any]) -> VoicePreview | None:
    """Read ``output.preview_audio`` (base64 WAV, or raw PCM at its ``sample_rate``).

    The voice exists once the service answered, so a missing or unreadable
    preview gives ``None`` rather than an error that would hide the new voice.
    """
    preview = output.get("preview_audio")
    data = preview.get("data") if isinstance(preview, dict) else None
    if not isinstance(data, str) or not data:
        return None
    rate = preview.get("sample_rate") if isinstance(preview, dict) else None
    try:
        audio = base64.b64decode(data, validate=True)
        wav, sample_rate, seconds = as_wav_file(
            audio, rate if isinstance(rate, int) and rate > 0 else PREVIEW_SAMPLE_RATE
        )
    except binascii.Error, wave.Error, EOFError:
        return None
    return VoicePreview(wav=wav, sample_rate=sample_rate, seconds=seconds)
