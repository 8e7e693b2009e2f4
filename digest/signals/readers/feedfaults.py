"""What feedparser's `bozo` flag means, entry by entry: faults an editor can act on.

feedparser reads a feed strictly as XML first. At the first fault (an HTML entity such as `&nbsp;`
that XML does not define, a mismatched tag, a wrong encoding declaration) it keeps that fault as
`bozo_exception` and reads the whole document again leniently, recovering what it can; expat's
own location (`<unknown>:1:98`) names neither the feed nor the entry. Here each fault becomes a
`Fault` naming the entry it sits in and the line in the file, so the importer can keep what
feedparser recovered and warn about it.

- Undefined entities are all found (expat stops at the first), grouped per entry.
- A feed cut short inside an entry makes that entry `fatal`: its text is incomplete, so it is
  not imported; the entries before it are whole and import.
- Other faults (other XML errors, encodings) are warnings at the place expat stopped.

Entries are located by their `<item>`/`<entry>` tags in the text feedparser parsed (CDATA and
comments masked), which is also the order of `feed.entries`; where the two counts differ the
fault names its line only.
"""

from __future__ import annotations

import bisect
import re
import xml.sax
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from feedparser import CharacterEncodingOverride, CharacterEncodingUnknown, NonXMLContentType
from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype
from feedparser.util import FeedParserDict

XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
END_OF_INPUT = frozenset(
    {"no element found", "unclosed token", "unclosed CDATA section", "partial character"}
)
_HIDDEN = re.compile(r"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)", re.S)
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ENTRY_TAG = re.compile(r"<(/?)(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])[^>]*?(/?)>", re.I)
_ENTITY = re.compile(r"&([A-Za-z_][\w.-]*);")
_DECLARED = re.compile(r"<!ENTITY\s+%?\s*([\w.-]+)")
_FIRST_ELEMENT = re.compile(r"<[A-Za-z_]")


@dataclass(frozen=True)
class Fault:
    """One recoverable fault: `entry` is 1-based in `feed.entries`, None outside any entry."""

    entry: int | None
    line: int | None
    reason: str
    fatal: bool = False  # the entry's text is incomplete: do not import it


@dataclass
class _Span:
    start: int
    end: int | None = None  # None: never closed


class Document:
    """The feed's text as feedparser's strict parser saw it, with each entry's extent."""

    def __init__(self, data: bytes) -> None:
        utf8: bytes = convert_to_utf8({}, data, FeedParserDict())
        _, stripped, _ = replace_doctype(utf8)
        text = utf8.decode("utf-8", "replace")
        self.text: str = _HIDDEN.sub(lambda m: _NOT_NEWLINE.sub(" ", m.group()), text)
        # replace_doctype rewrites only what precedes the first element: lines after it shift.
        self.shift: int = utf8.count(b"\n") - stripped.count(b"\n")
        self.line_starts: list[int] = [0, *(m.end() for m in _NEWLINE.finditer(self.text))]
        first = _FIRST_ELEMENT.search(self.text)
        self.body_start = first.start() if first else len(self.text)
        self.declared = set(_DECLARED.findall(self.text[: self.body_start]))
        self.spans = list(_entry_spans(self.text))
        # Spans open in order; one never closed ends where the next opens. Sorted, disjoint
        # extents let `entry_at` bisect: a feed of 80,000 entries each with an `&nbsp;` took
        # minutes when every lookup walked every entry.
        self._starts = [span.start for span in self.spans]
        nexts: list[int | None] = [*self._starts[1:], None]
        self._ends = [
            span.end if span.end is not None else nexts[i] for i, span in enumerate(self.spans)
        ]

    def line_of(self, offset: int) -> int:
        low, high = 0, len(self.line_starts)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self.line_starts[middle] <= offset else (low, middle)
        return low + 1

    def offset_of(self, sax_line: int, column: int) -> int:
        """Where expat's (line, column) falls in `text` (columns count characters)."""
        index = min(max(sax_line + self.shift - 1, 0), len(self.line_starts) - 1)
        return min(self.line_starts[index] + max(column, 0), len(self.text))

    def entry_at(self, offset: int) -> int | None:
        """The 1-based entry whose tags enclose `offset` (an unclosed entry reaching to the next
        one's start), or None."""
        number = bisect.bisect_right(self._starts, offset)
        if number == 0:
            return None
        end = self._ends[number - 1]
        return number if end is None or offset < end else None

    def undefined_entities(self) -> Iterator[tuple[int, str]]:
        for match in _ENTITY.finditer(self.text, self.body_start):
            name = match.group(1)
            if name not in XML_ENTITIES and name not in self.declared:
                yield match.start(), name


