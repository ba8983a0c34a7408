"""Markdown clean-up for text on its way to speech, chunk by chunk.

LLM answers are Markdown, and they stream in chunks that split it anywhere
(``"**bo"`` + ``"ld**"``). ``MarkdownStripper`` removes the syntax and keeps every
word; it holds back only a tail whose meaning the next chunk decides. Stage
directions written for expressive TTS (``[laughs]``, ``(sighs)``) and a lone
``**`` go too: the service would read them aloud.
"""

import re
import string
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator

from .stage_directions import MAX_DIRECTION, is_stage_direction

# Constructs are decided within this many characters; past it the stripper stops
# waiting and keeps the text as it is (a stalled "[" must not hold back the answer).
MAX_LOOKAHEAD = 1000

_BLANKS = (" ", "\t")
_LINE_ENDS = ("", "\n")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_RULE_LINE_CHARS = frozenset(" \t-*_=|:")
_BULLETS = frozenset("-*+")
_LINE_MARKERS = _RULE_LINE_CHARS | _BULLETS
_URL_PREFIXES = ("https://", "http://", "www.")
_MIN_STRIKE = 2
# A run this long with blanks on both sides is an unpaired mark (a lone "**"), not text.
_MIN_LONE_RUN = 2
# Brackets that may hold a stage direction, and where they close. 【】 hold labels.
_DIRECTION_BRACKETS = {"(": ")", "（": "）", "［": "］"}
_MIN_RULE = 3
_MIN_FENCE = 3
_MAX_HEADING = 6
_URL_EXCLUDED = frozenset('<>`"|')
# After a run of * _ ~ inside a URL, these mean the URL goes on (a_b_c, /a~b/).
_URL_GOES_ON = frozenset("/-=&%#+")
_AUTOLINK = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+", re.ASCII
)
# Destinations that make "[label]: ..." a link reference definition rather than prose.
_DEFINITION_TARGET = re.compile(r"\s*(<|https?://|www\.|mailto:|/|#)", re.IGNORECASE)


class _IncompleteError(Exception):
    """The buffered text ends before the construct at hand is decided."""


def _is_punctuation(char: str) -> bool:
    """Tell whether a character is Unicode punctuation or a symbol (emoji included)."""
    return bool(char) and unicodedata.category(char)[0] in "PS"


def _is_ascii_word(char: str) -> bool:
    """Tell whether a character is an ASCII letter or digit."""
    return char.isascii() and char.isalnum()


def _is_url_char(char: str) -> bool:
    """Tell whether a character may be part of a bare URL."""
    return (
        char.isascii() and char.isprintable() and not char.isspace() and (char not in _URL_EXCLUDED)
    )


def _is_emphasis(char: str, length: int, before: str, after: str) -> bool:
    """Tell whether a run of ``*``, ``_`` or ``~`` is emphasis syntax (CommonMark flanking).

    Two departures keep real content: a ``*`` between ASCII letters or digits is
    arithmetic (``2*3*4``), while between CJK characters it is emphasis
    (``这是**重点**内容``); a single ``~`` is a tilde (``约~5分钟``).
    """
    if char == "~" and length < _MIN_STRIKE:
        return False
    if char == "*" and _is_ascii_word(before) and _is_ascii_word(after):
        return False
    space_before = not before or before.isspace()
    space_after = not after or after.isspace()
    punct_before = _is_punctuation(before)
    punct_after = _is_punctuation(after)
    left = not space_after and (not punct_after or space_before or punct_before)
    right = not space_before and (not punct_before or space_after or punct_after)
    if char == "_":  # never inside a word: snake_case stays
        return (left and (not right or punct_before)) or (right and (not left or punct_after))
    return left or right


def _is_rule_line(text: str) -> bool:
    """Tell whether a line is only syntax: a thematic break, setext underline or table delimiter."""
    marks = text.replace(" ", "").replace("\t", "")
    kinds = set(marks)
    if kinds in ({"-"}, {"="}):
        return True
    if len(kinds) == 1 and kinds <= {"*", "_"}:
        return len(marks) >= _MIN_RULE
    return "-" in kinds and kinds <= {"-", "|", ":"} and len(kinds) > 1


