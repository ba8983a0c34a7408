"""The pronunciation dictionary: parsing, matching, streamed text, and what reaches the service."""

from collections.abc import AsyncGenerator
from http import HTTPStatus

import pytest
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.const import (
    CONF_PRONUNCIATION,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
)
from custom_components.qwen_tts_realtime.pronunciation import (
    PronunciationDictionary,
    PronunciationStream,
    PronunciationSyntaxError,
    apply_pronunciation,
    parse_pronunciation,
)

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator
from .tts_helpers import retrieve_media

DICTIONARY = """
# 多音字: 重庆 is read chóng, say it with a character that has only that reading
重庆 = 崇庆
Xiaomi → 小米
HA -> Home Assistant
HA OS = Home Assistant OS
"""
MESSAGE = "我在重庆用HA OS控制Xiaomi灯，HAL和HAHA不变；HA!"
pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

SPOKEN = "我在崇庆用Home Assistant OS控制小米灯，HAL和HAHA不变；Home Assistant!"


def _dictionary(text: str = DICTIONARY) -> PronunciationDictionary:
    """Return the parsed dictionary."""
    return PronunciationDictionary(parse_pronunciation(text))


def test_parse_accepts_every_separator_comments_and_blank_lines() -> None:
    """One ``term = say as`` per line; ``→`` and ``->`` work; the first separator splits."""
    assert parse_pronunciation(DICTIONARY + "\n  # indented comment\nx -> a = b\n") == {
        "重庆": "崇庆",
        "Xiaomi": "小米",
        "HA": "Home Assistant",
        "HA OS": "Home Assistant OS",
        "x": "a = b",
    }
    assert parse_pronunciation("") == {}
    assert parse_pronunciation("HA = first\nHA = second") == {"HA": "second"}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("重庆 = 崇庆\nXiaomi 小米", 2),
        ("# comment\n\n = 崇庆", 3),
        ("HA =", 1),
        ("a = b\nc → d\ne ->", 3),
    ],
)
def test_parse_names_the_bad_line(text: str, line: int) -> None:
    """A line without a separator, a term or a replacement is refused by its number."""
    with pytest.raises(PronunciationSyntaxError) as caught:
        parse_pronunciation(text)
    assert caught.value.line == line


def test_replacements_longest_first_whole_words_for_latin() -> None:
    """The longest term wins; Latin terms only as whole words; CJK terms anywhere."""
    assert apply_pronunciation(MESSAGE, _dictionary()) == SPOKEN
    assert apply_pronunciation("重庆市，去重庆。", _dictionary()) == "崇庆市，去崇庆。"
    # A CJK neighbour is a word boundary for a Latin term; a digit or letter is not.
    assert apply_pronunciation("小米Xiaomi手机, Xiaomi14", _dictionary()) == (
        "小米小米手机, Xiaomi14"
    )
    assert apply_pronunciation("HA的灯, HA is on", _dictionary()) == (
        "Home Assistant的灯, Home Assistant is on"
    )
    # Case counts: "ha" is not "HA".
    assert apply_pronunciation("ha HA", _dictionary()) == "ha Home Assistant"


def test_replacements_are_not_replaced_again() -> None:
    """What a term is replaced with is spoken as written, even if it contains a term."""
    dictionary = _dictionary("HA = HA Home\nHome = Haus")
    assert apply_pronunciation("HA", dictionary) == "HA Home"


@pytest.mark.parametrize("split", range(len(MESSAGE) + 1))
def test_a_term_split_across_chunks_is_replaced(split: int) -> None:
    """Wherever the LLM's chunks split the text, the result is the same as for the whole."""
    stream = PronunciationStream(_dictionary())
    out = stream.feed(MESSAGE[:split])
    out += stream.feed(MESSAGE[split:])
    assert out + stream.flush() == SPOKEN


def test_only_a_short_tail_is_held_back() -> None:
    """Fed one character at a time, text waits only while it may still become a term."""
    dictionary = _dictionary()
    stream = PronunciationStream(dictionary)
    outputs = [stream.feed(char) for char in MESSAGE]
    assert "".join(outputs) + stream.flush() == SPOKEN
    # Characters that cannot start a term go out at once.
    assert outputs[:2] == ["我", "在"]
    assert stream.feed("HA") == ""  # "HAL"? "HA OS"? The next character decides.
    assert stream.feed("L") == "HAL"
    assert stream.feed("重") == ""
    assert stream.feed("要") == "重要"
    # The held tail is never longer than the longest term.
    stream.feed("HA O")
    assert len(stream._buffer) <= dictionary.longest


async def test_dictionary_reaches_the_service_for_streamed_text(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """Streamed LLM text with Markdown and terms split across chunks reaches the service fixed."""
    hass.config_entries.async_update_subentry(
        init_integration,
        init_integration.subentries[PROFILE_SUBENTRY_ID],
        data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False, CONF_PRONUNCIATION: DICTIONARY},
    )
    await hass.async_block_till_done()

    async def llm_answer() -> AsyncGenerator[str]:
        """Split the terms themselves, and wrap one in Markdown."""
        for part in (
            "欢迎来到重",
            "庆！请用 **H",
            "A** 打开 Xia",
            "omi 灯，H",
            "AL 不变。谢谢 H",
            "A",
        ):
            yield part

    stream = tts.async_create_stream(
        hass, "tts.cherry", "zh-CN", options={tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message_stream(llm_answer())
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    assert audio
    session = emulator.sessions[0]
    appended = "".join(event["text"] for event in session.received if "text" in event)
    assert (
        appended == "欢迎来到崇庆！请用 Home Assistant 打开 小米 灯，HAL 不变。谢谢 Home Assistant"
    )
    assert session.finished


async def test_changed_dictionary_is_not_served_from_the_cache(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """The same message is cached, but a new dictionary must be heard at once."""
    calls = async_mock_service(hass, "media_player", "play_media")

    async def speak() -> None:
        """Speak the message and fetch it as a player would."""
        await hass.services.async_call(
            "tts",
            "speak",
            {
                "entity_id": "tts.cherry",
                "media_player_entity_id": "media_player.kitchen",
                "message": "重庆欢迎你。",
            },
            blocking=True,
        )
        status, _ = await retrieve_media(hass, hass_client, calls[-1].data["media_content_id"])
        assert status is HTTPStatus.OK

    await speak()
    await speak()
    assert len(emulator.sessions) == 1

    for dictionary in ("重庆 = 崇庆", "# the same words\n重庆 → 崇庆\n"):
        hass.config_entries.async_update_subentry(
            init_integration,
            init_integration.subentries[PROFILE_SUBENTRY_ID],
            data={**DEFAULT_PROFILE, CONF_WARM_SESSION: False, CONF_PRONUNCIATION: dictionary},
        )
        await hass.async_block_till_done()
        await speak()

    # The rewritten dictionary means the same, so its audio is the cached one.
    assert len(emulator.sessions) == 2
    assert [event["text"] for event in emulator.sessions[1].received if "text" in event] == [
        "崇庆欢迎你。"
    ]
