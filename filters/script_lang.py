"""A script-based language guess: enough to pick a filter set (fastText language ID refines it later)."""

from __future__ import annotations

import unicodedata
from collections import Counter

# Script of a character, from its Unicode name's first word; checked on a prefix of the text.
_SCRIPT_LANG = {
    "CJK": "zh",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CYRILLIC": "ru",
    "ARABIC": "ar",
    "HEBREW": "he",
    "GREEK": "el",
    "THAI": "th",
    "DEVANAGARI": "hi",
    "BENGALI": "bn",
    "TAMIL": "ta",
    "ARMENIAN": "hy",
    "GEORGIAN": "ka",
}


def script_counts(text: str, limit: int = 2000) -> Counter:
    counts: Counter = Counter()
    for ch in text[:limit]:
        if ch.isalpha():
            if ch.isascii():
                counts["LATIN"] += 1
                continue
            name = unicodedata.name(ch, "")
            counts[name.split(" ", 1)[0] if name else "OTHER"] += 1
    return counts


def guess_language(text: str | None, latin: str = "en") -> str:
    """ISO-639-1-ish code of the dominant script; `und` when there are no letters."""
    if not text:
        return "und"
    counts = script_counts(text)
    if not counts:
        return "und"
    # Japanese text is mostly Han with some kana: kana anywhere decides it.
    if counts["HIRAGANA"] + counts["KATAKANA"] > 0.05 * sum(counts.values()):
        return "ja"
    script, _ = counts.most_common(1)[0]
    if script == "LATIN":
        return latin
    return _SCRIPT_LANG.get(script, latin if script.startswith("LATIN") else "und")
