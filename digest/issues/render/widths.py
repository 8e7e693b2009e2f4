"""Display columns and line breaking for subjects, preheaders and the text part.

Inboxes and terminals give an East Asian wide or fullwidth character (CJK ideographs, kana,
hangul, fullwidth punctuation) two columns and everything else one, which is what
`unicodedata.east_asian_width` says (ambiguous characters such as `●` or `…` count one, as
`wcwidth` and most clients do). Breaking follows the two conventions the editions mix: Latin
text breaks at spaces, Chinese text between any two characters, except that a closing mark
(`，。）` …) never starts a line and an opening one (`（《“` …) never ends it. The standard
library's `textwrap` counts code points and breaks only at spaces, so it is right for neither.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

ELLIPSIS = "…"

NO_LINE_START = frozenset("，。、；：！？）》」』】〉〕”’…・,.;:!?)]}%")
"""Marks that close or follow what precedes them: a break never comes before one."""
NO_LINE_END = frozenset("（《「『【〈〔“‘([{")
"""Marks that open what follows them: a break never comes after one."""
TRAILING_PUNCTUATION = "，、；：（《「『【〈〔“‘,;:([{—–-/·"
"""Stripped from a cut before its ellipsis: `Dutch licences —…` reads as a stutter."""


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Columns of one character: 2 for East Asian wide or fullwidth, 0 for a combining mark."""
    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\u2060\ufeff":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


_NOT_PLAIN = re.compile(r"[\u0300-\U0010ffff]")
"""Characters that may not take exactly one column (combining marks start at U+0300)."""


def width(text: str) -> int:
    """Display columns of `text`: one a character, corrected for the few that are not plain
    (ASCII takes the fast path; a Latin line with a `●` or a `—` looks at those alone)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(char_width(c) - 1 for c in _NOT_PLAIN.findall(text))


def is_wide(char: str) -> bool:
    return char_width(char) == 2


_TOKENS = re.compile(r"[ \t]*(?:[\u1100-\U0010ffff]|[^ \t\u1100-\U0010ffff]+)|[ \t]+$")
"""Spaces, then one character from U+1100 up (every assigned wide character lies there) or a
run of characters below it; or trailing spaces."""


def units(text: str) -> Iterator[str]:
    """`text` as unbreakable units, each carrying the spaces before it.

    A unit is a space-free run of narrow characters (a word), or one wide character; a closing
    mark joins the unit before it and an opening mark the unit after it, so joining units back
    gives `text` and every boundary between two units is a legal break. One regular expression
    cuts the text at every candidate break, and the rules decide only at those boundaries: the
    text part wraps every line of every edition, so a loop per character is too dear.
    """
    pending = ""
    for token in _TOKENS.findall(text):
        if pending and token[0] not in " \t":
            first, last = token[0], pending[-1]
            breakable = is_wide(first) or is_wide(last)
            if not breakable or first in NO_LINE_START or last in NO_LINE_END:
                pending += token
                continue
        if pending:
            yield pending
        pending = token
    if pending:
        yield pending


def cut(text: str, columns: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` in at most `columns` columns, cut only between units and ending with `ellipsis`.

    Returns "" when not even the first unit fits: the caller decides what to do instead (a
    subject takes the next headline rather than half a word).
    """
    if width(text) <= columns:
        return text
    room = columns - width(ellipsis)
    kept, used = "", 0
    for unit in units(text):
        step = width(unit)
        if used + step > room:
            break
        kept += unit
        used += step
    kept = kept.rstrip().rstrip(TRAILING_PUNCTUATION).rstrip()
    return kept + ellipsis if kept else ""


def _unit_width(unit: str) -> int:
    """`width` for the units of a wrap: most are ASCII words or one CJK character."""
    if unit.isascii():
        return len(unit)
    return char_width(unit) if len(unit) == 1 else width(unit)


def _hang(line: str) -> str:
    """The indent of a wrapped line's continuation: under the text after a bullet or indent."""
    match = re.match(r"^(\s*(?:[-*•·]\s+|\d{1,3}[.)]\s+)?)", line)
    return " " * width(match.group(1)) if match else ""


def _is_link(unit: str) -> bool:
    """A URL or a placeholder that becomes one: never broken, however long."""
    text = unit.strip()
    return "://" in text or "%%" in text or text.startswith(("www.", "mailto:"))


