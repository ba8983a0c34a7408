"""Text-to-speech entities: one per voice profile, text streams in and audio streams out."""

import math
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any, override

from homeassistant.components.tts import (
    ATTR_PREFERRED_FORMAT,
    ATTR_PREFERRED_SAMPLE_BYTES,
    ATTR_PREFERRED_SAMPLE_CHANNELS,
    ATTR_PREFERRED_SAMPLE_RATE,
    ATTR_VOICE,
    TextToSpeechEntity,
    TTSAudioResponse,
    TtsAudioType,
    Voice,
)
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import language as language_util

from .api import (
    EnrolledVoice,
    ModelInfo,
    QwenTtsError,
    QwenTtsVoiceNotFoundError,
    SessionConfig,
    SessionStats,
    TextBuffer,
    VoiceKind,
    detect_language_type,
    get_model,
    language_type_for,
    warm_by_default,
)
from .api.segmenter import Segmenter
from .api.validation import validate_session_config
from .audio_output import DEFAULT_FORMAT, AudioPlan, plan_audio
from .const import (
    CONF_AUDIO_OUTPUT,
    CONF_FALLBACK_ENGINE,
    CONF_INSTRUCTIONS,
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_PITCH_RATE,
    CONF_PRONUNCIATION,
    CONF_SPEECH_RATE,
    CONF_VOICE,
    CONF_VOLUME,
    CONF_WARM_SESSION,
    DEFAULT_LANGUAGE_TYPE,
    DEFAULT_PITCH_RATE,
    DEFAULT_SPEECH_RATE,
    DEFAULT_VOLUME,
    DOMAIN,
    LOGGER,
    OUTPUT_AUTO,
    OUTPUT_WAV,
    SUBENTRY_TTS,
    voices_updated_signal,
)
from .data import QwenTtsConfigEntry, async_forget_voice
from .devices import profile_device_info
from .exceptions import to_ha_error
from .fallback import FallbackFailedError, async_fallback_audio
from .markdown import strip_markdown, strip_markdown_stream
from .pronunciation import PronunciationDictionary, parse_pronunciation, pronunciation_stream
from .reports import async_send_report

PARALLEL_UPDATES = 0

# Locale tags offered per session language type, the usual one first. Every tag maps
# back to its language type with ``language_type_for``.
LANGUAGE_TAGS: dict[str, tuple[str, ...]] = {
    "Chinese": (
        "zh-CN", "zh", "zh-Hans", "zh-Hant", "zh-TW", "zh-HK", "zh-SG", "yue", "yue-HK",
    ),
    "English": (
        "en-US", "en", "en-GB", "en-AU", "en-CA", "en-IE", "en-IN", "en-NZ", "en-SG", "en-ZA",
    ),
    "German": ("de-DE", "de", "de-AT", "de-CH"),
    "Italian": ("it-IT", "it", "it-CH"),
    "Portuguese": ("pt-BR", "pt", "pt-PT"),
    "Spanish": ("es-ES", "es", "es-MX", "es-US", "es-AR", "es-CO", "es-419"),
    "Japanese": ("ja-JP", "ja"),
    "Korean": ("ko-KR", "ko"),
    "French": ("fr-FR", "fr", "fr-CA", "fr-BE", "fr-CH"),
    "Russian": ("ru-RU", "ru"),
}  # fmt: skip
# Every model speaks Chinese, and many users do.
FALLBACK_LANGUAGE = "zh-CN"
# What a message with nothing to say sounds like: short, but long enough that every
# encoder Home Assistant converts it with writes a decodable file (an MP3 frame).
SILENCE_SECONDS = 0.1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: QwenTtsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one entity per voice profile."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_TTS:
            async_add_entities(
                [QwenTtsEntity(entry, subentry, hass.config.language)],
                config_subentry_id=subentry.subentry_id,
            )


def _has_tuning(model: ModelInfo | None) -> bool:
    """Tell whether speech rate, pitch and volume apply (an unknown model gets the benefit)."""
    return model is None or model.tuning


