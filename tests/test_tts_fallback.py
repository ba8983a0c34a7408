"""DashScope cannot start a session: the profile's fallback engine speaks the whole message."""

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import psutil
import pytest
from homeassistant.components import tts
from homeassistant.components.tts.const import DATA_COMPONENT
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import RetryPolicy
from custom_components.qwen_tts_realtime.const import (
    CONF_FALLBACK_ENGINE,
    CONF_VOICE,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)

from .conftest import API_KEY, PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator
from .local_tts import LOCAL, LocalEngine, async_set_up_local_engine, local_seconds
from .tts_helpers import decode_audio, read_wav, speak_to_player

CHERRY = "tts.cherry"
SERENA = "tts.serena"
MESSAGE = "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。"
# Encoder delay and padding of MP3 and Opus around the speech.
CODEC_SLACK = 0.08

type Fault = Callable[[DashScopeEmulator], Awaitable[None]]


async def _outage(emulator: DashScopeEmulator) -> None:
    """Nothing answers: the network or the service is down."""
    await emulator.close()


async def _server_errors(emulator: DashScopeEmulator) -> None:
    """Every handshake fails with HTTP 500, retries included."""
    for _ in range(RetryPolicy().attempts):
        emulator.fail_next_handshake(500)


async def _rejected_key(emulator: DashScopeEmulator) -> None:
    """The key was revoked in the console."""
    emulator.options.api_keys = frozenset()


FAULTS: dict[str, Fault] = {
    "outage": _outage,
    "http_500": _server_errors,
    "rejected_key": _rejected_key,
}


@pytest.fixture
async def local_engine(hass: HomeAssistant) -> LocalEngine:
    """Set up the local engine, another integration's TTS entity."""
    return await async_set_up_local_engine(hass)


def _expected_seconds(text: str = MESSAGE) -> float:
    """Return how long the local engine speaks ``text``."""
    return local_seconds(text)


def _profile(subentry_id: str, title: str, voice: str, fallback: str | None) -> Any:
    """Return a voice profile subentry, with a fallback engine if given (no warm session)."""
    data = dict(DEFAULT_PROFILE) | {CONF_VOICE: voice, CONF_WARM_SESSION: False}
    if fallback:
        data[CONF_FALLBACK_ENGINE] = fallback
    return ConfigSubentryDataWithId(
        data=data, subentry_id=subentry_id, subentry_type=SUBENTRY_TTS, title=title, unique_id=None
    )


