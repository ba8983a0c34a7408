"""Speaking a message with another Home Assistant TTS engine when DashScope cannot.

The other engine's audio takes the place of the service's, in the same shape:
Home Assistant converts it (ffmpeg) to the planned format, so the entity hands
it on exactly as it would hand on the service's audio.
"""

from collections.abc import AsyncGenerator
from contextvars import ContextVar
from typing import Any

from homeassistant.components import tts
from homeassistant.components.tts.helper import get_engine_instance
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import language as language_util

from .audio_output import AudioPlan
from .const import LOGGER

# The Qwen entities whose messages are being spoken by a fallback engine in this chain
# of calls. Home Assistant runs the fallback in a task that copies the context, so a
# profile that falls back to another profile which falls back to the first one sees
# itself here instead of going round for ever.
_SPEAKING_FOR: ContextVar[frozenset[str]] = ContextVar("qwen_tts_speaking_for", default=frozenset())

# Raw PCM as ffmpeg names it per sample width (Home Assistant's own table in 2026.11):
# the service's PCM is replaced sample for sample, under the entity's own WAV header.
_RAW_PCM_FORMATS = {1: "u8", 2: "s16le", 3: "s24le", 4: "s32le"}


class FallbackFailedError(Exception):
    """The fallback engine could not speak the message either (the reason is logged)."""


def fallback_options(plan: AudioPlan) -> dict[str, Any]:
    """Return the ``preferred_*`` options that make the fallback's audio fit ``plan``."""
    if plan.extension != "wav":
        return {
            tts.ATTR_PREFERRED_FORMAT: plan.extension,
            tts.ATTR_PREFERRED_SAMPLE_RATE: plan.service_rate,
            tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
        }
    return {
        tts.ATTR_PREFERRED_FORMAT: _RAW_PCM_FORMATS[plan.sample_width],
        tts.ATTR_PREFERRED_SAMPLE_RATE: plan.rate,
        tts.ATTR_PREFERRED_SAMPLE_CHANNELS: plan.channels,
        tts.ATTR_PREFERRED_SAMPLE_BYTES: plan.sample_width,
    }


def _language(hass: HomeAssistant, engine: str, language: str) -> str | None:
    """Return the engine's best match for ``language``, or ``None`` for its default."""
    if (instance := get_engine_instance(hass, engine)) is None:
        raise HomeAssistantError(f"TTS engine {engine} not found")
    matches = language_util.matches(
        language, instance.supported_languages or [], country=hass.config.country
    )
    return matches[0] if matches else None


async def async_fallback_audio(  # noqa: PLR0913 - who speaks for whom, what and how
    hass: HomeAssistant,
    *,
    speaker: str,
    engine: str,
    language: str,
    plan: AudioPlan,
    text: AsyncGenerator[str],
) -> AsyncGenerator[bytes]:
    """Yield the audio of ``text`` spoken by ``engine`` for ``speaker``, shaped as ``plan``.

    Raises ``FallbackFailedError`` when ``engine`` is already speaking for this
    chain of profiles, or fails.
    """
    chain = _SPEAKING_FOR.get() | {speaker}
    if engine in chain:
        LOGGER.warning(
            "%s does not fall back to %s: the fallbacks form a loop (%s)",
            speaker,
            engine,
            ", ".join(sorted(chain)),
        )
        raise FallbackFailedError
    try:
        token = _SPEAKING_FOR.set(chain)
        try:
            # The engine runs in a task created here, which copies the chain.
            stream = _start_stream(hass, engine, language, plan, text)
        finally:
            _SPEAKING_FOR.reset(token)
        size = 0
        try:
            async for chunk in stream.async_stream_result():
                size += len(chunk)
                yield chunk
        finally:
            stream.delete()
        LOGGER.debug(
            "%s: %s spoke the message (%d bytes of %s)", speaker, engine, size, plan.extension
        )
    # Another integration's engine may fail in any way; the caller is told why Qwen failed.
    except Exception as err:
        LOGGER.warning(
            "%s: the fallback engine %s failed too (%s)", speaker, engine, type(err).__name__
        )
        raise FallbackFailedError from err


def _start_stream(
    hass: HomeAssistant, engine: str, language: str, plan: AudioPlan, text: AsyncGenerator[str]
) -> tts.ResultStream:
    """Start ``engine`` on ``text`` through Home Assistant, which converts its audio."""
    stream = tts.async_create_stream(
        hass, engine, _language(hass, engine, language), fallback_options(plan)
    )
    stream.async_set_message_stream(text)
    return stream
