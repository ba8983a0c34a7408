"""What each Qwen-TTS-Realtime model can do, and the system voices it offers.

The one place that knows the models (protocol.md A.9 and C). Everything that
validates a request, builds a voice picker or maps a language reads from here.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from .endpoints import Region

CATALOG_VERSION = "2026.05"


class VoiceKind(StrEnum):
    """Which voices a model speaks with."""

    SYSTEM = "system"
    CLONED = "cloned"
    DESIGNED = "designed"


@dataclass(frozen=True, slots=True)
class SystemVoice:
    """A built-in voice: its id on the wire and how people know it."""

    voice_id: str
    chinese_name: str | None = None
    dialect: str | None = None

    @property
    def display_name(self) -> str:
        """Return e.g. ``Cherry (芊悦)`` or ``Jada (上海话 · Shanghainese)``."""
        if self.dialect:
            chinese, english = DIALECTS[self.dialect]
            return f"{self.voice_id} ({chinese} · {english})"
        if self.chinese_name:
            return f"{self.voice_id} ({self.chinese_name})"
        return self.voice_id


# Dialect key -> (Chinese name, English name).
DIALECTS: dict[str, tuple[str, str]] = {
    "shanghai": ("上海话", "Shanghainese"),
    "beijing": ("北京话", "Beijing dialect"),
    "nanjing": ("南京话", "Nanjing dialect"),
    "shaanxi": ("陕西话", "Shaanxi dialect"),
    "minnan": ("闽南语", "Minnan"),
    "tianjin": ("天津话", "Tianjin dialect"),
    "sichuan": ("四川话", "Sichuanese"),
    "cantonese": ("粤语", "Cantonese"),
}

LANGUAGE_TYPES = (
    "Auto",
    "Chinese",
    "English",
    "German",
    "Italian",
    "Portuguese",
    "Spanish",
    "Japanese",
    "Korean",
    "French",
    "Russian",
)
AUDIO_FORMATS = ("pcm", "wav", "mp3", "opus")
SAMPLE_RATES = (8000, 16000, 24000, 48000)
RATE_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0, 100)
BIT_RATE_RANGE = (6, 510)
# Languages a cloning recording may be declared in (voice enrollment ``language``).
ENROLLMENT_LANGUAGES = ("zh", "en", "de", "it", "pt", "es", "ja", "ko", "fr", "ru")


# Chinese display names (from Qwen's own demo app) and dialects of the system voices.
_CHINESE_NAMES = {
    "Cherry": "芊悦",
    "Serena": "苏瑶",
    "Ethan": "晨煦",
    "Chelsie": "千雪",
    "Momo": "茉兔",
    "Vivian": "十三",
    "Moon": "月白",
    "Maia": "四月",
    "Kai": "凯",
    "Nofish": "不吃鱼",
    "Bella": "萌宝",
    "Jennifer": "詹妮弗",
    "Ryan": "甜茶",
    "Katerina": "卡捷琳娜",
    "Elias": "墨讲师",
}
_DIALECT_OF = {
    "Jada": "shanghai",
    "Dylan": "beijing",
    "Li": "nanjing",
    "Marcus": "shaanxi",
    "Roy": "minnan",
    "Peter": "tianjin",
    "Sunny": "sichuan",
    "Eric": "sichuan",
    "Rocky": "cantonese",
    "Kiki": "cantonese",
}


def _voices(*voice_ids: str) -> tuple[SystemVoice, ...]:
    """Build system voices with their Chinese names and dialects."""
    return tuple(
        SystemVoice(voice_id, _CHINESE_NAMES.get(voice_id), _DIALECT_OF.get(voice_id))
        for voice_id in voice_ids
    )


# protocol.md C: the voices of every Flash model, the ones added in 2025-11, Instruct's list.
_FLASH_2025_09_VOICES = _voices(
    "Cherry", "Ethan", "Nofish", "Jennifer", "Ryan", "Katerina", "Elias", "Jada", "Dylan", "Li",
    "Marcus", "Roy", "Peter", "Sunny", "Eric", "Rocky", "Kiki",
)  # fmt: skip
_FLASH_VOICES = _FLASH_2025_09_VOICES + _voices(
    "Serena", "Chelsie", "Momo", "Vivian", "Moon", "Maia", "Kai", "Bella", "Aiden", "Eldric Sage",
    "Mia", "Mochi", "Bellona", "Vincent", "Bunny", "Neil", "Arthur", "Nini", "Ebona", "Seren",
    "Pip", "Stella", "Bodega", "Sonrisa", "Alek", "Dolce", "Sohee", "Ono Anna", "Lenn",
    "Emilien", "Andre", "Radio Gol",
)  # fmt: skip
_INSTRUCT_VOICES = _voices(
    "Cherry", "Serena", "Ethan", "Chelsie", "Momo", "Vivian", "Moon", "Maia", "Kai", "Nofish",
    "Bella", "Eldric Sage", "Mia", "Mochi", "Bellona", "Vincent", "Bunny", "Neil", "Elias",
    "Arthur", "Nini", "Seren", "Pip", "Stella",
)  # fmt: skip
_LEGACY_VOICES = _voices("Cherry", "Serena", "Ethan", "Chelsie")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The capabilities of one realtime model id."""

    model_id: str
    voice_kind: VoiceKind
    regions: frozenset[Region]
    voices: tuple[SystemVoice, ...] = ()
    formats: tuple[str, ...] = AUDIO_FORMATS
    sample_rates: tuple[int, ...] = SAMPLE_RATES
    tuning: bool = True
    instructions: bool = False
    language_types: tuple[str, ...] = LANGUAGE_TYPES
    requests_per_minute: int | None = 180
    # The first-generation model bills tokens, the Qwen3 families characters (protocol.md A.5).
    bills_tokens: bool = False

    @property
    def speaks_custom_voices(self) -> bool:
        """Tell whether the model speaks the account's cloned or designed voices only."""
        return self.voice_kind is not VoiceKind.SYSTEM

    @property
    def default_voice(self) -> str | None:
        """Return the voice a new profile starts with (``None`` for custom-voice models)."""
        return self.voices[0].voice_id if self.voices else None

    def system_voice(self, voice_id: str) -> SystemVoice | None:
        """Return the system voice with this id, if the model has it."""
        return next((voice for voice in self.voices if voice.voice_id == voice_id), None)