def _entry_spans(text: str) -> Iterator[_Span]:
    open_span: _Span | None = None
    for tag in _ENTRY_TAG.finditer(text):
        closing, empty = tag.group(1), tag.group(2)
        if not closing:
            if open_span is not None:
                yield open_span  # an entry opened inside another: the first never closed
            open_span = _Span(tag.start(), tag.end() if empty else None)
            if empty:
                yield open_span
                open_span = None
        elif open_span is not None:
            open_span.end = tag.end()
            yield open_span
            open_span = None
    if open_span is not None:
        yield open_span


def faults(feed: Mapping[str, Any], data: bytes) -> list[Fault]:
    """The faults behind `feed.bozo` (none when the feed parsed cleanly)."""
    if not feed.get("bozo"):
        return []
    exc = feed.get("bozo_exception")
    doc = Document(data)
    located = len(doc.spans) == len(feed.get("entries") or [])
    found: list[Fault] = []
    if isinstance(exc, xml.sax.SAXParseException):
        found += _xml_fault(doc, exc, located)
        found += _entity_faults(doc, located)
    else:
        found.append(Fault(None, None, _other_reason(exc)))
    return found


def _xml_fault(doc: Document, exc: xml.sax.SAXParseException, located: bool) -> list[Fault]:
    message = exc.getMessage()
    offset = doc.offset_of(exc.getLineNumber() or 1, exc.getColumnNumber() or 0)
    line = doc.line_of(offset)
    found = []
    if located and doc.spans and doc.spans[-1].end is None:
        reason = "the feed ends inside this entry (cut short?): its text is incomplete"
        found.append(Fault(len(doc.spans), doc.line_of(doc.spans[-1].start), reason, fatal=True))
    elif message in END_OF_INPUT:
        reason = "the feed ends before its closing tags (cut short?); its entries are complete"
        found.append(Fault(None, line, reason))
    if message != "undefined entity" and message not in END_OF_INPUT:
        # (every undefined entity is reported by _entity_faults, not only expat's first)
        entry = doc.entry_at(offset) if located else None
        reason = f"XML error: {message}; read leniently, as feedparser does"
        found.append(Fault(entry, line, reason))
    return found


def _entity_faults(doc: Document, located: bool) -> list[Fault]:
    by_entry: dict[int | None, tuple[int, list[str]]] = {}
    for offset, name in doc.undefined_entities():
        entry = doc.entry_at(offset) if located else None
        _, names = by_entry.setdefault(entry, (doc.line_of(offset), []))
        if name not in names:
            names.append(name)
    out = []
    for entry, (line, names) in by_entry.items():
        shown = ", ".join(f"&{n};" for n in names)
        noun = "entity" if len(names) == 1 else "entities"
        reason = f"undefined {noun} {shown} (HTML, not XML); read as HTML, as feedparser does"
        out.append(Fault(entry, line, reason))
    return out


def _other_reason(exc: object) -> str:
    if isinstance(exc, CharacterEncodingOverride):
        return f"wrong encoding declaration: {exc}"
    if isinstance(exc, NonXMLContentType):
        return f"the server's Content-Type: {exc}; read as a feed anyway"
    if isinstance(exc, CharacterEncodingUnknown):
        return f"unknown encoding, some characters may be garbled: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
