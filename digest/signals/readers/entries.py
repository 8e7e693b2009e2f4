"""One feed entry (as feedparser gives it) → one Signal, or one reason it cannot be one.

- Text is taken as its feed declares it: HTML (`type="html"`, or RSS text feedparser finds to be
  HTML) is reduced to its text; plain text (Atom's `type="text"`) is kept as written, so
  `vector<int>` and `History of the <blink> tag` survive. (Rendering escapes all signal text.)
- An entry without a title (valid RSS 2.0 when it has a description) is titled from the start of
  its description.
- A description longer than a summary paragraph may be (many feeds carry whole articles) is cut
  at a word to that cap, and a title to the title cap, each with a warning: the entry imports,
  where the model alone would refuse it.
- The entry's id (RSS `guid`, Atom `id`) is the signal's id; one longer than the id cap keeps
  its start and a hash of the whole, so the same entry always gets the same id.
- Only an absolute http(s) address becomes the signal's `url`: a guid such as `12345` or
  `urn:3` is an id, not a page, and a `javascript:` link is dropped with a warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from selectolax.lexbor import LexborHTMLParser

from digest.model import ID_MAX, TEXT_MAX, TITLE_MAX, Signal
from digest.signals.readers.base import describe_validation_error
from digest.text import derived_id, language_of

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TITLE_FROM_DESCRIPTION = 120  # characters of the description a title-less entry is titled with
_ID_KEPT = ID_MAX - 41  # the id's start, then `~` and 40 hex digits of the whole id's hash


class EntryProblem(Exception):
    """Why an entry cannot be a signal; `title` names the entry in the message."""

    def __init__(self, reason: str, title: str = "") -> None:
        super().__init__(reason)
        self.title = title


_CONTROLS = dict.fromkeys([*range(0x20), 0x7F])  # C0 controls and DEL: XML forbids them


def _plain(html: str) -> str:
    tree = LexborHTMLParser(html)
    return " ".join((tree.text(separator=" ") if tree.body or tree.root else html).split())


def entry_text(entry: Mapping[str, Any], key: str) -> str:
    """`entry[key]` as plain text, HTML reduced to its text only when the feed says it is HTML.
    Control characters (which XML forbids, and feedparser's lenient reading keeps: a NUL cannot
    be stored) are dropped; whitespace is collapsed."""
    value = " ".join(str(entry.get(key) or "").split()).translate(_CONTROLS)
    detail = entry.get(f"{key}_detail") or {}
    if detail.get("type", "text/html") in HTML_TYPES:
        return _plain(value)
    return " ".join(value.split())


def shortened(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: whole words, `…` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def title_from(description: str) -> str:
    """The description's start as a title."""
    return shortened(description, TITLE_FROM_DESCRIPTION)


def _within(text: str, limit: int, what: str, notes: list[str]) -> str:
    """`text` cut to `limit`, with a note saying so when it was longer."""
    if len(text) <= limit:
        return text
    notes.append(f"{what} cut from {len(text):,} to {limit:,} characters (the cap)")
    return shortened(text, limit)


def entry_id(entry: Mapping[str, Any], title: str) -> str:
    raw = " ".join(str(entry.get("id") or entry.get("link") or "").split())
    if not raw:
        return derived_id(title)
    if len(raw) <= ID_MAX:
        return raw
    return f"{raw[:_ID_KEPT]}~{hashlib.blake2b(raw.encode(), digest_size=20).hexdigest()}"


def is_web_address(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def web_url(entry: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The entry's page (its first http(s) link), and a note when the link it gave is none."""
    link = str(entry.get("link") or "").strip()
    hrefs = [str(other.get("href") or "").strip() for other in entry.get("links") or []]
    found = next((c for c in (link, *hrefs) if is_web_address(c)), None)
    from_guid = bool(entry.get("guidislink")) and link == entry.get("id")  # an id, not a page
    if found is not None or not link or from_guid:
        return found, []
    shown = link if len(link) <= 60 else link[:59] + "…"
    return None, [f"link {shown!r} is not an http(s) address; imported without a URL"]


def _published(entry: Mapping[str, Any], notes: list[str]) -> dt.date | None:
    """The entry's date (feedparser gives UTC struct_time); None, with a note, for one no
    calendar holds (`0000-01-01` parses, then `dt.date` refuses year 0)."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if not stamp:
        return None
    try:
        return dt.date(*stamp[:3])
    except ValueError:
        notes.append(
            f"date {stamp[0]:04d}-{stamp[1]:02d}-{stamp[2]:02d} is no calendar date; "
            "imported without a date"
        )
        return None


def _market_class(entry: Mapping[str, Any], category_map: Mapping[str, str]) -> str | None:
    tags = entry.get("tags") or []
    if not tags or not tags[0].get("term"):
        return None
    term = str(tags[0]["term"]).strip()
    lowered = {k.casefold(): v for k, v in category_map.items()}
    return lowered.get(term.casefold(), term)


def entry_signal(
    entry: Mapping[str, Any], source: str, category_map: Mapping[str, str]
) -> tuple[Signal, list[str]]:
    """The entry's signal and the notes (warnings) its import raised; EntryProblem if none."""
    title = entry_text(entry, "title")
    summary = entry_text(entry, "summary")
    if not title and not summary:
        raise EntryProblem("no title and no description: nothing to make a signal of")
    title = title or title_from(summary)
    url, notes = web_url(entry)
    title = _within(title, TITLE_MAX, "title", notes)
    summary = _within(summary, TEXT_MAX, "description", notes)
    try:
        signal = Signal(
            id=entry_id(entry, title),
            title=title,
            titles={language_of(title): title},
            url=url,
            source=source,
            summary={language_of(summary): [summary]} if summary else {},
            market_class=_market_class(entry, category_map),
            published=_published(entry, notes),
        )
    except ValidationError as exc:
        field, message = describe_validation_error(exc)[0]
        raise EntryProblem(f"field {field!r}: {message}", title) from None
    return signal, notes
