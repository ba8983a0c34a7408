"""Constants of the Qwen TTS Realtime integration."""

import logging

DOMAIN = "qwen_tts_realtime"
LOGGER = logging.getLogger(__package__)

# Config entry data: the account.
CONF_REGION = "region"
CONF_BASE_URL = "base_url"

# Voice profile subentries: one TTS entity each.
SUBENTRY_TTS = "tts"
CONF_MODEL = "model"
CONF_VOICE = "voice"
CONF_LANGUAGE_TYPE = "language_type"
CONF_SPEECH_RATE = "speech_rate"
CONF_PITCH_RATE = "pitch_rate"
CONF_VOLUME = "volume"
CONF_INSTRUCTIONS = "instructions"
CONF_AUDIO_OUTPUT = "audio_output"
CONF_PRONUNCIATION = "pronunciation"  # the dictionary as the user wrote it
CONF_FALLBACK_ENGINE = "fallback_engine"  # another TTS entity, for when DashScope cannot speak
# Keep a session connected ahead of the next request (absent: the model's default).
CONF_WARM_SESSION = "warm_session"

# Output preference of a profile.
OUTPUT_AUTO = "auto"  # what the caller asks for, when the model can make it
OUTPUT_WAV = "wav"  # always PCM in a streaming WAV (Home Assistant converts if needed)
OUTPUT_MP3 = "mp3"  # always MP3 (for players that only take MP3)
AUDIO_OUTPUTS = (OUTPUT_AUTO, OUTPUT_WAV, OUTPUT_MP3)

DEFAULT_LANGUAGE_TYPE = "Auto"
DEFAULT_SPEECH_RATE = 1.0
DEFAULT_PITCH_RATE = 1.0
DEFAULT_VOLUME = 50
DEFAULT_PROFILE_TITLE = "Cherry"

# Service actions and their fields.
SERVICE_CREATE_VOICE = "create_voice"
SERVICE_LIST_VOICES = "list_voices"
SERVICE_DELETE_VOICE = "delete_voice"
SERVICE_DESIGN_VOICE = "design_voice"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"


def voices_updated_signal(entry_id: str) -> str:
    """Return the dispatcher signal sent when an entry's cloned voices changed."""
    return f"{DOMAIN}_voices_updated_{entry_id}"


# The profile created with a new account, so the user hears something right away.
DEFAULT_PROFILE: dict[str, str | float | int] = {
    CONF_MODEL: "qwen3-tts-flash-realtime",
    CONF_VOICE: "Cherry",
    CONF_LANGUAGE_TYPE: DEFAULT_LANGUAGE_TYPE,
    CONF_SPEECH_RATE: DEFAULT_SPEECH_RATE,
    CONF_PITCH_RATE: DEFAULT_PITCH_RATE,
    CONF_VOLUME: DEFAULT_VOLUME,
    CONF_AUDIO_OUTPUT: OUTPUT_AUTO,
}
