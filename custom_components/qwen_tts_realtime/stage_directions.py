"""Stage directions that LLMs write for expressive speech: ``[laughs]``, ``(sighs)``, ``（笑）``.

Qwen realtime voices have no tags, so a direction would be read aloud as words.
Brackets also hold real content ("(see below)", an editor's "[the council]"),
so a bracket counts as a direction only when every word in it is a known
direction word or a small filler ("clears throat", "in a whisper", "laughs
nervously"), in English, Chinese, Japanese or Korean. Numeric citations
(``[1]``, ``[2, 3]``) are dropped too: they point to sources nobody can see.
Chinese label brackets (``【注意】``) are never directions.
"""

import re

# Longest bracket content that can be a direction; longer ones are prose.
MAX_DIRECTION = 40
_MAX_WORDS = 4
_CITATION = re.compile(r"\s*\d{1,3}(?:\s*[,，、-]\s*\d{1,3})*\s*")
_TRAILING = ".…!！。~"
# Words that make a direction: sounds, voice, pauses, and the moods LLMs tag with.
_DIRECTION_WORDS = frozenset((
    "laugh", "laughs", "laughing", "laughter", "laughed", "chuckle", "chuckles", "chuckling",
    "giggle", "giggles", "giggling", "snicker", "snickers", "snickering", "sigh", "sighs",
    "sighing", "sighed", "whisper", "whispers", "whispering", "whispered", "cough", "coughs",
    "coughing", "gasp", "gasps", "gasping", "sniff", "sniffs", "sniffing", "sniffle",
    "sniffles", "sob", "sobs", "sobbing", "cry", "cries", "crying", "yawn", "yawns", "yawning",
    "pause", "pauses", "pausing", "groan", "groans", "groaning", "hum", "hums", "humming",
    "inhale", "inhales", "exhale", "exhales", "breath", "breathes", "breathing", "smile",
    "smiles", "smiling", "grin", "grins", "grinning", "shout", "shouts", "shouting", "scream",
    "screams", "screaming", "murmur", "murmurs", "murmuring", "mutter", "mutters", "muttering",
    "snort", "snorts", "clap", "claps", "clapping", "applause", "gulp", "gulps", "hiccup",
    "hiccups", "sneeze", "sneezes", "shrug", "shrugs", "hesitates", "hesitating", "clears",
    "clearing", "silence", "excited", "excitedly", "sarcastic", "sarcastically", "cheerful",
    "cheerfully", "happily", "sadly", "angrily", "nervously", "softly", "quietly", "loudly",
    "mischievously", "playfully", "warmly", "calmly", "curiously", "thoughtfully",
    "dramatically", "gently",
))  # fmt: skip
# Words that only qualify a direction ("clears *his throat*", "*a short* pause").
_FILLERS = frozenset((
    "a", "an", "the", "in", "with", "his", "her", "their", "my", "throat", "deep", "short",
    "long", "little", "bit", "slight", "slightly",
))  # fmt: skip
# Whole directions in Chinese, Japanese and Korean (a bracketed word like "笑话" is prose).
_CJK_DIRECTIONS = frozenset((
    "笑", "大笑", "轻笑", "微笑", "苦笑", "冷笑", "偷笑", "窃笑", "傻笑", "笑声", "哈哈",
    "哈哈大笑", "笑着说", "叹", "叹气", "叹息", "轻叹", "长叹", "叹了口气", "咳", "咳嗽",
    "轻咳", "清嗓子", "停顿", "停顿一下", "沉默", "小声", "低声", "轻声", "小声说", "低声说",
    "耳语", "低语", "悄悄说", "哭", "哭泣", "抽泣", "哽咽", "啜泣", "打哈欠", "哈欠", "喘气",
    "深呼吸", "吸气", "呼气", "鼓掌", "掌声", "兴奋", "激动", "惊讶", "泣", "ため息", "咳払い",
    "웃음", "한숨", "기침",
))  # fmt: skip


def is_stage_direction(content: str, *, square: bool) -> bool:
    """Tell whether bracket ``content`` is a direction (or, in ``[…]``, a citation).

    ``square`` says the bracket is ``[…]``/``［…］``; only those hold citations,
    the parentheses of "see note (1)" do not.
    """
    if len(content) > MAX_DIRECTION:
        return False
    if square and _CITATION.fullmatch(content):
        return True
    words = content.strip().rstrip(_TRAILING).casefold().split()
    if len(words) == 1 and words[0] in _CJK_DIRECTIONS:
        return True
    return (
        0 < len(words) <= _MAX_WORDS
        and all(word in _DIRECTION_WORDS or word in _FILLERS for word in words)
        and any(word in _DIRECTION_WORDS for word in words)
    )