def _has_instructions(model: ModelInfo | None) -> bool:
    """Tell whether style instructions apply (an unknown model gets the benefit)."""
    return model is None or model.instructions


def supported_languages(model: ModelInfo | None) -> list[str]:
    """Return the locale tags of every language the model speaks."""
    language_types = model.language_types if model else tuple(LANGUAGE_TAGS)
    return [tag for name in language_types for tag in LANGUAGE_TAGS.get(name, ())]


def default_language(supported: list[str], language_type: str, ha_language: str) -> str:
    """Return the profile's fixed language, else Home Assistant's, else Chinese."""
    if (tags := LANGUAGE_TAGS.get(language_type)) and tags[0] in supported:
        return tags[0]
    if matches := language_util.matches(ha_language, supported):
        return matches[0]
    return FALLBACK_LANGUAGE


def _supported_options(model: ModelInfo | None) -> list[str]:
    """Return the per-call options: voice, what the caller wants, and the model's knobs."""
    options = [
        ATTR_VOICE,
        ATTR_PREFERRED_FORMAT,
        ATTR_PREFERRED_SAMPLE_RATE,
        ATTR_PREFERRED_SAMPLE_CHANNELS,
        ATTR_PREFERRED_SAMPLE_BYTES,
        CONF_LANGUAGE_TYPE,
    ]
    if _has_tuning(model):
        options += [CONF_SPEECH_RATE, CONF_PITCH_RATE, CONF_VOLUME]
    if _has_instructions(model):
        options.append(CONF_INSTRUCTIONS)
    return options


def _default_options(
    model_id: str,
    model: ModelInfo | None,
    profile: Mapping[str, Any],
    pronunciation: PronunciationDictionary,
) -> dict[str, Any]:
    """Return the profile's settings as options, so each is part of the TTS cache key.

    The model, the audio output and the pronunciation dictionary are there for the
    cache key only (they are not per-call options): a profile switched to another
    model, from MP3 to WAV, or told to say a word differently, must not replay the
    audio made the old way.
    """
    options: dict[str, Any] = {
        ATTR_VOICE: profile[CONF_VOICE],
        ATTR_PREFERRED_FORMAT: DEFAULT_FORMAT,
        CONF_MODEL: model_id,
        CONF_AUDIO_OUTPUT: profile.get(CONF_AUDIO_OUTPUT, OUTPUT_AUTO),
    }
    # "Auto" stays out: the language of each request then picks the language type.
    if (language_type := profile.get(CONF_LANGUAGE_TYPE)) and language_type != (
        DEFAULT_LANGUAGE_TYPE
    ):
        options[CONF_LANGUAGE_TYPE] = language_type
    if _has_tuning(model):
        options[CONF_SPEECH_RATE] = profile.get(CONF_SPEECH_RATE, DEFAULT_SPEECH_RATE)
        options[CONF_PITCH_RATE] = profile.get(CONF_PITCH_RATE, DEFAULT_PITCH_RATE)
        options[CONF_VOLUME] = profile.get(CONF_VOLUME, DEFAULT_VOLUME)
    if _has_instructions(model) and (instructions := profile.get(CONF_INSTRUCTIONS)):
        options[CONF_INSTRUCTIONS] = instructions
    if pronunciation:
        options[CONF_PRONUNCIATION] = pronunciation.cache_token
    return options


def voice_list(
    model_id: str, model: ModelInfo | None, profile_voice: str, custom: list[EnrolledVoice]
) -> list[Voice]:
    """Return the voices the model speaks with, the profile's voice first.

    A cloned- or designed-voice model speaks the account's voices made for it.
    Pipelines pick the first voice when the user picks none.
    """
    voices: list[Voice] = []
    if model is not None and model.voice_kind is VoiceKind.SYSTEM:
        voices = [Voice(voice.voice_id, voice.display_name) for voice in model.voices]
    elif model is not None:
        voices = [
            Voice(voice.voice_id, voice.label) for voice in custom if voice.target_model == model_id
        ]
    first = [voice for voice in voices if voice.voice_id == profile_voice]
    rest = [voice for voice in voices if voice.voice_id != profile_voice]
    return (first or [Voice(profile_voice, profile_voice)]) + rest


