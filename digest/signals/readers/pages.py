"""Importer for published signal pages: the plain-text format of `signal-pages.md`.

A page holds exactly one signal. `read_page(source, text)` returns a `Parsed` holding that one
signal, or raises `SourceError` (with the line, where there is one) when the page has no usable
record: no `- Signal:` title, a `Confidence:` that is not a number from 0 to 1, a `Published:`
that is not a date, two Signal Brief or Market Context items for one field that disagree, or a
record the model rejects. It raises nothing else, for any text.

One pass over the lines, each classified by its first character (blank, table row, item, other)
and, for short lines, one dict lookup for a heading; the only regexes are three precompiled ones
run on whole paragraphs (cross-references, dates) and on the `Confidence:` value.

Decisions the format note leaves open:
- Lines are compared with surrounding whitespace removed, so indented items and headings count;
  a bare `-` is an empty item and, like a blank line, means nothing. U+FEFF (a byte-order mark)
  is dropped wherever it stands.
- Every table row (a line starting with `|`) is legend chrome; the evidence line is the first
  line after the first run of rows, unless that line is a heading. A page without a legend has
  no evidence line. Evidence labels are compared like legend labels (case, spacing, dashes).
- An item line outside a section (in the lead, or after a paragraph closed the section) is kept
  verbatim as a lead line or body paragraph, as the note's "any other line" says.
- Only the lead is de-duplicated (on its text once cross-references are out); `see_also` keeps
  each title once. Body paragraphs and section items are kept as written.
- Signal Brief keys and Market Context keys are matched without regard to case and spacing, with
  an ASCII or full-width colon; unknown Signal Brief keys are ignored. A key given twice with the
  same value is a scraping repeat; with different values it is an error naming the second line.
  An empty `Signal:` is an error, an empty optional item is null.
- A `Confidence:` value is a plain decimal (`0.9`, `.9`, `1`): `nan`, `inf`, exponents and
  decimal commas are not numbers. A `Published:` item may use any of the four date forms, but
  must be exactly one valid date.
- Dates in prose: `2024年4月1日` (spaces and full-width digits allowed), `12 March 2025`,
  `March 12, 2025` (comma optional), `2025-03-12`; month names are capitalized English, full or
  abbreviated (`Mar`, `Sept`). Dates are searched in the text once cross-references are out.
- A cross-reference marker is `See also` (any case, not glued to a preceding Latin letter) or
  `另见`, then a colon; everything from the first marker of a paragraph on is cross-references,
  split at each further marker, each losing one closing `.` or `。`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from digest.model import Signal
from digest.signals.readers.base import (
    Parsed,
    SourceError,
    describe_validation_error,
    text_reader,
)
from digest.text import derived_id, language_of

__all__ = ["read_page"]

_BRIEF, _SURFACE, _CONTEXT, _WATCH, _MEMBER = "brief", "surface", "context", "watch", "member"
_HEADINGS: dict[str, str] = {
    "signal brief": _BRIEF,
    "operating surface": _SURFACE,
    "market context": _CONTEXT,
    "what to watch": _WATCH,
    "member briefing": _MEMBER,
}
_HEADING_MAX = 40  # longer lines are never looked up as headings

# Signal Brief and Market Context keys -> (model field, the key as the page spells it).
_BRIEF_KEYS: dict[str, tuple[str, str]] = {
    "signal": ("title", "Signal"),
    "signal type": ("signal_type", "Signal Type"),
    "region": ("region", "Region"),
    "market class": ("market_class", "Market Class"),
    "confidence": ("confidence", "Confidence"),
    "published": ("published", "Published"),
}
_CONTEXT_KEYS: dict[str, tuple[str, str]] = {
    "operational relevance": ("operational_relevance", "Operational relevance"),
    "time horizon": ("time_horizon", "Time horizon"),
}
_LIST_FIELDS = ("operating_surface", "market_context", "watch")
_SECTION_LISTS = {_SURFACE: "operating_surface", _CONTEXT: "market_context", _WATCH: "watch"}

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_XREF = re.compile(r"(?:(?<![A-Za-z])(?i:see\s+also)|另见)\s*[:：]\s*")
_STOPS = (".", "。")

_MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_MONTHS: dict[str, int] = {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS |= {name[:3]: n for name, n in _MONTHS.items()} | {"Sept": 9}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_DATE = re.compile(
    rf"(?<!\d)(?P<zy>\d{{4}})\s*年\s*(?P<zm>\d{{1,2}})\s*月\s*(?P<zd>\d{{1,2}})\s*日"
    rf"|(?<![\dA-Za-z])(?P<dd>\d{{1,2}})\s+(?P<dm>{_MONTH}),?\s+(?P<dy>\d{{4}})(?!\d)"
    rf"|(?<![A-Za-z])(?P<mm>{_MONTH})\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>\d{{4}})(?!\d)"
    r"|(?<!\d)(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?!\d)"
)


def _as_date(match: re.Match[str]) -> dt.date | None:
    """The date a `_DATE` match spells, or None for an impossible one (2025-02-30)."""
    groups = match.groupdict()
    for y, m, d in (("zy", "zm", "zd"), ("dy", "dm", "dd"), ("my", "mm", "md"), ("iy", "im", "id")):
        if groups[y] is None:
            continue
        month = groups[m]
        number = _MONTHS.get(month.rstrip(".")) if month[0].isalpha() else int(month)
        try:
            return dt.date(int(groups[y]), number or 0, int(groups[d]))
        except ValueError:
            return None
    return None  # pragma: no cover - one alternative always matched


def _first_date(text: str) -> dt.date | None:
    for match in _DATE.finditer(text):
        if (found := _as_date(match)) is not None:
            return found
    return None


def _exact_date(text: str) -> dt.date | None:
    match = _DATE.fullmatch(text)
    return None if match is None else _as_date(match)


def _take_cross_refs(text: str) -> tuple[str, list[str]]:
    """The paragraph without its trailing cross-references, and their titles."""
    match = _XREF.search(text) if ":" in text or "：" in text else None
    if match is None:
        return text, []
    titles = []
    for part in _XREF.split(text[match.start() :])[1:]:
        title = part.strip()
        if title.endswith(_STOPS):
            title = title[:-1].rstrip()
        if title:
            titles.append(title)
    return text[: match.start()].rstrip(), titles


def _split_key(item: str) -> tuple[str, str] | None:
    """`Key: value` (ASCII or full-width colon) as (normalized key, value), or None."""
    cut, wide = item.find(":"), item.find("：")
    if cut < 0 or 0 <= wide < cut:
        cut = wide
    if cut <= 0:
        return None
    return " ".join(item[:cut].casefold().split()), item[cut + 1 :].strip()


def _heading(line: str) -> str | None:
    if len(line) > _HEADING_MAX:
        return None
    return _HEADINGS.get(" ".join(line.casefold().split()))


@dataclass(slots=True)
class _Page:
    """What the pass over the lines has gathered so far."""

    source: str
    summary: dict[str, list[str]] = field(default_factory=dict)
    body: dict[str, list[str]] = field(default_factory=dict)
    see_also: list[str] = field(default_factory=list)
    lead_seen: set[str] = field(default_factory=set)
    lead_lines: list[str] = field(default_factory=list)
    body_date: dt.date | None = None
    evidence: str | None = None
    scalars: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in _LIST_FIELDS})
    where: dict[str, int] = field(default_factory=dict)

    def _prose(self, line: str) -> tuple[str, str]:
        text, titles = _take_cross_refs(line)
        for title in titles:
            if title not in self.see_also:
                self.see_also.append(title)
        return text, "en" if text.isascii() else language_of(text)

    def lead(self, line: str) -> None:
        text, lang = self._prose(line)
        if text and text not in self.lead_seen:
            self.lead_seen.add(text)
            self.lead_lines.append(text)
            self.summary.setdefault(lang, []).append(text)

    def paragraph(self, line: str) -> None:
        text, lang = self._prose(line)
        if text:
            self.body.setdefault(lang, []).append(text)
            if self.body_date is None:
                self.body_date = _first_date(text)

    def item(self, section: str, item: str, number: int) -> None:
        if section == _BRIEF:
            pair = _split_key(item)
            if pair is not None and pair[0] in _BRIEF_KEYS:
                self._keyed(_BRIEF_KEYS[pair[0]], pair[1], number)
            return
        if section == _CONTEXT:
            pair = _split_key(item)
            if pair is not None and pair[0] in _CONTEXT_KEYS:
                self._keyed(_CONTEXT_KEYS[pair[0]], pair[1], number)
                return
        items = self.lists[_SECTION_LISTS[section]]
        self.where[f"{_SECTION_LISTS[section]}.{len(items)}"] = number
        items.append(item)

    def _keyed(self, key: tuple[str, str], value: str, number: int) -> None:
        name, spelled = key
        if name in self.scalars:
            if self.scalars[name] != value:
                raise SourceError(
                    self.source, f"`- {spelled}:` given twice with different values", number
                )
            return
        self.scalars[name] = value
        self.where[name] = number

    def fail(self, reason: str, name: str) -> SourceError:
        return SourceError(self.source, reason, self.where.get(name))

    def score(self) -> float | None:
        value = self.scalars.get("confidence")
        if value is None:
            return None
        if _NUMBER.fullmatch(value) is None:
            raise self.fail(f"Confidence {value!r} is not a number", "confidence")
        score = float(value)
        if not 0.0 <= score <= 1.0:
            raise self.fail(f"Confidence {value} is outside 0–1", "confidence")
        return score

    def published(self) -> dt.date | None:
        value = self.scalars.get("published")
        if value is None:
            return self.body_date or next(filter(None, map(_first_date, self.lead_lines)), None)
        found = _exact_date(value)
        if found is None:
            raise self.fail(f"Published {value!r} is not a date", "published")
        return found

    def record(self) -> dict[str, Any]:
        title = self.scalars.get("title")
        if title is None:
            raise SourceError(self.source, "no `- Signal:` item in Signal Brief")
        if not title:
            raise self.fail("empty `- Signal:` item", "title")
        fields: dict[str, Any] = {
            "id": derived_id(title),
            "title": title,
            "titles": {language_of(title): title},
            "url": None,
            "source": self.source,
            "summary": self.summary,
            "body": self.body,
            "see_also": self.see_also,
            "evidence": self.evidence,
            "published": self.published(),
            **self.lists,
        }
        for name in (
            "signal_type",
            "region",
            "market_class",
            "operational_relevance",
            "time_horizon",
        ):
            fields[name] = self.scalars.get(name) or None
        fields["confidence"] = self.score()  # the model derives tier, label and internal
        return fields

    def signal(self) -> Signal:
        fields = self.record()
        try:
            return Signal.model_validate(fields)
        except ValidationError as exc:
            name, message = describe_validation_error(exc)[0]
            line = self.where.get(name, self.where.get(name.split(".")[0]))
            if line is None and name.split(".")[0] in ("id", "titles"):
                line = self.where.get("title")
            raise SourceError(self.source, f"{name}: {message}", line) from exc


_NO_LEGEND, _IN_LEGEND, _AFTER_LEGEND = 0, 1, 2


def read_page(source: str, text: str) -> Parsed:
    """Parse one published signal page into a `Parsed` with its one signal (or SourceError)."""
    page = _Page(source)
    section: str | None = None
    in_lead = True
    legend = _NO_LEGEND
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line == "-":
            continue
        first = line[0]
        if first == "|":
            section, in_lead = None, False
            if legend == _NO_LEGEND:
                legend = _IN_LEGEND
            continue
        is_item = first == "-" and line[1].isspace()
        heading = None if is_item else _heading(line)
        if legend == _IN_LEGEND:
            legend = _AFTER_LEGEND
            if heading is None:
                page.evidence = line
                continue
        if heading is not None:
            if heading == _MEMBER:
                break
            section, in_lead = heading, False
            continue
        if is_item and section is not None:
            page.item(section, line[2:].lstrip(), number)
            continue
        section = None
        if in_lead:
            page.lead(line)
        else:
            page.paragraph(line)
    signal = page.signal()
    lines = {signal.id: page.where["market_class"]} if "market_class" in page.where else {}
    return Parsed(source=source, signals=[signal], class_lines=lines)


READERS = (text_reader("pages", read_page, (".txt",), order=10),)
