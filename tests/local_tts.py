"""A local TTS engine of another integration, like Piper: what a profile falls back to."""

import asyncio
import io
import wave
from collections.abc import AsyncGenerator
from typing import Any, override

from homeassistant.components.tts import TextToSpeechEntity, TTSAudioResponse, TtsAudioType
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

LOCAL = "tts.local_voice"
_DOMAIN = "local_tts"
# The local engine speaks 50 ms per character, at Piper's usual rate.
SECONDS_PER_CHARACTER = 0.05
LOCAL_RATE = 22050


class LocalEngine(TextToSpeechEntity):
    """Text streams in, a WAV of 50 ms of silence per character comes out."""

    _attr_name = "Local voice"
    _attr_unique_id = "local_voice"
    _attr_default_language = "en-US"

    def __init__(self) -> None:
        """Start with nothing heard."""
        self._attr_supported_languages = ["en-US", "zh-CN"]
        self.chunks: list[str] = []
        self.requests: list[TTSAudioRequest] = []
        self.broken = False
        self._heard = asyncio.Event()

    async def wait_for_text(self, text: str) -> None:
        """Wait until the text received so far begins with ``text``."""
        while not "".join(self.chunks).startswith(text):
            await self._heard.wait()
            self._heard.clear()

    @override
    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """Read the text as it comes, then return its audio."""
        self.requests.append(request)

        async def audio() -> AsyncGenerator[bytes]:
            """Yield one WAV file for all the text."""
            text = ""
            async for chunk in request.message_gen:
                self.chunks.append(chunk)
                self._heard.set()
                text += chunk
            if self.broken:
                raise HomeAssistantError("The local engine is broken too")
            yield _silence_wav(len(text) * SECONDS_PER_CHARACTER)

        return TTSAudioResponse("wav", audio())

    @override
    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        """Not used: Home Assistant streams to an engine that streams."""
        raise NotImplementedError


def _silence_wav(seconds: float) -> bytes:
    """Return a 16-bit mono WAV file of ``seconds`` of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(LOCAL_RATE)
        wav.writeframes(bytes(2 * round(seconds * LOCAL_RATE)))
    return buffer.getvalue()


def local_seconds(text: str) -> float:
    """Return how long the local engine speaks ``text``."""
    return round(len(text) * SECONDS_PER_CHARACTER * LOCAL_RATE) / LOCAL_RATE


class _LocalEngineConfigFlow(ConfigFlow):
    """The (never shown) config flow of the integration that provides the local engine."""


async def async_set_up_local_engine(hass: HomeAssistant) -> LocalEngine:
    """Set up the local engine as a config entry of its own integration."""
    engine = LocalEngine()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.TTS])
        return True

    async def setup_tts(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([engine])

    mock_integration(hass, MockModule(_DOMAIN, async_setup_entry=setup_entry))
    mock_platform(hass, f"{_DOMAIN}.config_flow")
    mock_platform(hass, f"{_DOMAIN}.tts", MockPlatform(async_setup_entry=setup_tts))
    with mock_config_flow(_DOMAIN, _LocalEngineConfigFlow):
        entry = MockConfigEntry(domain=_DOMAIN)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return engine