class MarkdownStripper:
    """Turn streamed Markdown into plain text for speech.

    Feed chunks with `feed` and end with `flush`; each call returns the text that
    is decided so far. Whitespace runs collapse to one space, or one line break
    when they contain one.
    """

    def __init__(self, *, at_line_start: bool = True) -> None:
        """Start with nothing buffered."""
        self._buf = ""
        self._final = False
        self._start = 0
        self._out: list[str] = []
        # Whitespace owed before the next visible character ("", " " or "\n").
        self._space = ""
        self._started = False
        self._last = ""
        self._prev = "\n"
        self._line_start = at_line_start
        self._fence = ""
        self._code_ticks = 0
        self._table_row = False
        # A stage direction was just dropped: a blank before the next punctuation goes too.
        self._after_direction = False

    def feed(self, text: str) -> str:
        """Add a chunk and return the plain text it completes."""
        self._buf += text
        return self._run()

    def flush(self) -> str:
        """Decide everything still held back and return the rest of the text."""
        self._final = True
        return self._run()

    def _run(self) -> str:
        """Process the buffer up to the first undecided construct."""
        pos = 0
        while pos < len(self._buf):
            self._start = pos
            try:
                end = self._step(pos)
            except _IncompleteError:
                break
            if end > pos:
                self._prev = self._buf[end - 1]
            pos = end
        self._buf = self._buf[pos:]
        text = "".join(self._out)
        self._out.clear()
        return text

    def _peek(self, index: int) -> str:
        """Return the character at ``index``, "" at the end, or raise if it has not arrived."""
        if index - self._start >= MAX_LOOKAHEAD:
            return ""
        if index < len(self._buf):
            return self._buf[index]
        if self._final:
            return ""
        raise _IncompleteError

    def _run_end(self, index: int, char: str) -> int:
        """Return the index after a run of ``char`` starting at ``index``."""
        while self._peek(index) == char:
            index += 1
        return index

    def _line_end(self, index: int) -> int:
        """Return the index of the end of the line (its newline, or the end of the text)."""
        while self._peek(index) not in _LINE_ENDS:
            index += 1
        return index

    def _closing(self, index: int, opening: str, closing: str) -> int:
        """Return the index of the bracket closing at ``index`` on this line, or -1."""
        depth = 0
        while (char := self._peek(index)) not in _LINE_ENDS:
            if char == "\\":
                index += 1
            elif char == opening:
                depth += 1
            elif char == closing:
                if not depth:
                    return index
                depth -= 1
            index += 1
        return -1

    def _emit(self, text: str) -> None:
        """Output text, collapsing whitespace and dropping it at the start."""
        for char in text:
            if char.isspace():
                if self._started and self._space != "\n":
                    self._space = "\n" if char == "\n" else " "
                continue
            if self._after_direction and _is_punctuation(char):
                self._space = ""
            self._after_direction = False
            if self._space:
                self._out.append(self._space)
                self._space = ""
            self._out.append(char)
            self._started = True
            self._last = char

    def _step(self, i: int) -> int:  # noqa: PLR0911 - one return per construct
        """Handle the construct at ``i`` and return where the next one starts."""
        if self._line_start:
            return self._line(i)
        char = self._buf[i]
        if char == "\n":
            self._emit(char)
            self._line_start = True
            self._table_row = False
            self._code_ticks = 0
            return i + 1
        if self._fence:
            self._emit(char)
            return i + 1
        if self._code_ticks:
            return self._code(i)
        match char:
            case "\\":
                return self._escape(i)
            case "`":
                end = self._run_end(i, "`")
                self._code_ticks = end - i
                return end
            case "*" | "_" | "~":
                return self._delimiter(i, char)
            case "[" | "!":
                return self._link(i)
            case "(" | "（" | "［":
                return self._bracket(i, char)
            case "<":
                return self._autolink(i)
            case "|" if self._table_row:
                return self._cell(i)
            case "h" | "H" | "w" | "W" if not (self._prev.isalnum() or self._prev == "_"):
                return self._url(i)
        self._emit(char)
        return i + 1

    # Block syntax, at the start of a line.

    def _line(self, i: int) -> int:
        """Drop the block syntax that starts a line; stay at the line start after ``>``."""
        j = i
        while self._peek(j) in _BLANKS:
            j += 1
        char = self._peek(j)
        if char == ">" and not self._fence:
            return j + 2 if self._peek(j + 1) == " " else j + 1
        if char in _LINE_ENDS:
            end = j
        elif self._fence:
            end = self._fence_close(j, char)
        elif char in ("`", "~"):
            end = self._fence_open(j, char)
        elif char == "#":
            end = self._heading(j)
        elif char in _LINE_MARKERS:
            end = self._marker_line(j, char)
        elif char == "[":
            end = self._definition(j)
        else:
            end = j
        self._line_start = False
        return end

    def _fence_close(self, j: int, char: str) -> int:
        """Drop the line that closes the open code fence; other lines are code."""
        if char != self._fence[0]:
            return j
        run_end = self._run_end(j, char)
        end = self._line_end(run_end)
        if run_end - j < len(self._fence) or self._buf[run_end:end].strip():
            return j
        self._fence = ""
        return end

    def _fence_open(self, j: int, char: str) -> int:
        """Drop a code fence line (with its info string) and enter the code block."""
        run_end = self._run_end(j, char)
        if run_end - j < _MIN_FENCE:
            return j
        end = self._line_end(run_end)
        if char == "`" and "`" in self._buf[run_end:end]:  # inline code, not a fence
            return j
        self._fence = self._buf[j:run_end]
        return end

    def _heading(self, j: int) -> int:
        """Drop the marks of an ATX heading; ``#hashtag`` and ``#1`` stay."""
        end = self._run_end(j, "#")
        if end - j > _MAX_HEADING or self._peek(end) not in (*_BLANKS, *_LINE_ENDS):
            return j
        return end

    def _marker_line(self, j: int, char: str) -> int:
        """Drop syntax-only lines, list bullets and a table row's leading pipe."""
        end = j
        while (mark := self._peek(end)) and mark in _RULE_LINE_CHARS:
            end += 1
        if self._peek(end) in _LINE_ENDS and _is_rule_line(self._buf[j:end]):
            return end
        if char in _BULLETS and self._peek(j + 1) in _BLANKS:
            return j + 1
        if char == "|":
            self._table_row = True
            return j + 1
        return j

    def _definition(self, j: int) -> int:
        """Drop a link reference definition line (``[1]: https://...``)."""
        close = self._closing(j + 1, "[", "]")
        if close < 0 or self._peek(close + 1) != ":":
            return j
        end = self._line_end(close + 2)
        if not _DEFINITION_TARGET.match(self._buf[close + 2 : end]):
            return j
        return end

    # Inline syntax.

    def _code(self, i: int) -> int:
        """Copy inline code literally until the matching backtick run."""
        if self._buf[i] != "`":
            self._emit(self._buf[i])
            return i + 1
        end = self._run_end(i, "`")
        if end - i == self._code_ticks:
            self._code_ticks = 0
        else:
            self._emit(self._buf[i:end])
        return end

    def _escape(self, i: int) -> int:
        """Keep an escaped punctuation mark as text; drop a line-break backslash."""
        char = self._peek(i + 1)
        if char in _ASCII_PUNCTUATION:
            self._emit(char)
            return i + 2
        if char != "\n":
            self._emit("\\")
        return i + 1

    def _delimiter(self, i: int, char: str) -> int:
        """Drop an emphasis or strikethrough run; keep it when it is content."""
        end = self._run_end(i, char)
        after = self._peek(end)
        if not _is_emphasis(char, end - i, self._prev, after) and not (
            end - i >= _MIN_LONE_RUN
            and (not self._prev or self._prev.isspace())
            and (not after or after.isspace())
        ):
            self._emit(self._buf[i:end])
        return end

    def _bracket(self, i: int, opening: str) -> int:
        """Drop a parenthesised stage direction (``(sighs)``, ``（笑）``); keep other brackets."""
        closing = _DIRECTION_BRACKETS[opening]
        end = i + 1
        while (char := self._peek(end)) != closing:
            if char in (*_LINE_ENDS, opening) or end - i > MAX_DIRECTION:
                self._emit(opening)
                return i + 1
            end += 1
        if not is_stage_direction(self._buf[i + 1 : end], square=opening == "［"):
            self._emit(opening)
            return i + 1
        self._after_direction = True
        return end + 1

    def _link(self, i: int) -> int:
        """Replace ``[text](url)``, ``[text][ref]`` and ``![alt](src)`` by their text."""
        start = i + 1
        if self._buf[i] == "!":
            if self._peek(start) != "[":
                self._emit("!")
                return start
            start += 1
        close = self._closing(start, "[", "]")
        if close >= 0:
            follow = self._peek(close + 1)
            # "[1][2]" are two citations, not a reference link; "[laughs](url)" is a link.
            if (
                start == i + 1
                and follow not in ("(", ":")
                and is_stage_direction(self._buf[start:close], square=True)
            ):
                self._after_direction = True
                return close + 1
            target = {"(": ")", "[": "]"}.get(follow)
            end = self._closing(close + 2, follow, target) if target else -1
            if end >= 0:
                self._emit(strip_markdown(self._buf[start:close], at_line_start=False))
                return end + 1
        self._emit(self._buf[i:start])
        return start

    def _autolink(self, i: int) -> int:
        """Replace ``<https://...>`` by the address; any other ``<`` is text."""
        end = i + 1
        while self._peek(end) not in (*_LINE_ENDS, *_BLANKS, "<", ">"):
            end += 1
        if self._peek(end) == ">" and _AUTOLINK.fullmatch(self._buf[i + 1 : end]):
            self._emit(self._buf[i + 1 : end])
            return end + 1
        self._emit("<")
        return i + 1

    def _cell(self, i: int) -> int:
        """Turn a table's cell separator into a pause; drop the row's closing pipe."""
        end = i + 1
        while self._peek(end) in _BLANKS:
            end += 1
        if self._peek(end) in _LINE_ENDS or self._space == "\n" or not self._started:
            return i + 1
        self._space = ""
        if not _is_punctuation(self._last):
            self._emit(",")
        self._emit(" ")
        return i + 1

    def _url(self, i: int) -> int:
        """Copy a bare URL literally, so ``_`` and ``*`` inside it stay."""
        prefix = next(
            (
                prefix
                for prefix in _URL_PREFIXES
                if all(self._peek(i + n).lower() == c for n, c in enumerate(prefix))
            ),
            None,
        )
        if prefix is None:
            self._emit(self._buf[i])
            return i + 1
        end = i + len(prefix)
        while (char := self._peek(end)) and _is_url_char(char):
            if char in ("*", "_", "~"):
                run_end = self._run_end(end, char)
                after = self._peek(run_end)
                if not (after.isalnum() or after in _URL_GOES_ON):
                    break  # emphasis closing right after the URL
                end = run_end
            else:
                end += 1
        self._emit(self._buf[i:end])
        return end


def strip_markdown(text: str, *, at_line_start: bool = True) -> str:
    """Return ``text`` without Markdown syntax, whitespace collapsed."""
    stripper = MarkdownStripper(at_line_start=at_line_start)
    return stripper.feed(text) + stripper.flush()


async def strip_markdown_stream(chunks: AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield ``chunks`` as plain text, each part as soon as it is decided."""
    stripper = MarkdownStripper()
    async for chunk in chunks:
        if text := stripper.feed(chunk):
            yield text
    if text := stripper.flush():
        yield text
