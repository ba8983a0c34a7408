"""Cutting text into the segments that are committed one by one (commit mode)."""

import pytest

from custom_components.qwen_tts_realtime.api.segmenter import (
    MAX_SEGMENT_CHARS,
    MIN_CLAUSE_CHARS,
    Segmenter,
)


def _segments(chunks: list[str], *, boundaries: bool = True) -> list[str]:
    """Feed the chunks one by one, then flush; return every segment."""
    segmenter = Segmenter(boundaries=boundaries)
    segments = [segment for chunk in chunks for segment in segmenter.feed(chunk)]
    return segments + segmenter.flush()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Chinese: full-width sentence marks end a segment at once.
        ("今天天气很好。明天也不错！你去吗？", ["今天天气很好。", "明天也不错！", "你去吗？"]),
        # Closing quotes stay with their sentence; a colon is a clause mark.
        ("他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
        # A comma ends a segment only after enough text to stand alone.
        (
            "好的，我来帮你看看明天的安排，上午九点你有一个团队周会。",
            ["好的，我来帮你看看明天的安排，", "上午九点你有一个团队周会。"],
        ),
        ("第一、第二、第三。", ["第一、第二、第三。"]),
        # Only the first segment ends at a comma: later sentences stay whole.
        (
            "今天很好。明天上午九点你有一个团队周会，地点在三楼会议室。",
            ["今天很好。", "明天上午九点你有一个团队周会，地点在三楼会议室。"],
        ),
        ("等一下……好了。", ["等一下……", "好了。"]),
        # Latin: a mark ends a segment when whitespace follows (not inside "3.14").
        (
            "Pi is about 3.14. Is that right? Yes!",
            ["Pi is about 3.14. ", "Is that right? ", "Yes!"],
        ),
        (
            "Well, after a long and rainy day, we stayed home.",
            ["Well, after a long and rainy day, ", "we stayed home."],
        ),
        ('She said "stop." Then she left.', ['She said "stop." ', "Then she left."]),
        # Mixed Chinese and English, line breaks, trailing whitespace.
        (
            "今天天气很好。Let's go for a walk in the park! 然后一起吃晚饭。",
            ["今天天气很好。", "Let's go for a walk in the park! ", "然后一起吃晚饭。"],
        ),
        ("第一行\n第二行\n\n", ["第一行\n", "第二行\n\n"]),
        ("   ", []),
        ("", []),
    ],
)
def test_sentences_and_clauses(text: str, expected: list[str]) -> None:
    """Segments end after sentence and clause punctuation; together they are the text."""
    assert _segments([text]) == expected


def test_a_segment_is_ready_as_soon_as_its_end_arrives() -> None:
    """A full-width mark completes a segment in the chunk that brings it; ASCII waits for more."""
    segmenter = Segmenter()
    assert segmenter.feed("今天天气") == []
    assert segmenter.feed("很好。明") == ["今天天气很好。"]
    assert segmenter.feed("天见 at 3.") == []  # "3." might be "3.14": wait for what follows
    assert segmenter.feed(" Bye") == ["明天见 at 3. "]
    # After a word, "." (and always "!", "?") ends the sentence without waiting for a space:
    # a chunk later would be a token later for the listener.
    assert segmenter.feed(" for now.") == ["Bye for now."]
    assert segmenter.feed(" Really?") == [" Really?"]
    assert segmenter.feed(" See e.") == []
    assert segmenter.feed("g. you") == [" See e.g. "]
    assert segmenter.flush() == ["you"]


def test_text_without_punctuation_is_cut_at_the_cap() -> None:
    """Long unpunctuated text still streams: at a space if there is one, else at the cap."""
    chinese = "天" * (MAX_SEGMENT_CHARS * 2 + 5)
    assert [len(segment) for segment in _segments([chinese])] == [
        MAX_SEGMENT_CHARS,
        MAX_SEGMENT_CHARS,
        5,
    ]
    words = "word " * 40
    segments = _segments([words])
    assert all(segment.endswith(" ") for segment in segments)
    assert all(len(segment) <= MAX_SEGMENT_CHARS for segment in segments)
    assert "".join(segments) == words


def test_twenty_thousand_characters_go_out_in_bounded_pieces() -> None:
    """A 20,000-character message: every segment within the cap, nothing lost or reordered."""
    message = ("今天天气很好，我们去公园散步吧。" * 700 + "x" * 9500)[:20000]
    segments = _segments([message[:7000], message[7000:]])
    assert "".join(segments) == message
    assert max(len(segment) for segment in segments) <= MAX_SEGMENT_CHARS
    assert len(segments) > 20000 // MAX_SEGMENT_CHARS


def test_server_commit_mode_passes_chunks_on_at_once() -> None:
    """Without boundaries (the service cuts the text) a chunk is only split to the cap."""
    assert _segments(["今天天", "气很好"], boundaries=False) == ["今天天", "气很好"]
    long = "a" * (MAX_SEGMENT_CHARS + 1)
    assert _segments([long], boundaries=False) == ["a" * MAX_SEGMENT_CHARS, "a"]


def test_short_clauses_are_kept_together() -> None:
    """Clauses shorter than the minimum join the next words; long ones stand alone."""
    short = "嗯，" + "好" * (MIN_CLAUSE_CHARS - 4) + "，"  # one character short
    assert _segments([short + "走吧。"]) == [short + "走吧。"]
    assert _segments(["好" + short + "走吧。"]) == ["好" + short, "走吧。"]
