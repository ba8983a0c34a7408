"""Markdown clean-up of LLM answers, whole and in chunks split anywhere."""

from collections.abc import AsyncIterator

import pytest

from custom_components.qwen_tts_realtime.markdown import (
    MAX_LOOKAHEAD,
    MarkdownStripper,
    strip_markdown,
    strip_markdown_stream,
)

# A typical LLM answer using every construct the stripper knows, in Chinese and English.
SAMPLE = """# 明天的天气

> **提示：** 以下内容来自 [中国天气网](https://weather.com.cn/a_b?x=1)。

明天*多云*，气温 __18~25__ 度。~~下雨~~ 不会下雨 😀

## Packing list
- Take an `umbrella`, just in case
* **Sunscreen** (SPF 30+)
  + nested: `snake_case_name`
1. Leave at 8:00

| 时间 | 天气 |
|:---|---:|
| 上午 | 晴 |

```python
print("2*3*4")  # __init__
```
***
See ![map](map.png) or <https://example.com/x_y>, also https://ha.io/some_path_x and
\\*literal stars\\*. [1]: https://ref.example
[1]: https://ref.example/a_b "Title"
Math: 2*3*4 = 24, 5 * 3 = 15, a < b > c, List<String>, #hashtag, 约~5分钟.
这是**重点**内容。
"""

SAMPLE_SPOKEN = """明天的天气
提示： 以下内容来自 中国天气网。
明天多云，气温 18~25 度。下雨 不会下雨 😀
Packing list
Take an umbrella, just in case
Sunscreen (SPF 30+)
nested: snake_case_name
1. Leave at 8:00
时间, 天气
上午, 晴
print("2*3*4") # __init__
See map or https://example.com/x_y, also https://ha.io/some_path_x and
*literal stars*. [1]: https://ref.example
Math: 2*3*4 = 24, 5 * 3 = 15, a < b > c, List<String>, #hashtag, 约~5分钟.
这是重点内容。"""


def _feed_all(chunks: list[str]) -> str:
    """Strip text fed in the given chunks."""
    stripper = MarkdownStripper()
    return "".join(stripper.feed(chunk) for chunk in chunks) + stripper.flush()


async def _chunks(*parts: str) -> AsyncIterator[str]:
    """Yield text chunks like a streaming LLM."""
    for part in parts:
        yield part


def test_sample_answer() -> None:
    """Every kind of syntax goes; every word, number, emoji and URL stays."""
    assert strip_markdown(SAMPLE) == SAMPLE_SPOKEN


def test_every_split_point_gives_the_same_text() -> None:
    """Chunk boundaries never change the result, wherever the LLM splits."""
    for split in range(len(SAMPLE) + 1):
        assert _feed_all([SAMPLE[:split], SAMPLE[split:]]) == SAMPLE_SPOKEN, split


def test_character_by_character() -> None:
    """Even one character per chunk gives the same text."""
    assert _feed_all(list(SAMPLE)) == SAMPLE_SPOKEN


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("*em* and _em_ and ***both***", "em and em and both"),
        ("~~gone~~ text", "gone text"),
        ("### Heading ###", "Heading ###"),
        ("####### seven", "####### seven"),
        ("#1 fan, #hashtag", "#1 fan, #hashtag"),
        ("> > nested quote", "nested quote"),
        ("- a\n- b\n+ c\n* d", "a\nb\nc\nd"),
        ("-5 degrees", "-5 degrees"),
        ("Title\n=====\nSub\n---\ntext", "Title\nSub\ntext"),
        ("```\ncode  here\n```\nafter", "code here\nafter"),
        ("~~~js\nlet x = a_b_c;\n~~~", "let x = a_b_c;"),
        ("``` not a fence ``` here", "not a fence here"),
        ("```\nunclosed fence", "unclosed fence"),
        ("`a * b` and ``x ` y``", "a * b and x ` y"),
        ("[text](https://x.y/(a)_b) end", "text end"),
        ("[ref link][1] end", "ref link end"),
        ("![](empty.png) alt-less", "alt-less"),
        ("[not a link] and [x]", "[not a link] and [x]"),
        ("[a \\] b](u) and [a [b] c](u)", "a ] b and a [b] c"),
        ("```\ncode\n``` not the end\n```", "code\n``` not the end"),
        ("[unclosed link(", "[unclosed link("),
        ("[text](unclosed", "[text](unclosed"),
        ("Wow! Really!", "Wow! Really!"),
        ("mail <me@example.com>", "mail me@example.com"),
        ("[Note]: keep this sentence", "[Note]: keep this sentence"),
        ("a\\\nb \\d", "a\nb \\d"),
        ("2**3 and 2*3", "2**3 and 2*3"),
        ("**Note:**text", "Note:text"),
        ("snake_case and __init__", "snake_case and init"),
        ("一、**标题**：内容", "一、标题：内容"),
        ("Visit WWW.Example.com/a_b_c now", "Visit WWW.Example.com/a_b_c now"),
        ("**https://ha.io/x**.", "https://ha.io/x."),
        ("|a|b|\n|-|-|\n|1|2|", "a, b\n1, 2"),
        ("| 名称：| 值 |", "名称： 值"),
        ("*", "*"),
        ("   \n\n  lots   of\t\tspace  \n\n\n here  ", "lots of space\nhere"),
        ("", ""),
    ],
)
def test_constructs(markdown: str, spoken: str) -> None:
    """Each construct alone, and the look-alikes that are content."""
    assert strip_markdown(markdown) == spoken
    assert _feed_all(list(markdown)) == spoken


