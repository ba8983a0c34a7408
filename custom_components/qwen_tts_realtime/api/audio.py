"""WAV framing for the raw PCM the service streams (16-bit little-endian mono)."""

import io
import struct
import wave

SAMPLE_WIDTH = 2
CHANNELS = 1
# Size fields of a WAV stream whose length is not known yet; Home Assistant writes the
# same placeholder, and ESPHome devices play it (a size of 0 means "no audio" to them).
STREAMING_SIZE = 0xFFFFFFFF


def wav_header(
    sample_rate: int,
    data_size: int | None = None,
    *,
    channels: int = CHANNELS,
    sample_width: int = SAMPLE_WIDTH,
) -> bytes:
    """Return a 44-byte PCM WAV header; ``data_size=None`` makes it a streaming header."""
    block_align = channels * sample_width
    riff_size = STREAMING_SIZE if data_size is None else 36 + data_size
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff_size,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        sample_width * 8,
        b"data",
        STREAMING_SIZE if data_size is None else data_size,
    )


def pcm_to_wav(
    pcm: bytes, sample_rate: int, *, channels: int = CHANNELS, sample_width: int = SAMPLE_WIDTH
) -> bytes:
    """Wrap complete PCM audio in a WAV file with exact sizes."""
    return wav_header(sample_rate, len(pcm), channels=channels, sample_width=sample_width) + pcm


def as_wav_file(audio: bytes, sample_rate: int) -> tuple[bytes, int, float]:
    """Return ``audio`` as a WAV file with exact sizes, its sample rate and duration.

    A WAV whose header claims a streaming (unknown) size gets its sizes fixed, so
    players and taggers read its duration right; anything else is taken as raw
    16-bit mono PCM at ``sample_rate`` and wrapped. Raises ``wave.Error`` or
    ``EOFError`` for a WAV that is not 16-bit PCM.
    """
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        pcm = audio[: len(audio) - len(audio) % SAMPLE_WIDTH]
        return pcm_to_wav(pcm, sample_rate), sample_rate, len(pcm) / SAMPLE_WIDTH / sample_rate
    with wave.open(io.BytesIO(audio)) as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        # A streaming size reads as a huge frame count: the frames present are returned.
        pcm = reader.readframes(reader.getnframes())
    if width != SAMPLE_WIDTH:
        raise wave.Error(f"{width * 8}-bit samples")
    seconds = len(pcm) / (channels * width * rate)
    return pcm_to_wav(pcm, rate, channels=channels, sample_width=width), rate, seconds
