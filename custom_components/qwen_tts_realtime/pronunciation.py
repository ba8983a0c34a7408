"""A voice profile's pronunciation dictionary: ``term = say as`` replacements.

Qwen realtime speaks plain text only (no SSML, no phonemes), so names, brands
and Chinese polyphones (多音字) are fixed by replacing the written term with one
the voice says right (``重庆 = 崇庆``). Latin terms match whole words only (``HA``
is not replaced inside ``HAL``); CJK text has no spaces, so CJK terms match
anywhere. The longest term wins where several start at the same place.
"""

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from enum import Enum, auto
from typing import Final, Literal

# What may separate the term from what to say, first match on the line wins.
SEPARATORS = ("->", "→", "=")
COMMENT = "#"


class PronunciationSyntaxError(ValueError):
    """A dictionary line is not ``term = say as``."""

    def __init__(self, line: int) -> None:
        """Remember the 1-based number of the bad line."""
        super().__init__(f"Line {line} is not 'term = say as'")
        self.line = line


# Scripts written without spaces between words: Han, kana, hangul.
_CJK_RANGES = (
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),  # hangul
    (0xF900, 0xFAFF),
    (0x20000, 0x2FFFF),
)


def _is_cjk(char: str) -> bool:
    """Tell whether a character is written without spaces between words."""
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_word(char: str) -> bool:
    """Tell whether a character belongs to a space-separated word (letters, digits)."""
    return bool(char) and char.isalnum() and not _is_cjk(char)


def _split_line(line: str) -> tuple[str, str] | None:
    """Return a line's term and replacement, or ``None`` for a line without a separator."""
    found = [(line.find(sep), sep) for sep in SEPARATORS if sep in line]
    if not found:
        return None
    index, separator = min(found)
    return line[:index].strip(), line[index + len(separator) :].strip()


def parse_pronunciation(text: str) -> dict[str, str]:
    """Parse one ``term = say as`` per line (``→`` and ``->`` work too).

    Blank lines and lines starting with ``#`` are skipped; a term given twice
    keeps its last replacement. Raises ``PronunciationSyntaxError`` naming the
    first line that has no separator, no term or nothing to say.
    """
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT):
            continue
        parts = _split_line(line)
        if parts is None or not all(parts):
            raise PronunciationSyntaxError(number)
        term, say_as = parts
        entries[term] = say_as
    return entries


class _Undecided(Enum):
    """The text at hand could still become a term: wait for more."""

    PENDING = auto()


_PENDING: Final = _Undecided.PENDING


class PronunciationDictionary:
    """Replacements to apply, indexed by the first character of each term."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        """Index the terms, longest first under each first character."""
        self._entries = dict(entries)
        self._by_first: dict[str, list[str]] = {}
        for term in sorted(self._entries, key=len, reverse=True):
            self._by_first.setdefault(term[0], []).append(term)
        self.longest = max(map(len, self._entries), default=0)

    @property
    def cache_token(self) -> str:
        """Return the replacements in a stable form: equal dictionaries, equal tokens."""
        return "\n".join(f"{term}={say_as}" for term, say_as in sorted(self._entries.items()))

    def __bool__(self) -> bool:
        """Tell whether there is anything to replace."""
        return bool(self._entries)

    def match_at(
        self, text: str, index: int, before: str, *, final: bool
    ) -> str | Literal[_Undecided.PENDING] | None:
        """Return the term starting at ``text[index]``, ``_PENDING`` or ``None``.

        ``before`` is the character preceding ``index`` (``""`` at the start). A
        term reaching past the end of ``text`` is undecided unless ``final``: the
        next chunk may complete it (or, for a Latin term, continue the word).
        """
        if _is_word(before) and _is_word(text[index]):
            return None  # inside a word: no Latin term starts here, CJK ones need no boundary
        for term in self._by_first.get(text[index], ()):
            end = index + len(term)
            if end > len(text):
                if not final and term.startswith(text[index:]):
                    return _PENDING  # a longer term may still match: it has priority
                continue
            if not text.startswith(term, index):
                continue
            if _is_word(term[-1]):
                if end == len(text) and not final:
                    return _PENDING  # "HA" + "L…" must stay HAL
                if _is_word(text[end : end + 1]):
                    continue
            return term
        return None

    def replacement(self, term: str) -> str:
        """Return what to say for a term."""
        return self._entries[term]


class PronunciationStream:
    """Apply a dictionary to text that arrives in chunks split anywhere.

    Only a tail that may still become a term is held back: at most the longest
    term minus one character, or a whole Latin term until the next character
    tells whether its word ends there.
    """

    def __init__(self, dictionary: PronunciationDictionary) -> None:
        """Start with nothing held back."""
        self._dictionary = dictionary
        self._buffer = ""
        self._before = ""

    def feed(self, chunk: str) -> str:
        """Take a chunk; return the text that is decided."""
        self._buffer += chunk
        return self._run(final=False)

    def flush(self) -> str:
        """Return the rest at the end of the text."""
        return self._run(final=True)

    def _run(self, *, final: bool) -> str:
        """Replace terms in the buffer up to the first undecided place."""
        text, out, index = self._buffer, [], 0
        while index < len(text):
            before = text[index - 1] if index else self._before
            match = self._dictionary.match_at(text, index, before, final=final)
            if match is _PENDING:
                break
            if isinstance(match, str):
                out.append(self._dictionary.replacement(match))
                index += len(match)
            else:
                out.append(text[index])
                index += 1
        if index:
            # Word boundaries are judged on the written text, not on replacements.
            self._before = text[index - 1]
        self._buffer = text[index:]
        return "".join(out)


def apply_pronunciation(text: str, dictionary: PronunciationDictionary) -> str:
    """Return ``text`` with the dictionary's terms replaced."""
    stream = PronunciationStream(dictionary)
    return stream.feed(text) + stream.flush()


async def pronunciation_stream(
    chunks: AsyncIterable[str], dictionary: PronunciationDictionary
) -> AsyncIterator[str]:
    """Yield ``chunks`` with the dictionary's terms replaced, each part once it is decided."""
    if not dictionary:
        async for chunk in chunks:
            yield chunk
        return
    stream = PronunciationStream(dictionary)
    async for chunk in chunks:
        if text := stream.feed(chunk):
            yield text
    if text := stream.flush():
        yield text
