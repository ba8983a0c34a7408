"""Cutting the caller's text into the segments that are committed one by one.

In ``commit`` mode each commit is answered by exactly one response (protocol.md
A.6), so a client that commits sentence by sentence knows which text every
response speaks: after a fault it can start again from the first sentence
whose response did not complete. Segments end after sentence or clause
punctuation (Chinese, Japanese and Latin) or a line break; text without any is
cut at a length cap, which also bounds the size of every append.
"""

from collections.abc import Iterator

# A segment never grows beyond this many characters: long unpunctuated text still
# streams, a 20,000-character message goes out in bounded appends, and a resume
# repeats at most this much.
MAX_SEGMENT_CHARS = 80
# Clause marks (commas) end only the first segment, and only once it is this long: they
# bring the first audio forward when the first sentence is long, while later sentences
# stay whole (each response is synthesized on its own, so every cut costs prosody and
# the service's per-response delay).
MIN_CLAUSE_CHARS = 12

# Full-width marks are unambiguous: the segment ends right after them.
_WIDE_SENTENCE = frozenset("。！？；…．")
_WIDE_CLAUSE = frozenset("，、：")
# ASCII marks end a segment only when whitespace follows ("3.14", "a,b" do not).
_ASCII_SENTENCE = frozenset(".!?;")
_ASCII_CLAUSE = frozenset(",:")
_MARKS = _WIDE_SENTENCE | _WIDE_CLAUSE | _ASCII_SENTENCE | _ASCII_CLAUSE
_CLAUSES = _WIDE_CLAUSE | _ASCII_CLAUSE
_ASCII = _ASCII_SENTENCE | _ASCII_CLAUSE
# Closing quotes and brackets belong to the sentence they close.
_CLOSERS = frozenset("\"')]}”’」』）》】〕")


class Segmenter:
    """Turns a stream of text chunks into segments, as early as each one is complete.

    With ``boundaries=False`` (``server_commit`` mode, where the service cuts the
    text itself) chunks are passed on at once, only split to the length cap.
    """

    def __init__(self, *, boundaries: bool = True, max_chars: int = MAX_SEGMENT_CHARS) -> None:
        """Start with no text pending."""
        self._boundaries = boundaries
        self._max = max_chars
        self._pending = ""
        self._first = True

    def feed(self, chunk: str) -> list[str]:
        """Add a chunk; return the segments it completed."""
        self._pending += chunk
        if not self._boundaries:
            segments, self._pending = list(_pieces(self._pending, self._max)), ""
            return segments
        segments = []
        while (end := self._next_end(final=False)) is not None:
            segments.append(self._cut(end))
        return segments

    def flush(self) -> list[str]:
        """Return what is left once the text has ended (nothing if it is only whitespace)."""
        segments = []
        while self._pending.strip():
            segments.append(self._cut(self._next_end(final=True) or len(self._pending)))
        self._pending = ""
        return segments

    def _cut(self, end: int) -> str:
        """Take the pending text up to ``end`` as the next segment."""
        segment, self._pending = self._pending[:end], self._pending[end:]
        self._first = False
        return segment

    def _next_end(self, *, final: bool) -> int | None:
        """Return where the first complete segment of the pending text ends, if it does."""
        text = self._pending
        limit = min(len(text), self._max)
        index = 0
        while index < limit:
            char = text[index]
            if char in _MARKS or char == "\n":
                end = _boundary_after(text, index, final=final)
                if end is None:
                    return None  # an ASCII mark at the very end: wait for what follows
                if end and self._long_enough(text[:end], char):
                    return end
                index = max(index + 1, end)
                continue
            index += 1
        if len(text) < self._max:
            return None
        return _cap_cut(text, self._max)

    def _long_enough(self, segment: str, mark: str) -> bool:
        """Tell whether a segment ending at ``mark`` has enough to say to stand alone."""
        spoken = segment.strip()
        if not spoken:
            return False
        return mark not in _CLAUSES or (self._first and len(spoken) >= MIN_CLAUSE_CHARS)


def _boundary_after(text: str, index: int, *, final: bool) -> int | None:
    """Return the end of a segment whose mark run starts at ``index``; 0 if it is no end.

    ``None`` means that the text after an ASCII mark has not arrived yet.
    """
    end = index
    while end < len(text) and text[end] in _MARKS:
        end += 1
    while end < len(text) and text[end] in _CLOSERS:
        end += 1
    ascii_run = any(char in _ASCII for char in text[index:end])
    if end == len(text):
        return end if final or not ascii_run or _ends_sentence(text, index) else None
    if text[end].isspace():
        while end < len(text) and text[end].isspace():
            end += 1
        return end
    if text[index] == "\n" or not ascii_run:
        return end
    return 0  # "3.14", "e.g.x": not the end of a sentence


def _ends_sentence(text: str, index: int) -> bool:
    """Tell whether ASCII marks at the very end of the text (more may follow) end a sentence.

    Waiting for the next chunk would delay the first audio by one LLM token, so
    "!", "?" and ";" end it at once, and so does "." after a word ("you."); after
    a digit or an initial ("3.", "e.g.") it waits for what follows.
    """
    run = text[index:]
    if any(char in "!?;" for char in run):
        return True
    return run.strip(".") == "" and index >= 2 and text[index - 2 : index].isalpha()  # noqa: PLR2004


def _cap_cut(text: str, cap: int) -> int:
    """Return where to cut unpunctuated text at the cap: after the last space if there is one."""
    space = max(text.rfind(" ", 0, cap), text.rfind("\t", 0, cap))
    return space + 1 if space >= cap // 2 else cap


def _pieces(text: str, cap: int) -> Iterator[str]:
    """Yield ``text`` in pieces of at most ``cap`` characters."""
    for start in range(0, len(text), cap):
        yield text[start : start + cap]