def test_only_the_ambiguous_tail_is_held_back() -> None:
    """Decided text comes out at once; only what the next chunk could change waits."""
    stripper = MarkdownStripper()
    assert stripper.feed("你好，**世") == "你好，世"
    assert stripper.feed("界**") == "界"  # the run could still grow: it waits
    assert stripper.feed("！Look at [the") == "！Look at"  # a link text waits for its end
    assert stripper.feed(" docs](https://x.y) now") == " the docs now"
    assert stripper.feed(" h") == ""  # could be the start of a URL
    assert stripper.feed("ere.") == " here."
    assert stripper.flush() == ""


def test_a_construct_that_never_ends_does_not_hold_the_answer() -> None:
    """An unclosed ``[`` is given up on after MAX_LOOKAHEAD characters, not held forever."""
    stripper = MarkdownStripper()
    emitted = stripper.feed("[" + "字" * (MAX_LOOKAHEAD + 10))
    assert emitted.startswith("[字")
    assert len(emitted) >= MAX_LOOKAHEAD


def test_long_text_is_never_truncated() -> None:
    """A 100 000 character answer comes out whole."""
    text = "第一句话很长。Another **sentence** follows. " * 2500
    spoken = strip_markdown(text)
    assert len(spoken) == len(text) - 2500 * 4 - 1  # the ** marks, and the final space
    assert _feed_all([text[i : i + 7] for i in range(0, len(text), 7)]) == spoken


# An expressive LLM answer: directions to drop, look-alikes that are content.
DIRECTED = (
    "[laughs] Oh, that's a good one! (sighs) Fine, I'll do it [whispering]. "
    "The results (see below) are in [1][2]. He said they [the council] agreed.\n"
    "（笑）好吧，（叹气）我去。【注意】明天下雨（见下文）。［轻声］晚安 **\n"
    "(clears throat) Next (laughs nervously), please."
)
DIRECTED_SPOKEN = (
    "Oh, that's a good one! Fine, I'll do it. "
    "The results (see below) are in. He said they [the council] agreed.\n"
    "好吧，我去。【注意】明天下雨（见下文）。晚安\n"
    "Next, please."
)


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("[laughs] Hello", "Hello"),
        ("[LAUGHS] [Whispers] hi", "hi"),
        ("(sighs) Okay.", "Okay."),
        ("[in a whisper] shh [short pause] now", "shh now"),
        ("嗯（笑）。", "嗯。"),
        ("（笑话）很好笑", "（笑话）很好笑"),
        ("a (excited, even) b", "a (excited, even) b"),
        ("f(x) = (a + b)", "f(x) = (a + b)"),
        ("see note (1) and [12]", "see note (1) and"),
        ("[2, 3] and [4-6], x", "and, x"),
        ("[1]: not at a line start", "[1]: not at a line start"),
        ("[laughs](https://x.y) is a link", "laughs is a link"),
        ("(laughs" + " and more" * 10 + ")", "(laughs" + " and more" * 10 + ")"),
        ("(unclosed sighs", "(unclosed sighs"),
        ("**", ""),
        ("__ and ~~", "and"),
        ("2 * 3", "2 * 3"),
        ("- [ ] 买菜", "[ ] 买菜"),
    ],
)
def test_stage_directions(markdown: str, spoken: str) -> None:
    """Directions for expressive TTS are not read aloud; brackets with content stay."""
    assert strip_markdown(markdown) == spoken
    assert _feed_all(list(markdown)) == spoken


def test_stage_directions_at_every_split_point() -> None:
    """A direction split across two chunks anywhere is still dropped, the content kept."""
    assert strip_markdown(DIRECTED) == DIRECTED_SPOKEN
    for split in range(len(DIRECTED) + 1):
        assert _feed_all([DIRECTED[:split], DIRECTED[split:]]) == DIRECTED_SPOKEN, split


def test_a_direction_holds_back_only_its_own_brackets() -> None:
    """An open ``(`` waits for its end; text before it is not delayed."""
    stripper = MarkdownStripper()
    assert stripper.feed("好的 (si") == "好的"
    assert stripper.feed("ghs) 走吧 (see") == " 走吧"
    assert stripper.feed(" below)") == " (see below)"
    assert stripper.flush() == ""


async def test_stream_transform() -> None:
    """The async transform yields plain text per chunk, and the tail at the end."""
    parts = ["## 标", "题\n\n今天**很", "好**。See [docs](https://x", ".y)", "**"]
    assert [part async for part in strip_markdown_stream(_chunks(*parts))] == [
        "标",
        "题\n今天很",
        "好。See",
        " docs",
    ]
