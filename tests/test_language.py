"""An Automatic profile speaks the language of the text's script, on any Home Assistant."""

from collections.abc import AsyncGenerator
from typing import Any

import pytest
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.qwen_tts_realtime.api import detect_language_type
from custom_components.qwen_tts_realtime.const import (
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_PROFILE,
)

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator
from .tts_helpers import read_wav

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

CHERRY = "tts.cherry"
CHINESE = "你好，洗衣机已经洗完了。"
ENGLISH = "Hello, the washing machine has finished."
JAPANESE = "こんにちは、洗濯が終わりました。"
KOREAN = "안녕하세요, 세탁이 끝났습니다."
RUSSIAN = "Привет, стирка закончена."
# Mixed: each Han character and each Latin word counts once.
MIXED_CHINESE = "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。"
MIXED_ENGLISH = "Please tell grandma 你好 when she arrives."


async def _chunks(*parts: str) -> AsyncGenerator[str]:
    """Yield text chunks like a streaming LLM."""
    for part in parts:
        yield part


async def _language_type(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    message: str | AsyncGenerator[str],
    language: str | None = None,
    **options: Any,
) -> str:
    """Speak through Home Assistant's TTS stream; return the language_type the service got."""
    stream = tts.async_create_stream(
        hass, CHERRY, language, options={tts.ATTR_PREFERRED_FORMAT: "wav", **options}
    )
    if isinstance(message, str):
        stream.async_set_message(message)
    else:
        stream.async_set_message_stream(message)
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])
    assert read_wav(audio).seconds > 0
    return str(emulator.sessions[-1].received[0]["session"]["language_type"])


@pytest.fixture
async def installed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, request: pytest.FixtureRequest
) -> MockConfigEntry:
    """Set the account up on a Home Assistant whose language is the test's parameter."""
    hass.config.language = request.param
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.mark.parametrize(
    ("installed", "latin"),
    [("en", "English"), ("zh-Hans", "English"), ("de", "German")],
    indirect=["installed"],
)
async def test_the_text_decides_on_every_install(
    hass: HomeAssistant, emulator: DashScopeEmulator, installed: MockConfigEntry, latin: str
) -> None:
    """Chinese is spoken as Chinese on an English install; Latin text keeps a Latin language.

    The request's language is Home Assistant's own (no ``language`` given, as in
    the README's first example and the media browser).
    """
    spoken = {
        text: await _language_type(hass, emulator, text)
        for text in (CHINESE, ENGLISH, JAPANESE, KOREAN, RUSSIAN, MIXED_CHINESE, MIXED_ENGLISH)
    }

    assert spoken == {
        CHINESE: "Chinese",
        ENGLISH: latin,
        JAPANESE: "Japanese",
        KOREAN: "Korean",
        RUSSIAN: "Russian",
        MIXED_CHINESE: "Chinese",
        MIXED_ENGLISH: latin,
    }


@pytest.mark.parametrize("installed", ["en"], indirect=True)
async def test_an_explicit_language_wins(
    hass: HomeAssistant, emulator: DashScopeEmulator, installed: MockConfigEntry
) -> None:
    """The caller's ``language_type`` (even Auto) is sent as asked; ``language`` only fits a script.

    A Japanese request reads Han-only text as Japanese (the script fits), but
    cannot make Korean text Japanese.
    """
    assert await _language_type(hass, emulator, CHINESE, language_type="English") == "English"
    assert await _language_type(hass, emulator, CHINESE, language_type="Auto") == "Auto"
    assert await _language_type(hass, emulator, "東京都庁", "ja-JP") == "Japanese"
    assert await _language_type(hass, emulator, KOREAN, "ja-JP") == "Korean"
    assert await _language_type(hass, emulator, ENGLISH, "fr-FR") == "French"
    assert await _language_type(hass, emulator, CHINESE, "fr-FR") == "Chinese"


@pytest.mark.parametrize("installed", ["zh-Hans"], indirect=True)
async def test_a_fixed_profile_language_wins(
    hass: HomeAssistant, emulator: DashScopeEmulator, installed: MockConfigEntry
) -> None:
    """A profile set to Japanese speaks Japanese whatever the text's script."""
    hass.config_entries.async_update_subentry(
        installed,
        installed.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_LANGUAGE_TYPE: "Japanese"},
    )
    await hass.async_block_till_done()

    assert await _language_type(hass, emulator, CHINESE) == "Japanese"


@pytest.mark.parametrize("installed", ["de"], indirect=True)
async def test_streamed_text_is_judged_by_its_first_words(
    hass: HomeAssistant, emulator: DashScopeEmulator, installed: MockConfigEntry
) -> None:
    """Assist's first chunk decides before any text is sent; a chunk without letters waits.

    The session.update goes out before the first append, so what follows the
    first letters cannot change it.
    """
    first_chunk = "今天天气很好，适合出去散步。我们下午三点在公园门口见面，然后一起去喝咖啡吧。"
    language = await _language_type(
        hass, emulator, _chunks(first_chunk, " See you there, bring your friends and your dog!")
    )
    assert language == "Chinese"
    language = await _language_type(hass, emulator, _chunks("**1.** ", "😀 ", "Hello ", "你好"))
    assert language == "German"
    received = [event["type"] for event in emulator.sessions[-1].received]
    assert received[0] == "session.update"
    assert "session.update" not in received[1:]  # decided once, before any text went out
    assert received[1] == "input_text_buffer.append"


@pytest.mark.parametrize("installed", ["en"], indirect=True)
async def test_a_language_the_model_does_not_speak_is_left_to_the_service(
    hass: HomeAssistant, emulator: DashScopeEmulator, installed: MockConfigEntry
) -> None:
    """The first-generation model speaks Chinese and English only: Japanese text goes as Auto."""
    hass.config_entries.async_update_subentry(
        installed,
        installed.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_MODEL: "qwen-tts-realtime", CONF_VOICE: "Serena"},
    )
    await hass.async_block_till_done()

    assert await _language_type(hass, emulator, JAPANESE) == "Auto"
    assert await _language_type(hass, emulator, CHINESE) == "Chinese"


@pytest.mark.parametrize(
    ("text", "requested", "expected"),
    [
        ("你好", "English", "Chinese"),
        ("東京", "Japanese", "Japanese"),
        ("スマートスピーカーで再生します", "Chinese", "Japanese"),
        ("请打开ソニー电视机的声音和灯光", "English", "Chinese"),  # a stray katakana word
        ("スマートスピーカー", "English", "Japanese"),
        ("東京都知事選挙の結果発表", "Chinese", "Japanese"),
        ("Guten Morgen", "German", "German"),
        ("Guten Morgen", "Japanese", "English"),
        ("Let's go 你好", "English", "English"),  # two words against two characters: first wins
        ("你好 Let's go", "English", "Chinese"),
        ("Ελληνικά", "English", None),  # no script of a language the service speaks
        ("12:30 😀", "English", None),
        ("", "Chinese", None),
    ],
)
def test_detect_language_type(text: str, requested: str, expected: str | None) -> None:
    """The rule as documented: counts per script, first on a tie, kana share for Japanese."""
    assert detect_language_type(text, requested) == expected
