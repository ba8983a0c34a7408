"""Helpers for TTS tests: fetch what a media player would fetch, and measure decoded audio."""

import asyncio
import io
import json
import wave
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from homeassistant.components import media_source, tts
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
from mutagen.ogg import OggPage
from pytest_homeassistant_custom_component.common import async_mock_service
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.const import (
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_PROFILE,
    SUBENTRY_TTS,
)

from .dashscope_emulator import SessionRecord

# Joined Ogg Opus keeps, at each seam between responses, the end padding of one and
# the start-up of the next (together one 20 ms packet with ffmpeg's libopus).
OPUS_SEAM_SLACK = 0.021
# Extra encoder frames per response when the service sends MP3 (encoder delay and padding).
MP3_SLACK_PER_RESPONSE = 0.08


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """What a player hears: codec, rate, channels and the decoded duration."""

    codec: str
    sample_rate: int
    channels: int
    seconds: float


async def _run(args: list[str], data: bytes) -> bytes:
    """Run ffmpeg/ffprobe on ``data`` and return its output."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(data)
    assert process.returncode == 0, stderr.decode()
    return stdout


async def decode_audio(data: bytes) -> DecodedAudio:
    """Decode any audio file with ffmpeg and measure it (every frame, not the header's claim)."""
    probe = json.loads(
        await _run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", "-i", "pipe:0"], data)
    )
    stream = probe["streams"][0]
    rate, channels = int(stream["sample_rate"]), int(stream["channels"])
    decode = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1"]
    pcm = await _run([*decode, "-ar", str(rate), "pipe:1"], data)
    return DecodedAudio(stream["codec_name"], rate, channels, len(pcm) / 2 / rate)


@dataclass(frozen=True, slots=True)
class WavAudio:
    """A WAV stream as Python's ``wave`` reads it, with the frames actually present."""

    sample_rate: int
    channels: int
    sample_width: int
    data_size_field: int
    frames: bytes

    @property
    def seconds(self) -> float:
        """Return the duration of the frames present."""
        return len(self.frames) / (self.sample_rate * self.channels * self.sample_width)


def read_wav(data: bytes) -> WavAudio:
    """Read a WAV file or stream; streaming headers claim no real size, so count the bytes."""
    with wave.open(io.BytesIO(data)) as wav:
        params = wav.getparams()
    data_at = data.index(b"data") + 8
    return WavAudio(
        sample_rate=params.framerate,
        channels=params.nchannels,
        sample_width=params.sampwidth,
        data_size_field=int.from_bytes(data[data_at - 4 : data_at], "little"),
        frames=data[data_at:],
    )


async def speak_wav(hass: HomeAssistant, entity_id: str, text: str) -> WavAudio:
    """Speak ``text`` through a TTS entity's stream as WAV and read what comes out."""
    stream = tts.async_create_stream(hass, entity_id, options={tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(text)
    return read_wav(b"".join([chunk async for chunk in stream.async_stream_result()]))


async def retrieve_media(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, media_content_id: str
) -> tuple[HTTPStatus, bytes]:
    """Resolve a media source id as a player integration does and GET its URL."""
    media = await media_source.async_resolve_media(hass, media_content_id, None)
    client = await hass_client()
    response = await client.get(media.url)
    return HTTPStatus(response.status), await response.read()


async def speak_to_player(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    message: str,
    options: dict[str, Any],
    **extra: Any,
) -> bytes:
    """Speak with ``tts.speak`` (tts.cherry) to a player; return the audio the player fetched.

    The fetch must succeed (HTTP 200): what a player plays is what these tests measure.
    """
    calls = async_mock_service(hass, "media_player", "play_media")
    await hass.services.async_call(
        "tts",
        "speak",
        {
            "entity_id": "tts.cherry",
            "media_player_entity_id": "media_player.kitchen",
            "message": message,
            "options": options,
            **extra,
        },
        blocking=True,
    )
    status, body = await retrieve_media(hass, hass_client, calls[0].data["media_content_id"])
    assert status is HTTPStatus.OK
    return body


def received_events(session: SessionRecord) -> list[dict[str, Any]]:
    """Return the client events a session received, with the volatile event ids normalised."""
    return [
        {**event, "event_id": "event_<id>"} if "event_id" in event else event
        for event in session.received
    ]


def sent_audio_bytes(session: SessionRecord) -> int:
    """Return how many audio bytes the emulator sent in a session."""
    return sum(event["delta"] for event in session.sent if event["type"] == "response.audio.delta")


@dataclass(frozen=True, slots=True)
class Pages:
    """An Ogg file's pages, as mutagen reads them."""

    pages: list[OggPage]

    @classmethod
    def parse(cls, data: bytes) -> Pages:
        """Read every page (mutagen refuses anything that is not a whole page)."""
        stream = io.BytesIO(data)
        pages = []
        while stream.tell() < len(data):
            pages.append(OggPage(stream))  # type: ignore[no-untyped-call] # mutagen is untyped
        return cls(pages)

    def packets(self) -> list[bytes]:
        """Return the packets of the stream, joined across pages."""
        return list(OggPage.to_packets(self.pages, strict=True))  # type: ignore[no-untyped-call]


def add_legacy_profile(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Give the account a first-generation (qwen-tts-realtime, 10 RPM) profile: tts.legacy."""
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(
                {**DEFAULT_PROFILE, CONF_MODEL: "qwen-tts-realtime", CONF_VOICE: "Serena"}
            ),
            subentry_type=SUBENTRY_TTS,
            title="Legacy",
            unique_id=None,
        ),
    )
