"""RSS and Atom feeds (through feedparser), from a file path or an http(s) URL.

Each entry becomes a signal: title, summary, published date, link; its first category becomes the
market class, through the configurable map (a category not in the map is used as written).

Feeds are written by many hands, so the importer takes what feedparser recovers and says what it
did: a recoverable fault (an HTML entity XML does not define, a mismatched tag, a wrong encoding
declaration) is a warning naming the entry and line (see `feedfaults`); an entry it cannot turn
into a signal is an error naming the entry; only a feed that cannot be fetched, is too large or
is no feed at all is one SourceError for the whole source, and the other sources still import.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import feedparser

from digest.config import Sources
from digest.signals.readers.base import Parsed, Reader, SourceError, SourceWarning
from digest.signals.readers.entries import EntryProblem, entry_signal
from digest.signals.readers.feedfaults import Fault, faults
from digest.signals.readers.fetch import fetch

FEED_EXTENSIONS = (".xml", ".rss", ".atom")
FEED_SCHEMES = ("http", "https")


def is_feed_url(location: str) -> bool:
    return location.startswith(tuple(f"{scheme}://" for scheme in FEED_SCHEMES))


def _entry_label(number: int, title: str) -> str:
    shown = title if len(title) <= 60 else title[:59] + "…"
    return f"entry {number} {shown!r}" if shown else f"entry {number}"


def _parse(
    data: bytes, base_url: str | None, content_type: str | None
) -> feedparser.FeedParserDict:
    """feedparser's reading of `data`. A stream, never bytes: feedparser opens bytes that name a
    file as that file (a feed whose body is `/dev/zero` would never end). Response headers only
    for a fetched feed, and its Content-Type with them: given headers without one, feedparser
    flags a perfect feed `NonXMLContentType`."""
    if base_url is None:
        return feedparser.parse(io.BytesIO(data))
    headers = {"content-location": base_url}
    if content_type:  # absent, feedparser says "no Content-type specified"
        headers["content-type"] = content_type
    return feedparser.parse(io.BytesIO(data), response_headers=headers)


def parse_feed(
    source: str,
    data: bytes,
    category_map: Mapping[str, str],
    base_url: str | None = None,
    content_type: str | None = None,
) -> Parsed:
    """The feed's entries as signals; `base_url` resolves relative links (the fetched URL) and
    `content_type` is what its server declared."""
    feed = _parse(data, base_url, content_type)
    if not feed.get("version") and not feed.entries:
        raise SourceError(source, "not an RSS or Atom feed (no feed element found)")
    found = faults(feed, data)
    fatal = {f.entry for f in found if f.fatal}
    parsed = Parsed(source)
    titles: dict[int, str] = {}
    for number, entry in enumerate(feed.entries, start=1):
        if number in fatal:
            continue
        try:
            signal, notes = entry_signal(entry, source, category_map)
        except EntryProblem as exc:
            label = _entry_label(number, exc.title)
            parsed.errors.append(SourceError(source, f"{label}: {exc}"))
            continue
        titles[number] = signal.title
        parsed.signals.append(signal)
        label = _entry_label(number, signal.title)
        parsed.warnings += [SourceWarning(source, f"{label}: {note}") for note in notes]
    parsed.errors += [_fault_error(source, f, feed) for f in found if f.fatal]
    parsed.warnings += [_fault_warning(source, f, titles) for f in found if not f.fatal]
    return parsed


def _fault_error(source: str, fault: Fault, feed: feedparser.FeedParserDict) -> SourceError:
    assert fault.entry is not None
    title = str(feed.entries[fault.entry - 1].get("title") or "")
    label = _entry_label(fault.entry, " ".join(title.split()))
    return SourceError(source, f"{label}: {fault.reason}; not imported", fault.line)


def _fault_warning(source: str, fault: Fault, titles: Mapping[int, str]) -> SourceWarning:
    if fault.entry is None:
        where = "feed header (outside any entry)" if fault.line is not None else "feed"
    else:
        where = _entry_label(fault.entry, titles.get(fault.entry, ""))
    return SourceWarning(source, f"{where}: {fault.reason}", fault.line)


def _read_file(location: str, max_bytes: int) -> bytes:
    try:
        with Path(location).open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(location, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceError(
            location,
            f"feed too large: more than {max_bytes:,} bytes (sources.feed_max_bytes)",
        )
    return data


def read_feed(
    location: str, *, timeout: float, max_bytes: int, category_map: Mapping[str, str]
) -> Parsed:
    """The feed at `location` (URL or file); a URL gets `timeout` seconds for the whole fetch."""
    if is_feed_url(location):
        fetched = fetch(location, timeout=timeout, max_bytes=max_bytes)
        return parse_feed(
            location,
            fetched.body,
            category_map,
            base_url=location,
            content_type=fetched.content_type,
        )
    return parse_feed(location, _read_file(location, max_bytes), category_map)


def _read(location: str, sources: Sources) -> Parsed:
    return read_feed(
        location,
        timeout=sources.feed_timeout,
        max_bytes=sources.feed_max_bytes,
        category_map=sources.category_map,
    )


READERS = (Reader("feeds", _read, FEED_EXTENSIONS, schemes=FEED_SCHEMES, order=40),)
