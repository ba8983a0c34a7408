"""Which audio to ask the service for, and how to shape it into what the caller wants.

Home Assistant passes the caller's wishes as ``preferred_*`` options. Because the
entity declares them, Home Assistant 2026.11 converts only the container and
trusts the entity for rate, channels and sample size: the WAV this module
describes always has exactly the requested shape.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import audioop
from homeassistant.components.tts import (
    ATTR_PREFERRED_FORMAT,
    ATTR_PREFERRED_SAMPLE_BYTES,
    ATTR_PREFERRED_SAMPLE_CHANNELS,
    ATTR_PREFERRED_SAMPLE_RATE,
)
from homeassistant.exceptions import ServiceValidationError

from .api import ModelInfo, OggOpusJoiner, pcm_to_wav, wav_header
from .const import DOMAIN, OUTPUT_AUTO, OUTPUT_MP3

# What Home Assistant produces when the caller names no format.
DEFAULT_FORMAT = "mp3"
# Formats the service can stream that Home Assistant players take as they are.
COMPRESSED_FORMATS = ("mp3", "opus")
SERVICE_PCM_RATE = 24000
# The service sends signed 16-bit mono PCM.
_SERVICE_WIDTH = 2
_SAMPLE_WIDTHS = range(1, 5)


class AudioShaper(Protocol):
    """Reshapes the service's audio chunk by chunk on its way to the caller."""

    def convert(self, chunk: bytes) -> bytes:
        """Return the reshaped audio of ``chunk`` (may hold some back)."""
        ...

    def flush(self) -> bytes:
        """Return what was held back, once the audio has ended."""
        ...


@dataclass(frozen=True, slots=True)
class AudioPlan:
    """The service's output and what the entity turns it into.

    For ``extension == "wav"`` the service sends PCM at ``service_rate`` and the
    entity yields PCM at ``rate`` with ``channels`` and ``sample_width``.
    """

    extension: str
    response_format: str
    service_rate: int
    rate: int = SERVICE_PCM_RATE
    channels: int = 1
    sample_width: int = _SERVICE_WIDTH

    def streaming_header(self) -> bytes:
        """Return the WAV header of a stream of unknown length."""
        return wav_header(self.rate, channels=self.channels, sample_width=self.sample_width)

    def wav_file(self, pcm: bytes) -> bytes:
        """Return complete PCM as a WAV file with exact sizes."""
        return pcm_to_wav(pcm, self.rate, channels=self.channels, sample_width=self.sample_width)

    def silent_wav(self, seconds: float) -> bytes:
        """Return a WAV file of ``seconds`` of silence in this shape."""
        silent_sample = b"\x80" if self.sample_width == 1 else bytes(self.sample_width)
        return self.wav_file(silent_sample * (round(self.rate * seconds) * self.channels))

    def shaper(self) -> AudioShaper | None:
        """Return what the service's audio needs, or ``None`` if it fits as it is.

        PCM may need reshaping; Opus comes as one Ogg stream per response and is
        joined into one (players stop at the first otherwise).
        """
        if self.response_format == "opus":
            return OggOpusJoiner()
        if self.extension != "wav" or (
            self.rate == self.service_rate
            and self.channels == 1
            and self.sample_width == _SERVICE_WIDTH
        ):
            return None
        return PcmConverter(self.service_rate, self.rate, self.channels, self.sample_width)


class PcmConverter:
    """Resample and reshape 16-bit mono PCM chunk by chunk, carrying state across chunks."""

    def __init__(self, from_rate: int, to_rate: int, channels: int, sample_width: int) -> None:
        """Prepare a conversion; nothing is converted yet."""
        self._from_rate = from_rate
        self._to_rate = to_rate
        self._channels = channels
        self._width = sample_width
        self._carry = b""
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def flush(self) -> bytes:
        """Return nothing: only half a sample can be left over, and it is no sound."""
        return b""

    def convert(self, chunk: bytes) -> bytes:
        """Return the converted audio of ``chunk`` (a split sample waits for the next one)."""
        data = self._carry + chunk
        whole = len(data) - len(data) % _SERVICE_WIDTH
        data, self._carry = data[:whole], data[whole:]
        if self._from_rate != self._to_rate:
            data, self._state = audioop.ratecv(
                data, _SERVICE_WIDTH, 1, self._from_rate, self._to_rate, self._state
            )
        if self._width != _SERVICE_WIDTH:
            data = audioop.lin2lin(data, _SERVICE_WIDTH, self._width)
            if self._width == 1:
                data = audioop.bias(data, 1, 128)  # 8-bit WAV samples are unsigned
        if self._channels > 1:
            width = self._width
            data = b"".join(
                data[start : start + width] * self._channels for start in range(0, len(data), width)
            )
        return data


def _int_option(options: Mapping[str, Any], name: str, allowed: range) -> int | None:
    """Return an integer option, or raise a translated error for a value outside ``allowed``."""
    value = options.get(name)
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number not in allowed:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_option",
            translation_placeholders={"option": name, "value": str(value)},
        )
    return number


def _service_rate(rates: tuple[int, ...], wanted: int) -> int:
    """Return the rate to ask for: ``wanted`` if possible, else the nearest higher one."""
    if wanted in rates:
        return wanted
    return min((rate for rate in rates if rate > wanted), default=max(rates))


def plan_audio(model: ModelInfo | None, preference: str, options: Mapping[str, Any]) -> AudioPlan:
    """Decide the service output for a request (raises ``ServiceValidationError``).

    ``preference`` is the profile's audio output: ``auto`` asks the service for the
    caller's compressed format, ``mp3`` always for MP3, ``wav`` always for PCM.
    Compressed audio is used only when the service can make it in the requested
    shape; otherwise PCM is reshaped here and Home Assistant changes the container.
    An unknown model gets PCM at 24 kHz, which every model makes.
    """
    wanted = str(options.get(ATTR_PREFERRED_FORMAT) or DEFAULT_FORMAT)
    rate = _int_option(options, ATTR_PREFERRED_SAMPLE_RATE, range(1000, 384001))
    channels = _int_option(options, ATTR_PREFERRED_SAMPLE_CHANNELS, range(1, 9))
    width = _int_option(options, ATTR_PREFERRED_SAMPLE_BYTES, _SAMPLE_WIDTHS)
    formats = model.formats if model else ("pcm",)
    rates = model.sample_rates if model else (SERVICE_PCM_RATE,)
    default_rate = SERVICE_PCM_RATE if SERVICE_PCM_RATE in rates else max(rates)
    compressed = OUTPUT_MP3 if preference == OUTPUT_MP3 else wanted
    if (
        preference in (OUTPUT_AUTO, OUTPUT_MP3)
        and compressed in COMPRESSED_FORMATS
        and compressed in formats
        and (rate is None or rate in rates)
        and channels in (None, 1)
        and width in (None, _SERVICE_WIDTH)
    ):
        return AudioPlan(
            extension=compressed, response_format=compressed, service_rate=rate or default_rate
        )
    out_rate = rate or default_rate
    return AudioPlan(
        extension="wav",
        response_format="pcm",
        service_rate=_service_rate(rates, out_rate),
        rate=out_rate,
        channels=channels or 1,
        sample_width=width or _SERVICE_WIDTH,
    )
