"""Check a session configuration against what the model supports, before sending it."""

from .catalog import (
    AUDIO_FORMATS,
    BIT_RATE_RANGE,
    CLONED_VOICE_PREFIX,
    DESIGNED_VOICE_PREFIX,
    RATE_RANGE,
    SAMPLE_RATES,
    VOLUME_RANGE,
    VoiceKind,
    get_model,
)
from .errors import QwenTtsValidationError
from .session_config import SessionConfig


def _check_range(option: str, value: float | None, bounds: tuple[float, float]) -> None:
    """Refuse a tuning value outside its documented range."""
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise QwenTtsValidationError(
            "out_of_range",
            f"{option} must be between {low} and {high}, got {value}",
            option=option,
            value=str(value),
            min=str(low),
            max=str(high),
        )


def _voice_fits(kind: VoiceKind, voice: str) -> bool:
    """Tell whether a voice id is of the kind the model speaks with."""
    if kind is VoiceKind.CLONED:
        return voice.startswith(CLONED_VOICE_PREFIX)
    if kind is VoiceKind.DESIGNED:
        return voice.startswith(DESIGNED_VOICE_PREFIX)
    return not voice.startswith((CLONED_VOICE_PREFIX, DESIGNED_VOICE_PREFIX))


def validate_session_config(model_id: str, config: SessionConfig) -> None:
    """Raise ``QwenTtsValidationError`` if ``model_id`` cannot take ``config``.

    Unknown model ids (newer than this catalogue) get only the generic checks,
    so a new snapshot works before the catalogue knows it.
    """
    if not config.voice:
        raise QwenTtsValidationError("voice_required", "A voice is required")
    if config.mode not in ("server_commit", "commit"):
        raise QwenTtsValidationError("invalid_mode", f"Unknown mode {config.mode}")
    _check_range("speech_rate", config.speech_rate, RATE_RANGE)
    _check_range("pitch_rate", config.pitch_rate, RATE_RANGE)
    _check_range("volume", config.volume, VOLUME_RANGE)
    _check_range("bit_rate", config.bit_rate, BIT_RATE_RANGE)
    model = get_model(model_id)
    formats = model.formats if model else AUDIO_FORMATS
    sample_rates = model.sample_rates if model else SAMPLE_RATES
    if config.response_format not in formats:
        raise QwenTtsValidationError(
            "unsupported_format",
            f"{model_id} cannot produce {config.response_format}",
            model=model_id,
            value=config.response_format,
        )
    if config.sample_rate not in sample_rates:
        raise QwenTtsValidationError(
            "unsupported_sample_rate",
            f"{model_id} cannot produce {config.sample_rate} Hz",
            model=model_id,
            value=str(config.sample_rate),
        )
    if model is None:
        return
    unsupported = []
    if not model.tuning:
        unsupported += [
            name
            for name in ("speech_rate", "pitch_rate", "volume", "bit_rate")
            if getattr(config, name) is not None
        ]
    if not model.instructions:
        unsupported += [
            name
            for name in ("instructions", "optimize_instructions")
            if getattr(config, name) is not None
        ]
    if unsupported:
        raise QwenTtsValidationError(
            "unsupported_option",
            f"{model_id} does not support {unsupported[0]}",
            model=model_id,
            option=unsupported[0],
        )
    if config.language_type is not None and config.language_type.casefold() not in {
        language.casefold() for language in model.language_types
    }:
        raise QwenTtsValidationError(
            "unsupported_language",
            f"{model_id} does not speak {config.language_type}",
            model=model_id,
            value=config.language_type,
        )
    if not _voice_fits(model.voice_kind, config.voice):
        raise QwenTtsValidationError(
            "voice_not_for_model",
            f"Voice {config.voice} cannot be used with {model_id}",
            model=model_id,
            voice=config.voice,
        )
