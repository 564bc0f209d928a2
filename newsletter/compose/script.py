"""Which script a text is written in, and so its direction, a language tag, and whether it has italics.

An item in Arabic inside an English issue must run right to left (else its punctuation lands
on the wrong side), tell screen readers its language, and not be slanted: Arabic, Hebrew and
the CJK scripts have no italic, and browsers fake one by shearing the letters.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

SAMPLE = 600  # letters are counted in the first characters only: an item does not change script midway

RTL_SCRIPTS = {"ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO", "SAMARITAN", "MANDAIC", "ADLAM"}
ITALIC_SCRIPTS = {"LATIN", "GREEK", "CYRILLIC", "ARMENIAN"}
# The language a script most likely is, for an item whose script differs from the newsletter's.
# "und" (undetermined) where a script serves many languages with none far ahead.
SCRIPT_LANGUAGE = {
    "ARABIC": "ar", "HEBREW": "he", "GREEK": "el", "CYRILLIC": "ru", "HANGUL": "ko", "JAPANESE": "ja", "HAN": "zh", "THAI": "th", "DEVANAGARI": "hi", "BENGALI": "bn", "ARMENIAN": "hy",
    "GEORGIAN": "ka", "TAMIL": "ta", "SYRIAC": "syr", "THAANA": "dv", "ETHIOPIC": "am",
}
# Languages written in a script other than Latin (ISO 639-1 codes, and a few common 639-3 ones).
LANGUAGE_SCRIPT = {
    **dict.fromkeys(("ar", "fa", "ur", "ps", "sd", "ug", "ckb", "ku-arab"), "ARABIC"),
    **dict.fromkeys(("he", "yi", "iw"), "HEBREW"),
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "mn", "tg", "tt", "ba", "cv"), "CYRILLIC"),
    "el": "GREEK", "ko": "HANGUL", "ja": "JAPANESE", "zh": "HAN", "th": "THAI", "hi": "DEVANAGARI", "mr": "DEVANAGARI",
    "ne": "DEVANAGARI", "bn": "BENGALI", "hy": "ARMENIAN", "ka": "GEORGIAN", "ta": "TAMIL", "syr": "SYRIAC",
    "dv": "THAANA", "am": "ETHIOPIC",
}


@dataclass(frozen=True)
class Writing:
    """How a text is written: its script, direction ('ltr' or 'rtl') and whether the script has italics."""

    script: str
    dir: str
    italic: bool


def _script(char: str) -> str | None:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    if name.startswith("CJK"):
        return "HAN"
    word = name.split(" ", 1)[0]
    return "KANA" if word in ("HIRAGANA", "KATAKANA") else word


def writing_of(text: str, default: str = "LATIN") -> Writing:
    """The script most of the letters of `text` are in (`default` when it has none)."""
    counts: Counter[str] = Counter()
    for char in text[:SAMPLE]:
        if char.isalpha():
            script = _script(char)
            if script:
                counts[script] += 1
    script = counts.most_common(1)[0][0] if counts else default
    if script in ("HAN", "KANA"):
        # Japanese mixes kanji with kana; Chinese has no kana.
        script = "JAPANESE" if counts["KANA"] else "HAN"
    return Writing(script, "rtl" if script in RTL_SCRIPTS else "ltr", script in ITALIC_SCRIPTS)


def language_script(language: str) -> str:
    """The script a language tag is written in: 'ar-EG' -> 'ARABIC'; Latin when not known otherwise."""
    tag = (language or "").strip().lower().replace("_", "-")
    return LANGUAGE_SCRIPT.get(tag) or LANGUAGE_SCRIPT.get(tag.split("-", 1)[0]) or "LATIN"


def language_dir(language: str) -> str:
    """'rtl' for a language written right to left, else 'ltr'."""
    return "rtl" if language_script(language) in RTL_SCRIPTS else "ltr"


def item_language(writing: Writing, language: str) -> str | None:
    """The lang an item needs: None when it is in the newsletter's own script, else the script's likely language."""
    if writing.script == language_script(language):
        return None
    return SCRIPT_LANGUAGE.get(writing.script, "und")
