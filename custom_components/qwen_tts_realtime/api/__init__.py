"""Async client for Alibaba Cloud DashScope Qwen-TTS-Realtime, voice cloning and voice design.

Pure asyncio + aiohttp; it knows nothing of Home Assistant and could ship as a library.
"""

from .audio import pcm_to_wav, wav_header
from .catalog import (
    CATALOG_VERSION,
    CLONING_MODELS,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    DESIGN_MODELS,
    LANGUAGE_TYPES,
    MODELS,
    ModelInfo,
    SystemVoice,
    VoiceKind,
    custom_voice_name,
    get_model,
    language_type_for,
    models_for_region,
)
from .client import QwenTtsClient
from .design import MAX_PREVIEW_TEXT, MAX_VOICE_PROMPT, DesignedVoice, VoicePreview
from .endpoints import Endpoint, Region
from .enrollment import EnrolledVoice, audio_data_uri
from .errors import (
    QwenTtsApiError,
    QwenTtsAudioRejectedError,
    QwenTtsAuthError,
    QwenTtsConnectionError,
    QwenTtsError,
    QwenTtsModelAccessError,
    QwenTtsProtocolError,
    QwenTtsQuotaError,
    QwenTtsRateLimitError,
    QwenTtsTimeoutError,
    QwenTtsValidationError,
    QwenTtsVoiceNotFoundError,
    QwenTtsWarmSessionError,
)
from .language import detect_language_type
from .ogg import OggOpusJoiner
from .ratelimit import RateLimiter
from .realtime import SessionStats, Timeouts
from .retry import MAX_RESUMES, RetryPolicy
from .session_config import SessionConfig
from .text_buffer import TextBuffer
from .warm import WarmSessions, WarmState, warm_by_default

__all__ = [
    "CATALOG_VERSION",
    "CLONING_MODELS",
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "DESIGN_MODELS",
    "LANGUAGE_TYPES",
    "MAX_PREVIEW_TEXT",
    "MAX_RESUMES",
    "MAX_VOICE_PROMPT",
    "MODELS",
    "DesignedVoice",
    "Endpoint",
    "EnrolledVoice",
    "ModelInfo",
    "OggOpusJoiner",
    "QwenTtsApiError",
    "QwenTtsAudioRejectedError",
    "QwenTtsAuthError",
    "QwenTtsClient",
    "QwenTtsConnectionError",
    "QwenTtsError",
    "QwenTtsModelAccessError",
    "QwenTtsProtocolError",
    "QwenTtsQuotaError",
    "QwenTtsRateLimitError",
    "QwenTtsTimeoutError",
    "QwenTtsValidationError",
    "QwenTtsVoiceNotFoundError",
    "QwenTtsWarmSessionError",
    "RateLimiter",
    "Region",
    "RetryPolicy",
    "SessionConfig",
    "SessionStats",
    "SystemVoice",
    "TextBuffer",
    "Timeouts",
    "VoiceKind",
    "VoicePreview",
    "WarmSessions",
    "WarmState",
    "audio_data_uri",
    "custom_voice_name",
    "detect_language_type",
    "get_model",
    "language_type_for",
    "models_for_region",
    "pcm_to_wav",
    "warm_by_default",
    "wav_header",
]
