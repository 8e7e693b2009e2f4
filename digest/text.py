"""Small text facts shared by importers and rendering: language of a line, normalized titles."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# CJK Unified Ideographs (+ extension A), compatibility ideographs, CJK punctuation, kana, hangul.
_CJK = re.compile(
    r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def language_of(text: str) -> str:
    """`zh` for a line with CJK characters, else `en` (the page format's rule)."""
    return "zh" if has_cjk(text) else "en"


_NOT_ALNUM = re.compile(r"[\W_]")
"""Exactly the characters for which `str.isalnum()` is false (checked over every code point in
tests/test_text.py): one substitution instead of a test per character."""


def normalize_title(title: str) -> str:
    """The form two spellings of a title share: NFKC, case-folded, no punctuation or spacing."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NOT_ALNUM.sub(" ", folded).split())


def derived_id(title: str) -> str:
    """A stable id for a signal whose source has none: the same title gives the same id."""
    digest = hashlib.blake2b(normalize_title(title).encode(), digest_size=8).hexdigest()
    return f"s-{digest}"


def counted(n: int, noun: str) -> str:
    """`1 signal`, `4 signals`: command-line summaries are read by editors, so "1 signals" won't do
    (for nouns with a plain `s` plural; emails and pages use the Babel catalogs instead)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