async def _set_up(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, *profiles: Any
) -> MockConfigEntry:
    """Set the account up with these profiles, retrying without pauses."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        data=dict(mock_config_entry.data),
        unique_id=mock_config_entry.unique_id,
        subentries_data=list(profiles),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entry.runtime_data.client.retry = RetryPolicy(base_delay=0)
    return entry


@pytest.fixture
async def with_fallback(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, local_engine: LocalEngine
) -> MockConfigEntry:
    """Return the account whose Cherry profile falls back to the local engine."""
    return await _set_up(
        hass, mock_config_entry, _profile(PROFILE_SUBENTRY_ID, "Cherry", "Cherry", LOCAL)
    )


async def _assert_no_socket_or_task_left(hass: HomeAssistant, emulator: DashScopeEmulator) -> None:
    """No session socket and no task of the request outlives it."""
    await emulator.wait_sessions_closed()
    await hass.async_block_till_done(wait_background_tasks=True)
    tasks = [task.get_name() for task in asyncio.all_tasks() if not task.done()]
    assert [name for name in tasks if name.startswith(("qwen_tts", "tts_"))] == []


async def _assert_nothing_left(hass: HomeAssistant, emulator: DashScopeEmulator) -> None:
    """No socket, no task and no ffmpeg process outlives a request that was spoken.

    (When an engine fails, Home Assistant's converter leaves its ffmpeg to exit on
    its own once the input is closed, so only spoken requests can check it at once.)
    """
    await _assert_no_socket_or_task_left(hass, emulator)
    # Zombies have ended (an earlier test's loop closed before reaping them).
    running = [
        child
        for child in psutil.Process().children(recursive=True)
        if child.status() != psutil.STATUS_ZOMBIE
    ]
    assert [child.name() for child in running if "ffmpeg" in child.name()] == []


@pytest.mark.parametrize("fault", FAULTS)
async def test_the_fallback_speaks_when_dashscope_cannot(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    with_fallback: MockConfigEntry,
    local_engine: LocalEngine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """Outage, server errors, a revoked key: the player gets the whole message as WAV."""
    await FAULTS[fault](emulator)

    body = await speak_to_player(
        hass, hass_client, MESSAGE, {tts.ATTR_PREFERRED_FORMAT: "wav"}, language="zh-CN"
    )

    audio = read_wav(body)
    assert (audio.sample_rate, audio.channels, audio.sample_width) == (24000, 1, 2)
    assert audio.seconds == pytest.approx(_expected_seconds(), abs=0.002)
    assert "".join(local_engine.chunks) == MESSAGE
    assert local_engine.requests[0].language == "zh-CN"
    assert emulator.sessions == []
    assert f"{CHERRY}: {LOCAL} spoke the message (" in caplog.text
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.getMessage().startswith(f"{CHERRY} could not start a DashScope session (")
    assert warning.getMessage().endswith(f"; {LOCAL} speaks instead")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert [line for line in ours if MESSAGE[:4] in line or API_KEY in line] == []
    await _assert_nothing_left(hass, emulator)


@pytest.mark.parametrize(
    ("options", "codec", "rate"),
    [
        ({}, "mp3", 24000),
        (
            {
                tts.ATTR_PREFERRED_FORMAT: "wav",
                tts.ATTR_PREFERRED_SAMPLE_RATE: 16000,
                tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
                tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
            },
            "pcm_s16le",
            16000,
        ),
        ({tts.ATTR_PREFERRED_FORMAT: "flac"}, "flac", 24000),
        # The service would send Opus itself; Opus always decodes at 48 kHz.
        ({tts.ATTR_PREFERRED_FORMAT: "opus"}, "opus", 48000),
    ],
    ids=["mp3", "satellite_wav", "flac", "opus"],
)
@pytest.mark.usefixtures("with_fallback")
async def test_the_fallback_comes_in_the_format_the_caller_asked_for(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    options: dict[str, Any],
    codec: str,
    rate: int,
) -> None:
    """Media players get MP3, satellites their WAV, others what they ask for."""
    await _outage(emulator)

    audio = await decode_audio(
        await speak_to_player(hass, hass_client, MESSAGE, options, language="zh-CN")
    )

    assert (audio.codec, audio.sample_rate, audio.channels) == (codec, rate, 1)
    slack = CODEC_SLACK if codec in {"mp3", "opus"} else 0.002
    assert _expected_seconds() - 0.002 <= audio.seconds <= _expected_seconds() + slack
    await _assert_nothing_left(hass, emulator)


@pytest.mark.usefixtures("with_fallback")
async def test_the_fallback_answers_tts_get_url_and_one_shot_callers(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
) -> None:
    """The "try voice" dialog (tts_get_url) and direct one-shot callers get the message too."""
    await _outage(emulator)
    client = await hass_client()

    response = await client.post(
        "/api/tts_get_url",
        json={"engine_id": CHERRY, "message": MESSAGE, "options": {"preferred_format": "wav"}},
    )
    assert response.status == HTTPStatus.OK
    audio = await client.get((await response.json())["path"])
    assert audio.status == HTTPStatus.OK
    assert read_wav(await audio.read()).seconds == pytest.approx(_expected_seconds(), abs=0.002)

    entity = hass.data[DATA_COMPONENT].get_entity(CHERRY)
    assert entity is not None
    extension, data = await entity.async_get_tts_audio(
        MESSAGE, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    assert extension == "wav"
    assert data is not None
    one_shot = read_wav(data)
    # A one-shot WAV is a file with its exact sizes.
    assert one_shot.data_size_field == len(one_shot.frames)
    assert one_shot.seconds == pytest.approx(_expected_seconds(), abs=0.002)
    await _assert_nothing_left(hass, emulator)


async def test_a_streaming_answer_reaches_the_fallback_whole(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    with_fallback: MockConfigEntry,
    local_engine: LocalEngine,
) -> None:
    """An Assist-style answer: the text read before the failure and the rest are spoken."""
    await _server_errors(emulator)
    parts = ["今天天气", "很好。Let's go ", "for a walk in the park! ", "然后一起", "吃晚饭。"]

    async def llm_answer() -> AsyncGenerator[str]:
        """Stream the answer; the rest comes only once the fallback has the beginning."""
        for part in parts[:2]:
            yield part
        await local_engine.wait_for_text(parts[0])
        for part in parts[2:]:
            yield part

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message_stream(llm_answer())
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    assert read_wav(audio).seconds == pytest.approx(_expected_seconds(), abs=0.002)
    assert local_engine.chunks[0] == parts[0]
    assert "".join(local_engine.chunks) == MESSAGE
    # Every attempt was refused before the fallback took over.
    attempts = [stats.error for stats in with_fallback.runtime_data.client.recent_sessions]
    assert attempts == ["QwenTtsConnectionError"] * RetryPolicy().attempts
    await _assert_nothing_left(hass, emulator)


async def test_without_a_fallback_the_error_names_the_fault(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """No fallback engine: the translated error, as before."""
    init_integration.runtime_data.client.retry = RetryPolicy(base_delay=0)
    await _outage(emulator)

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(MESSAGE)
    with pytest.raises(HomeAssistantError) as err:
        _ = [chunk async for chunk in stream.async_stream_result()]

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "cannot_connect"
    await _assert_nothing_left(hass, emulator)


@pytest.mark.usefixtures("with_fallback")
async def test_a_failing_fallback_gives_the_original_error(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    local_engine: LocalEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fallback fails too: the user is told why DashScope failed."""
    await _rejected_key(emulator)
    local_engine.broken = True

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "mp3"})
    stream.async_set_message(MESSAGE)
    with pytest.raises(HomeAssistantError) as err:
        _ = [chunk async for chunk in stream.async_stream_result()]

    assert err.value.translation_key == "invalid_auth"
    assert "".join(local_engine.chunks) == MESSAGE
    assert f"{CHERRY}: the fallback engine {LOCAL} failed too (HomeAssistantError)" in caplog.text
    await _assert_no_socket_or_task_left(hass, emulator)