_WORDS = re.compile(r"[ \t]*[^ \t]+|[ \t]+$")
"""A line's units when every character takes one column: words with the spaces before them.
(`units` gives the same on such a line, more dearly: there every break is at a space.)"""


def _measure(line: str) -> tuple[int, bool]:
    """(columns, narrow): the width of `line`, and whether every character takes one column."""
    if line.isascii():
        return len(line), True
    columns = [char_width(c) for c in _NOT_PLAIN.findall(line)]
    return len(line) + sum(columns) - len(columns), all(c == 1 for c in columns)


def _pieces(
    found: Iterable[str], room: int, measure: Callable[[str], int]
) -> Iterator[tuple[str, int]]:
    """Each unit with its width, a word wider than `room` that is no link cut into pieces that
    fit (a pasted identifier would otherwise run past the wrap)."""
    for unit in found:
        step = measure(unit)
        if step <= room or _is_link(unit):
            yield unit, step
            continue
        piece = ""
        for char in unit:
            if piece.strip() and measure(piece) + measure(char) > room:
                yield piece, measure(piece)
                piece = ""
            piece += char
        if piece:
            yield piece, measure(piece)


def wrap_line(line: str, columns: int) -> list[str]:
    """One line as lines of at most `columns` columns, broken between units.

    A link longer than a line (a URL, a placeholder that becomes one) gets a line of its own
    and may exceed `columns`: breaking a link would break it. Any other word that long is cut.
    Most lines of an edition are Latin text, one column a character: those are cut at spaces
    and measured with `len`, which keeps the text part's wrap cheap.
    """
    used, narrow = _measure(line)
    if used <= columns:
        return [line]
    if narrow:
        return _wrap_narrow(line, columns)
    return _wrap_units(line, columns, units(line), _unit_width)


@lru_cache(maxsize=64)
def _fill(columns: int) -> re.Pattern[str]:
    """The longest run of at most `columns` characters that ends a word: one line's fill."""
    return re.compile(rf".{{0,{columns - 1}}}[^ \t](?=[ \t]|$)")


def _wrap_narrow(line: str, columns: int) -> list[str]:
    """`wrap_line` for a line whose every character takes one column: each line is the
    longest run of whole words that fits, found by one regular expression (a loop over the
    words costs three times as much, and the text part wraps hundreds of such lines)."""
    words = _WORDS.findall(line)
    indent = _hang(line)
    room = max(columns - len(indent), 1)
    if max(map(len, words)) > room:  # a word to cut, or a link on a line of its own
        return _wrap_units(line, columns, words, len)
    lines: list[str] = []
    fill, end, start = _fill(columns), len(line), 0
    while start < end:
        found = fill.match(line, start)
        assert found is not None  # every word fits `room`, so a line of at least one fits
        lines.append(found.group() if not lines else indent + found.group())
        start = _SPACES.match(line, found.end()).end()  # type: ignore[union-attr]
        fill = _fill(room)
    return lines


_SPACES = re.compile(r"[ \t]*")


def _wrap_units(
    line: str,
    columns: int,
    found: Iterable[str],
    measure: Callable[[str], int],
) -> list[str]:
    """The greedy fill of `wrap_line`, over `line`'s units as `found` and measured by `measure`."""
    indent = _hang(line)
    lines: list[str] = []
    current, used = "", 0
    for unit, step in _pieces(found, max(columns - width(indent), 1), measure):
        if current and used + step > columns:
            lines.append(current.rstrip())
            unit = indent + unit.lstrip()
            step = measure(unit)
            current, used = "", 0
        current += unit
        used += step
    if current.strip():
        lines.append(current.rstrip())
    return lines


def wrap(text: str, columns: int = 76, memo: dict[str, list[str]] | None = None) -> str:
    """Every line of `text` wrapped at `columns` (the plain-text part's hard wrap).

    `memo` keeps each line's wrap for the next text with the same line (the editions of one
    build share most of their paragraphs); the caller keeps one per `columns`.
    """
    memo = {} if memo is None else memo
    out: list[str] = []
    for line in text.split("\n"):
        lines = memo.get(line)
        if lines is None:  # a line that fits comes back from wrap_line as it is
            lines = memo[line] = wrap_line(line, columns)
        out.extend(lines)
    return "\n".join(out)