_BOTH = frozenset({Region.BEIJING, Region.SINGAPORE})
_BEIJING = frozenset({Region.BEIJING})


def _family(ids: tuple[str, ...], **capabilities: object) -> dict[str, ModelInfo]:
    """Give every id of a model family the same capabilities."""
    return {model_id: ModelInfo(model_id=model_id, **capabilities) for model_id in ids}  # type: ignore[arg-type]


MODELS: dict[str, ModelInfo] = {
    **_family(
        ("qwen3-tts-flash-realtime", "qwen3-tts-flash-realtime-2025-11-27"),
        voice_kind=VoiceKind.SYSTEM,
        regions=_BOTH,
        voices=_FLASH_VOICES,
    ),
    **_family(
        ("qwen3-tts-flash-realtime-2025-09-18",),
        voice_kind=VoiceKind.SYSTEM,
        regions=_BOTH,
        voices=_FLASH_2025_09_VOICES,
        requests_per_minute=10,
    ),
    **_family(
        ("qwen3-tts-instruct-flash-realtime", "qwen3-tts-instruct-flash-realtime-2026-01-22"),
        voice_kind=VoiceKind.SYSTEM,
        regions=_BOTH,
        voices=_INSTRUCT_VOICES,
        instructions=True,
        requests_per_minute=None,
    ),
    **_family(
        ("qwen3-tts-vc-realtime-2026-01-15", "qwen3-tts-vc-realtime-2025-11-27"),
        voice_kind=VoiceKind.CLONED,
        regions=_BOTH,
    ),
    **_family(
        ("qwen3-tts-vd-realtime-2026-01-15", "qwen3-tts-vd-realtime-2025-12-16"),
        voice_kind=VoiceKind.DESIGNED,
        regions=_BOTH,
    ),
    **_family(
        ("qwen-tts-realtime", "qwen-tts-realtime-latest", "qwen-tts-realtime-2025-07-15"),
        voice_kind=VoiceKind.SYSTEM,
        regions=_BEIJING,
        voices=_LEGACY_VOICES,
        formats=("pcm",),
        sample_rates=(24000,),
        tuning=False,
        language_types=("Auto", "Chinese", "English"),
        requests_per_minute=10,
        bills_tokens=True,
    ),
}

DEFAULT_MODEL = "qwen3-tts-flash-realtime"
DEFAULT_VOICE = "Cherry"
# Newest first: the first one is the default target of a new cloned voice.
CLONING_MODELS = tuple(m for m, info in MODELS.items() if info.voice_kind is VoiceKind.CLONED)
# Likewise for designed voices.
DESIGN_MODELS = tuple(m for m, info in MODELS.items() if info.voice_kind is VoiceKind.DESIGNED)

# Prefixes of custom voice ids (protocol.md B.2): cloned and designed voices.
CLONED_VOICE_PREFIX = "qwen-tts-vc-"
DESIGNED_VOICE_PREFIX = "qwen-tts-vd-"


_CUSTOM_VOICE_NAME = re.compile(r"qwen-tts-v[cd]-(?P<name>.+?)-voice-")


def custom_voice_name(voice_id: str) -> str:
    """Return the chosen name inside a cloned or designed voice id, else the id itself.

    ``qwen-tts-vc-guanyu-voice-20250812105009984-838b`` -> ``guanyu`` (protocol.md B.2).
    """
    match = _CUSTOM_VOICE_NAME.match(voice_id)
    return match["name"] if match else voice_id


def get_model(model_id: str) -> ModelInfo | None:
    """Return the catalogue entry of ``model_id`` (``None`` for an unknown id)."""
    return MODELS.get(model_id)


def models_for_region(region: Region) -> list[ModelInfo]:
    """Return the models served in ``region`` (a custom endpoint may serve any)."""
    return [info for info in MODELS.values() if region is Region.CUSTOM or region in info.regions]


# BCP-47 primary language (or full tag for Chinese variants) -> session ``language_type``.
_LANGUAGE_TYPE_BY_TAG = {
    "zh": "Chinese",
    "yue": "Chinese",
    "en": "English",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "es": "Spanish",
    "ja": "Japanese",
    "ko": "Korean",
    "fr": "French",
    "ru": "Russian",
}


def language_type_for(tag: str) -> str:
    """Map a locale tag such as ``zh-HK`` or ``en-GB`` to the session ``language_type``."""
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return _LANGUAGE_TYPE_BY_TAG.get(primary, "Auto")