async def test_profiles_that_fall_back_to_each_other_do_not_loop(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cherry falls back to Serena and Serena to Cherry: one try each, then the error."""
    await _set_up(
        hass,
        mock_config_entry,
        _profile(PROFILE_SUBENTRY_ID, "Cherry", "Cherry", SERENA),
        _profile("profile_serena", "Serena", "Serena", CHERRY),
    )
    await _outage(emulator)

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(MESSAGE)
    with pytest.raises(HomeAssistantError) as err:
        _ = [chunk async for chunk in stream.async_stream_result()]

    assert err.value.translation_key == "cannot_connect"
    assert (
        f"{SERENA} does not fall back to {CHERRY}: the fallbacks form a loop "
        f"({CHERRY}, {SERENA})" in caplog.text
    )
    assert f"{CHERRY}: the fallback engine {SERENA} failed too" in caplog.text
    await _assert_no_socket_or_task_left(hass, emulator)


async def test_a_fallback_engine_that_is_gone_gives_the_original_error(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine was removed after it was chosen: DashScope's error, and the log says why."""
    await _set_up(
        hass, mock_config_entry, _profile(PROFILE_SUBENTRY_ID, "Cherry", "Cherry", "tts.piper")
    )
    await _rejected_key(emulator)

    stream = tts.async_create_stream(hass, CHERRY, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(MESSAGE)
    with pytest.raises(HomeAssistantError) as err:
        _ = [chunk async for chunk in stream.async_stream_result()]

    assert err.value.translation_key == "invalid_auth"
    assert f"{CHERRY}: the fallback engine tts.piper failed too (HomeAssistantError)" in caplog.text
    await _assert_nothing_left(hass, emulator)


@pytest.mark.usefixtures("with_fallback")
async def test_the_fallback_speaks_its_own_language_when_it_has_not_ours(
    hass: HomeAssistant, emulator: DashScopeEmulator, local_engine: LocalEngine
) -> None:
    """A Japanese announcement and a fallback without Japanese: it uses its default language."""
    await _outage(emulator)
    message = "お帰りなさい。"

    stream = tts.async_create_stream(hass, CHERRY, "ja-JP", {tts.ATTR_PREFERRED_FORMAT: "wav"})
    stream.async_set_message(message)
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    assert read_wav(audio).seconds == pytest.approx(_expected_seconds(message), abs=0.002)
    assert [request.language for request in local_engine.requests] == ["en-US"]
    await _assert_nothing_left(hass, emulator)
