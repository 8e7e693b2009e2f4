"""Signals in: find the sources behind the given paths, parse each, store each in one transaction.

Each source is read by the reader the registry (`digest.signals.readers`) finds for it.

A source is one file or one feed. A bad source (or a bad record inside one) is reported and the
rest still import; a source's good records are written together or not at all.

A signal whose market class is new (neither configured in `editions.class_order` nor used by a
signal stored before this ingest, spelt exactly) imports, since a publication may add classes,
but is reported as a warning with the nearest known class: a misspelt class would otherwise
become a section of its own in every edition, and a class subscribers could follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from digest.config import Editions, Sources
from digest.model import Signal
from digest.signals.classes import MarketClasses
from digest.signals.readers import Parsed, SourceError, SourceWarning, registry
from digest.signals.store import StoreCounts, store_signals, stored_classes


@dataclass
class SourceReport:
    source: str
    signals: int = 0
    errors: list[SourceError] = field(default_factory=list)
    warnings: list[SourceWarning] = field(default_factory=list)


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    counts: StoreCounts = field(default_factory=StoreCounts)

    @property
    def errors(self) -> list[SourceError]:
        return [e for s in self.sources for e in s.errors]

    @property
    def warnings(self) -> list[SourceWarning]:
        """Faults recovered from: the records imported; an editor may want to look."""
        return [w for s in self.sources for w in s.warnings]

    @property
    def signals(self) -> int:
        return sum(s.signals for s in self.sources)


def discover(paths: Iterable[str]) -> Iterator[str | SourceError]:
    """Each source behind `paths`: URLs as given, folders searched recursively by extension."""
    readers = registry()
    known = readers.extensions()
    for raw in paths:
        if readers.claims_url(raw):
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in known)
            yield from (str(p) for p in found if p.is_file())
        elif path.is_file():
            if path.suffix.lower() in known:
                yield raw
            else:
                listed = ", ".join(known)
                yield SourceError(raw, f"unknown file type {path.suffix!r} (known: {listed})")
        else:
            yield SourceError(raw, "no such file, folder or feed URL")


def parse_source(location: str, sources: Sources) -> Parsed:
    """Parse one source with the reader that claims it; never raises: a failure becomes the
    Parsed's only error."""
    reader = registry().reader_for(location)
    if reader is None:
        return Parsed(location, errors=[SourceError(location, "no reader for this source")])
    try:
        return reader.read(location, sources)
    except SourceError as exc:
        return Parsed(location, errors=[exc])


def _with_default_date(parsed: Parsed, published: dt.date | None) -> Parsed:
    if published is not None:
        parsed.signals = [
            s if s.published else s.model_copy(update={"published": published})
            for s in parsed.signals
        ]
    return parsed


def parse_all(
    paths: Iterable[str],
    sources: Sources,
    published: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Parsed]:
    for found in discover(paths):
        if isinstance(found, SourceError):
            yield Parsed(found.source, errors=[found])
            continue
        if progress:
            progress(found)
        yield _with_default_date(parse_source(found, sources), published)


# Sources are written in groups, each group in one transaction: per-statement overhead would
# otherwise dominate a folder of many small pages. Parsing already happened, so a group holds only
# valid records; should the database still refuse one, the group is retried source by source.
_GROUP_SIGNALS = 1000


def _store_group(engine: Engine, group: list[Parsed], report: IngestReport) -> None:
    try:
        with engine.begin() as conn:
            report.counts.add(store_signals(conn, [s for p in group for s in p.signals]))
    except DBAPIError as exc:
        if len(group) > 1:
            for parsed in group:
                _store_group(engine, [parsed], report)
            return
        failed = next(s for s in report.sources if s.source == group[0].source)
        reason = str(exc.orig).splitlines()[0] if exc.orig else exc.__class__.__name__
        failed.errors.append(SourceError(group[0].source, f"database refused it: {reason}"))


@dataclass(frozen=True)
class KnownClasses:
    """The classes a signal may use without a warning, as they stood when the ingest began."""

    exact: frozenset[str]
    classes: MarketClasses

    @classmethod
    def before(cls, engine: Engine, class_order: Sequence[str] | None) -> KnownClasses:
        """`class_order` (None: the default configuration's) and the stored signals' classes."""
        order = Editions().class_order if class_order is None else class_order
        with engine.connect() as conn:
            stored = stored_classes(conn)
        return cls(frozenset([*order, *stored]), MarketClasses([*order, *stored]))

    def warnings(self, parsed: Parsed) -> list[SourceWarning]:
        """One warning per new class in the source, at the first signal using it.

        Exact spelling counts: sections group by it, so `policy track` is new next to
        `Policy Track` (and the suggestion names the known spelling).
        """
        found: list[SourceWarning] = []
        seen: set[str] = set()
        for signal in parsed.signals:
            value = signal.market_class
            if not value or value in self.exact or value in seen:
                continue
            seen.add(value)
            reason = self.classes.described(f"market class {value!r} is new", value)
            found.append(SourceWarning(parsed.source, reason, parsed.class_lines.get(signal.id)))
        return found


def ingest(
    engine: Engine,
    paths: Iterable[str],
    sources: Sources,
    published: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    class_order: Sequence[str] | None = None,
) -> IngestReport:
    """Parse every source and store its valid signals; never half a source.

    `class_order` is the publication's `editions.class_order` (None: the default one's): a
    signal whose class is neither in it nor stored already imports with a warning.
    """
    report = IngestReport()
    known = KnownClasses.before(engine, class_order)
    group: list[Parsed] = []
    pending = 0
    for parsed in parse_all(paths, sources, published, progress):
        warnings = [*parsed.warnings, *known.warnings(parsed)]
        report.sources.append(
            SourceReport(parsed.source, len(parsed.signals), parsed.errors, warnings)
        )
        if parsed.signals:
            group.append(parsed)
            pending += len(parsed.signals)
        if pending >= _GROUP_SIGNALS:
            _store_group(engine, group, report)
            group, pending = [], 0
    if group:
        _store_group(engine, group, report)
    return report


WARNINGS_LISTED = 20
"""Warnings listed per source; the rest are counted. A feed with an `&nbsp;` in each of its
80,000 entries would otherwise print 80,000 lines into every run's log."""


def listed_warnings(warnings: Iterable[SourceWarning]) -> list[SourceWarning]:
    """The first WARNINGS_LISTED warnings of each source, then one saying how many more."""
    shown: list[SourceWarning] = []
    per_source: dict[str, int] = {}
    for warning in warnings:
        seen = per_source[warning.source] = per_source.get(warning.source, 0) + 1
        if seen <= WARNINGS_LISTED:
            shown.append(warning)
    for source, count in per_source.items():
        if count > WARNINGS_LISTED:
            more = count - WARNINGS_LISTED
            shown.append(SourceWarning(source, f"{more:,} more warnings like these, not listed"))
    return shown


def load_signals(
    paths: Iterable[str], sources: Sources, published: dt.date | None = None
) -> tuple[list[Signal], list[SourceError]]:
    """Signals straight from files, no database (for `build --signals`); errors, no warnings."""
    loaded = load_all(paths, sources, published)
    return loaded.signals, loaded.errors


def load_all(paths: Iterable[str], sources: Sources, published: dt.date | None = None) -> Parsed:
    """Every source's signals, errors and warnings together (for `ingest --json`)."""
    loaded = Parsed(source="")
    for parsed in parse_all(paths, sources, published):
        loaded.signals.extend(parsed.signals)
        loaded.errors.extend(parsed.errors)
        loaded.warnings.extend(parsed.warnings)
    return loaded