def _number[T: (int, float)](options: Mapping[str, Any], name: str, kind: type[T]) -> T | None:
    """Return a numeric option, or raise a translated error for a value that is not one."""
    value = options.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except TypeError, ValueError:
        number = math.nan
    if math.isnan(number) or (kind is int and not number.is_integer()):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_option",
            translation_placeholders={"option": name, "value": str(value)},
        )
    return kind(number)


async def _once[T](item: T) -> AsyncGenerator[T]:
    """Yield one item: a whole message, or a whole file."""
    yield item


async def _opening(spoken: AsyncIterator[str]) -> str:
    """Read the text until it has a letter to tell its script by, or to its end."""
    text = ""
    async for chunk in spoken:
        text += chunk
        if any(char.isalpha() for char in chunk):
            break
    return text


async def _prepend(first: str, rest: AsyncIterator[str]) -> AsyncGenerator[str]:
    """Yield ``first`` again, then the rest of the text it was read from."""
    yield first
    async for chunk in rest:
        yield chunk


class QwenTtsEntity(TextToSpeechEntity):
    """Speech in the voice of one profile: a model, a voice and its tuning."""

    # Named after its profile, as core's openai_conversation does: the pickers show the
    # entity's own name, so a shared "Speech" could not tell profiles apart, and Home
    # Assistant refuses to synthesize with a nameless engine ("TTS engine name is not
    # set"), which rules out taking the device's name with ``name = None``. Entities
    # registered as ``tts.<profile>_speech`` keep that id: the registry goes by unique id.
    _attr_has_entity_name = False

    def __init__(
        self, entry: QwenTtsConfigEntry, subentry: ConfigSubentry, ha_language: str
    ) -> None:
        """Describe the profile; languages, options and voices follow from its model."""
        profile = subentry.data
        self._entry = entry
        self._model_id: str = profile[CONF_MODEL]
        self._model = get_model(self._model_id)
        self._voice: str = profile[CONF_VOICE]
        self._audio_output: str = profile.get(CONF_AUDIO_OUTPUT, OUTPUT_AUTO)
        self._fallback_engine: str | None = profile.get(CONF_FALLBACK_ENGINE) or None
        # The key of the profile's warm session, None when it has none.
        self._warm_key = (
            subentry.subentry_id
            if profile.get(CONF_WARM_SESSION, warm_by_default(self._model_id))
            else None
        )
        self._voices: list[Voice] = []
        self._subentry_id = self._attr_unique_id = subentry.subentry_id
        self._attr_name = subentry.title
        self._attr_device_info = profile_device_info(subentry)
        self._attr_supported_languages = supported_languages(self._model)
        self._attr_default_language = default_language(
            self._attr_supported_languages,
            profile.get(CONF_LANGUAGE_TYPE, DEFAULT_LANGUAGE_TYPE),
            ha_language,
        )
        # The flow stored only a dictionary that parses.
        self._pronunciation = PronunciationDictionary(
            parse_pronunciation(profile.get(CONF_PRONUNCIATION, ""))
        )
        self._attr_supported_options = _supported_options(self._model)
        self._attr_default_options = _default_options(
            self._model_id, self._model, profile, self._pronunciation
        )

    @override
    async def async_added_to_hass(self) -> None:
        """Build the voice list, follow the account's custom voices, open the warm session."""
        await super().async_added_to_hass()
        self._update_voices()
        if self._warm_key is not None:
            self._entry.runtime_data.client.warm.keep(self._warm_key, self._model_id)
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, voices_updated_signal(self._entry.entry_id), self._async_voices_updated
            )
        )

    @override
    async def async_will_remove_from_hass(self) -> None:
        """End the profile's warm session: nobody will take it."""
        if self._warm_key is not None:
            await self._entry.runtime_data.client.warm.release(self._warm_key)

    def _update_voices(self) -> None:
        """Rebuild the voice list from the catalogue and the account's custom voices."""
        self._voices = voice_list(
            self._model_id, self._model, self._voice, self._entry.runtime_data.custom_voices
        )

    @callback
    def _async_voices_updated(self) -> None:
        """Show voices that were just cloned, designed or deleted."""
        self._update_voices()
        self.async_write_ha_state()

    @override
    @callback
    def async_get_supported_voices(self, language: str) -> list[Voice] | None:
        """Return the voices; every one of them speaks every supported language."""
        return self._voices

    @override
    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Stream: text chunks in as they come, audio out as it comes.

        The session opens with the first words to say, whose script decides the
        language (Assist hands over its first ~60 characters at once); a message
        with none (blank, or only Markdown and stage directions) opens no session
        and is a short silence.
        """
        plan, config = self._prepare(request.options)
        spoken = aiter(strip_markdown_stream(request.message_gen))
        if not (opening := await _opening(spoken)):
            return TTSAudioResponse("wav", _once(self._silence(request.options)))
        config = self._with_language(config, request.language, opening)
        return TTSAudioResponse(
            plan.extension,
            self._stream(plan, config, request.language, _prepend(opening, spoken)),
        )

    @override
    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        """Return the complete audio of ``message`` (a WAV file has its exact sizes)."""
        plan, config = self._prepare(options)
        if not (spoken := strip_markdown(message)):
            return "wav", self._silence(options)
        config = self._with_language(config, language, spoken)
        audio = b"".join(
            [chunk async for chunk in self._audio(plan, config, language, _once(spoken))]
        )
        return plan.extension, plan.wav_file(audio) if plan.extension == "wav" else audio

    def _silence(self, options: Mapping[str, Any]) -> bytes:
        """Return the audio of nothing to say: a WAV in the caller's PCM shape.

        Home Assistant converts it to any other format asked for; an empty MP3 or
        Ogg stream would not be a file a player can open.
        """
        plan = plan_audio(self._model, OUTPUT_WAV, {**(self.default_options or {}), **options})
        return plan.silent_wav(SILENCE_SECONDS)

    def _with_language(self, config: SessionConfig, language: str, text: str) -> SessionConfig:
        """Return ``config`` with the language of ``text`` unless a language was asked for.

        The caller's ``language_type`` option or the profile's fixed language wins;
        otherwise the text's script decides, and the request's language only
        where it fits that script (see ``api.language``). A language the model
        does not speak is left to the service (``Auto``).
        """
        if config.language_type is not None:
            return config
        requested = language_type_for(language)
        language_type = detect_language_type(text, requested) or requested
        if self._model is not None and language_type not in self._model.language_types:
            language_type = DEFAULT_LANGUAGE_TYPE
        LOGGER.debug(
            "%s: language_type %s for a %s request (from the text's script)",
            self.entity_id,
            language_type,
            language,
        )
        return replace(config, language_type=language_type)

    def _prepare(self, options: Mapping[str, Any]) -> tuple[AudioPlan, SessionConfig]:
        """Plan the audio and build the session settings; raise translated errors for bad ones.

        The language is left open unless the caller or the profile fixed it: the
        text decides it (``_with_language``).
        """
        options = {**(self.default_options or {}), **options}
        plan = plan_audio(self._model, self._audio_output, options)
        config = SessionConfig(
            voice=str(options.get(ATTR_VOICE) or ""),
            response_format=plan.response_format,
            sample_rate=plan.service_rate,
            speech_rate=_number(options, CONF_SPEECH_RATE, float),
            pitch_rate=_number(options, CONF_PITCH_RATE, float),
            volume=_number(options, CONF_VOLUME, int),
            language_type=options.get(CONF_LANGUAGE_TYPE) or None,
            instructions=options.get(CONF_INSTRUCTIONS) or None,
        )
        try:
            validate_session_config(self._model_id, config)
        except QwenTtsError as err:
            raise to_ha_error(self.hass, self._entry, err) from err
        return plan, config

    async def _stream(
        self, plan: AudioPlan, config: SessionConfig, language: str, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        """Yield the audio, behind one streaming WAV header when the plan is WAV.

        The header goes out with the first audio, not before: a session that fails
        before any audio then fails the whole request (HTTP 500), instead of
        sending a player a WAV that breaks off.
        """
        header = plan.streaming_header() if plan.extension == "wav" else b""
        async for audio in self._audio(plan, config, language, text):
            if header:
                yield header
                header = b""
            yield audio
        if header:  # no audio at all (nothing to say): still a valid, empty WAV
            yield header

    async def _audio(
        self, plan: AudioPlan, config: SessionConfig, language: str, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        """Yield the audio of the plain (Markdown-free) text in the planned shape.

        When no session could start, the profile's fallback engine speaks instead:
        the buffer gives it all the text, what the failed attempts read and the rest.
        """
        # Kept as it comes (the client cuts its own segments); only a fallback replays it.
        async with TextBuffer(text, Segmenter(boundaries=False)) as buffer:
            started = False
            try:
                async for audio in self._service_audio(plan, config, buffer.replay()):
                    started = True
                    yield audio
            except QwenTtsError as err:
                error = self._translated(err, config)
                if started or self._fallback_engine is None:
                    raise error from err
                failure = err
            else:
                return
            LOGGER.warning(
                "%s could not start a DashScope session (%s, %s); %s speaks instead",
                self.entity_id,
                type(failure).__name__,
                getattr(failure, "code", "-"),
                self._fallback_engine,
            )
            try:
                async for audio in async_fallback_audio(
                    self.hass,
                    speaker=self.entity_id,
                    engine=self._fallback_engine,
                    language=language,
                    plan=plan,
                    text=buffer.replay(),
                ):
                    yield audio
            except FallbackFailedError:
                raise error from failure

    async def _service_audio(
        self, plan: AudioPlan, config: SessionConfig, text: AsyncIterable[str]
    ) -> AsyncGenerator[bytes]:
        """Run one synthesis (with its retries) on the text, with the profile's pronunciation.

        Yields the audio in the planned shape. The text comes Markdown-free, so
        ``**HA**`` is replaced like ``HA``; the dictionary is written for Qwen's
        voices, so a fallback engine gets the text as it was.
        """
        shaper = plan.shaper()
        spoken = pronunciation_stream(text, self._pronunciation)
        sessions: list[SessionStats] = []
        synthesis = self._entry.runtime_data.client.synthesize(
            self._model_id,
            config,
            spoken,
            warm=self._warm_key,
            on_session_end=sessions.append,
        )
        try:
            async with aclosing(synthesis) as audio_stream:
                async for audio in audio_stream:
                    if shaped := shaper.convert(audio) if shaper else audio:
                        yield shaped
            if shaper and (tail := shaper.flush()):
                yield tail
        finally:
            # Also when the listener stopped early: what was spoken is billed.
            async_send_report(self.hass, self._entry.entry_id, self._subentry_id, sessions)

    def _translated(self, err: QwenTtsError, config: SessionConfig) -> HomeAssistantError:
        """Return the translated error of a failed synthesis, acting on what it tells."""
        if isinstance(err, QwenTtsVoiceNotFoundError) and self._speaks_custom_voices:
            # Deleted in the console or by another home: the profile's issue opens now.
            async_forget_voice(self.hass, self._entry, config.voice)
        return to_ha_error(self.hass, self._entry, err, self._model_id)

    @property
    def _speaks_custom_voices(self) -> bool:
        """Tell whether the profile's model speaks only cloned or designed voices."""
        return self._model is not None and self._model.speaks_custom_voices
