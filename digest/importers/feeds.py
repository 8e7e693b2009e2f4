"""RSS and Atom feeds (through feedparser), from a file path or an http(s) URL.

Each entry becomes a signal: title, summary, published date, link; its first category becomes the
market class, through the configurable map (a category not in the map is used as written). A
feed that cannot be fetched or parsed is one SourceError; the other sources still import.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import feedparser
from pydantic import ValidationError
from selectolax.lexbor import LexborHTMLParser

from digest import __version__
from digest.importers.base import Parsed, SourceError, describe_validation_error
from digest.model import Signal
from digest.text import derived_id, language_of

FEED_EXTENSIONS = (".xml", ".rss", ".atom")


def is_feed_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def fetch(location: str, timeout: float) -> bytes:
    """The feed's bytes; any network failure is a SourceError that names the URL."""
    request = urllib.request.Request(location, headers={"User-Agent": f"digest/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise SourceError(location, f"feed unreachable: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceError(location, f"feed unreachable: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise SourceError(location, f"feed unreachable: {exc or 'timed out'}") from None


def _plain(html: str) -> str:
    tree = LexborHTMLParser(html)
    return " ".join((tree.text(separator=" ") if tree.body or tree.root else html).split())


def _published(entry: Mapping[str, Any]) -> dt.date | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return dt.date(*stamp[:3]) if stamp else None  # feedparser gives UTC struct_time


def _market_class(entry: Mapping[str, Any], category_map: Mapping[str, str]) -> str | None:
    tags = entry.get("tags") or []
    if not tags or not tags[0].get("term"):
        return None
    term = str(tags[0]["term"]).strip()
    lowered = {k.casefold(): v for k, v in category_map.items()}
    return lowered.get(term.casefold(), term)


def entry_signal(entry: Mapping[str, Any], source: str, category_map: Mapping[str, str]) -> Signal:
    title = _plain(entry.get("title") or "")
    summary = _plain(entry.get("summary") or "")
    return Signal(
        id=str(entry.get("id") or entry.get("link") or derived_id(title)),
        title=title,
        titles={language_of(title): title} if title else {},
        url=entry.get("link") or None,
        source=source,
        summary={language_of(summary): [summary]} if summary else {},
        market_class=_market_class(entry, category_map),
        published=_published(entry),
    )


def parse_feed(source: str, data: bytes, category_map: Mapping[str, str]) -> Parsed:
    feed = feedparser.parse(data)
    exc = feed.get("bozo_exception")
    if feed.bozo and not isinstance(exc, feedparser.CharacterEncodingOverride):
        line = exc.getLineNumber() if hasattr(exc, "getLineNumber") else None
        raise SourceError(source, f"not a valid RSS or Atom feed: {exc}", line)
    if not feed.version and not feed.entries:
        raise SourceError(source, "not an RSS or Atom feed (no feed element found)")
    parsed = Parsed(source)
    for number, entry in enumerate(feed.entries, start=1):
        try:
            parsed.signals.append(entry_signal(entry, source, category_map))
        except ValidationError as exc:
            field, message = describe_validation_error(exc)[0]
            parsed.errors.append(SourceError(source, f"entry {number}: {field}: {message}"))
    return parsed


def read_feed(location: str, *, timeout: float, category_map: Mapping[str, str]) -> Parsed:
    if is_feed_url(location):
        data = fetch(location, timeout)
    else:
        try:
            data = Path(location).read_bytes()
        except OSError as exc:
            raise SourceError(location, f"cannot read file: {exc.strerror or exc}") from None
    return parse_feed(location, data, category_map)
