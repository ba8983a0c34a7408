"""Which ``language_type`` a text is in, judged by its script.

The language a caller passes is usually the user interface's, not the text's:
an English Home Assistant asks for ``en`` while reading out ``你好``. The script
tells the languages the service distinguishes apart, except the Latin ones;
for those, and for Han characters, the requested language decides when it
fits the script.

The rule, for mixed text too: every Han, kana or Hangul character counts once,
every Latin or Cyrillic word counts once (a Chinese character is about one
syllable, an English letter much less), and the script with the most counts
wins; on a tie the one that came first. Han and kana are one script here:
Japanese when it has hiragana or is at least a third katakana (a katakana
brand name in Chinese text leaves it Chinese), else Chinese.
"""

import unicodedata

# Unicode character-name prefixes of the scripts that tell a language.
_SCRIPTS = (
    ("CJK UNIFIED IDEOGRAPH", "cjk"),
    ("CJK COMPATIBILITY IDEOGRAPH", "cjk"),
    ("HIRAGANA", "cjk"),
    ("KATAKANA", "cjk"),
    ("HALFWIDTH KATAKANA", "cjk"),
    ("HANGUL", "hangul"),
    ("LATIN", "latin"),
    ("CYRILLIC", "cyrillic"),
)
# Scripts whose words, not characters, are counted.
_WORD_SCRIPTS = frozenset({"latin", "cyrillic"})
_KATAKANA = ("KATAKANA", "HALFWIDTH KATAKANA")
# Katakana makes Han text Japanese from this share on (1/3); hiragana always does.
_KATAKANA_SHARE = 3
# Inside a word: "Let's" is one word.
_WORD_JOINERS = frozenset("'’")
_LATIN_LANGUAGES = frozenset({"English", "German", "French", "Spanish", "Italian", "Portuguese"})


def _script_of(char: str) -> tuple[str | None, str]:
    """Return the script of a letter (``None`` for anything else) and its Unicode name."""
    if not char.isalpha():
        return None, ""
    name = unicodedata.name(char, "")
    return next((script for prefix, script in _SCRIPTS if name.startswith(prefix)), None), name


def detect_language_type(text: str, requested: str) -> str | None:
    """Return the ``language_type`` of ``text``, or ``None`` when it has no letters to tell.

    ``requested`` is the language type of the caller's language: it decides
    between the languages one script is shared by (Latin; Han for Japanese).
    """
    counts: dict[str, int] = {}  # insertion order is the order of first appearance
    hiragana = katakana = 0
    previous: str | None = None
    for char in text:
        if char in _WORD_JOINERS:
            continue
        script, name = _script_of(char)
        hiragana += name.startswith("HIRAGANA")
        katakana += name.startswith(_KATAKANA)
        if script is not None and not (script in _WORD_SCRIPTS and script == previous):
            counts[script] = counts.get(script, 0) + 1
        previous = script
    if not counts:
        return None
    winner = max(counts, key=lambda script: counts[script])  # the first of equals
    match winner:
        case "cjk" if (
            hiragana or katakana * _KATAKANA_SHARE >= counts["cjk"] or requested == "Japanese"
        ):
            return "Japanese"
        case "cjk":
            return "Chinese"
        case "hangul":
            return "Korean"
        case "cyrillic":
            return "Russian"
    return requested if requested in _LATIN_LANGUAGES else "English"
