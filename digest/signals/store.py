"""The signals stage's tables: storing signals and reading them back by period.

A signal is keyed by its id, so re-importing updates it in place and the same signal from two
sources is one row. Each source's own reading is kept (`signal_sources`) and the stored record is
those readings folded in import order (`digest.signals.merging`): re-importing a changed page
updates what the page says and never erases the member-only text the editor's Markdown supplied.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, delete, func, insert, select, tuple_, update

from digest.model import Signal
from digest.signals.merging import fold
from digest.storage.schema import signal_readings as readings
from digest.storage.schema import signal_sources as src
from digest.storage.schema import signals as t
from digest.text import derived_id

_CHUNK = 500
log = logging.getLogger(__name__)


@dataclass
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: StoreCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


def _hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _row(record: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    published = record["published"]
    return {
        "id": record["id"],
        "title": record["title"],
        "published": dt.date.fromisoformat(published) if published else None,
        "market_class": record["market_class"],
        "tier": record["tier"],
        "confidence": record["confidence"],
        "internal": record["internal"],
        "source": record["source"],
        "data": record,
        "content_hash": _hash(record),
        "updated_at": now,
    }


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


Reading = tuple[dt.date | None, float | None, str | None]
"""What one import said of a signal's place and rating: published, confidence, tier."""


def _existing(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, Reading]]:
    """{id: (content hash, current reading)} of the stored signals among `ids`."""
    found: dict[str, tuple[str, Reading]] = {}
    columns = (t.c.id, t.c.content_hash, t.c.published, t.c.confidence, t.c.tier)
    for chunk in _chunks(ids):
        for row in conn.execute(select(*columns).where(t.c.id.in_(chunk))):
            found[row.id] = (row.content_hash, (row.published, row.confidence, row.tier))
    return found


def _reading(row: dict[str, Any]) -> Reading:
    return row["published"], row["confidence"], row["tier"]


def _write_sources(
    conn: Connection, records: dict[tuple[str, str], dict[str, Any]], now: dt.datetime
) -> None:
    """Replace each (signal, source) record of the batch with its new reading."""
    keys = list(records)
    for chunk in _chunks(keys):
        conn.execute(delete(src).where(tuple_(src.c.signal_id, src.c.source).in_(chunk)))
    rows = [
        {"signal_id": sid, "source": source, "data": record, "imported_at": now, "position": i}
        for i, ((sid, source), record) in enumerate(records.items())
    ]
    conn.execute(insert(src), rows)


def _folded(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each signal's record: all its sources folded, oldest import first."""
    readings: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(ids):
        query = (
            select(src.c.signal_id, src.c.data)
            .where(src.c.signal_id.in_(chunk))
            .order_by(src.c.signal_id, src.c.imported_at, src.c.position)
        )
        for row in conn.execute(query):
            readings.setdefault(row.signal_id, []).append(row.data)
    return {sid: fold(records) for sid, records in readings.items()}


def store_signals(conn: Connection, batch: Iterable[Signal]) -> StoreCounts:
    """Upsert a batch inside the caller's transaction (a source is never half-written)."""
    now = dt.datetime.now(dt.UTC)
    records = {(s.id, s.source or ""): s.to_json_dict() for s in batch}  # a later reading wins
    if not records:
        return StoreCounts()
    _write_sources(conn, records, now)
    ids = list(dict.fromkeys(sid for sid, _ in records))
    existing = _existing(conn, ids)
    inserts, updates, counts = [], [], StoreCounts()
    new_readings: list[dict[str, Any]] = []
    for sid, record in _folded(conn, ids).items():
        row = _row(record, now)
        old_hash, old_reading = existing.get(sid, (None, None))
        if old_reading != _reading(row):  # a new signal, or a new date or rating: keep it
            published, confidence, tier = _reading(row)
            new_readings.append(
                {
                    "signal_id": sid,
                    "published": published,
                    "confidence": confidence,
                    "tier": tier,
                    "recorded_at": now,
                }
            )
        if old_hash is None:
            inserts.append({**row, "created_at": now})
            counts.new += 1
        elif old_hash == row["content_hash"]:
            counts.unchanged += 1
        else:
            del row["id"]
            updates.append({**row, "b_id": sid})
            counts.updated += 1
    if inserts:
        conn.execute(insert(t), inserts)
    if updates:
        conn.execute(update(t).where(t.c.id == bindparam("b_id")), updates)
    if new_readings:
        conn.execute(insert(readings), new_readings)
    return counts


def earlier_readings(
    conn: Connection, ids: Iterable[str], before: dt.date
) -> dict[str, tuple[dt.date, float | None, str | None]]:
    """Each signal's newest reading published before `before` (a day), if it has one: what
    an earlier issue said of it. {id: (published, confidence, tier)}."""
    found: dict[str, tuple[dt.date, float | None, str | None]] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = (
            select(
                readings.c.signal_id, readings.c.published, readings.c.confidence, readings.c.tier
            )
            .where(readings.c.signal_id.in_(chunk), readings.c.published < before)
            .order_by(readings.c.signal_id, readings.c.published, readings.c.id)
        )
        for row in conn.execute(query):  # ascending: the newest one wins
            found[row.signal_id] = (row.published, row.confidence, row.tier)
    return found


def signals_between(
    conn: Connection,
    start: dt.date,
    end: dt.date,
    *,
    include_internal: bool = True,
    stored_after: dt.datetime | None = None,
) -> list[Signal]:
    """Signals published from `start` to `end` inclusive, oldest first; optionally only those
    first stored after `stored_after` (as `ids_between`)."""
    query = select(t.c.data).where(t.c.published >= start, t.c.published <= end)
    if not include_internal:
        query = query.where(t.c.internal.is_(False))
    if stored_after is not None:
        query = query.where(t.c.created_at > stored_after)
    rows = conn.execute(query.order_by(t.c.published, t.c.id))
    return [stored_signal(row.data) for row in rows]


def get_signal(conn: Connection, signal_id: str) -> Signal | None:
    row = conn.execute(select(t.c.data).where(t.c.id == signal_id)).first()
    return stored_signal(row.data) if row else None


def stored_signal(data: dict[str, Any]) -> Signal:
    """A stored record as a Signal. One stored before the size caps existed may exceed them:
    its over-long values are read cut to their caps (and a warning names the signal and the
    fields), rather than every build and archive page of its week failing on it."""
    try:
        return Signal.model_validate(data)
    except ValidationError as exc:
        cut = _cut_to_caps(data, exc)
        if cut is None:
            raise
        record, fields = cut
        log.warning(
            "signal %s: stored %s over the size cap; read cut to it", data.get("id"), fields
        )
        return Signal.model_validate(record)


def _cut_to_caps(data: dict[str, Any], exc: ValidationError) -> tuple[dict[str, Any], str] | None:
    """`data` with each value over its cap cut to it, and those fields named; None when `exc`
    is about anything else (or the id, which names the row and is never cut)."""
    record = copy.deepcopy(data)
    fields = []
    for err in exc.errors():
        cap = (err.get("ctx") or {}).get("max_length")
        if err["type"] not in ("string_too_long", "too_long") or cap is None:
            return None
        *path, last = err["loc"]
        if not path and last == "id":
            return None
        holder: Any = record
        for key in path:
            holder = holder[key]
        holder[last] = holder[last][:cap]
        fields.append(".".join(str(part) for part in err["loc"]))
    return record, ", ".join(fields)


def count_signals(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


def stored_classes(conn: Connection) -> list[str]:
    """The market classes stored signals use, sorted (one DISTINCT query)."""
    query = select(t.c.market_class).where(t.c.market_class.is_not(None)).distinct()
    return sorted(str(c) for (c,) in conn.execute(query))


def classes_of(conn: Connection, ids: Iterable[str]) -> set[str]:
    """The market classes of the stored signals with these ids."""
    classes: set[str] = set()
    for chunk in _chunks(sorted(set(ids))):
        query = select(t.c.market_class).where(t.c.id.in_(chunk)).distinct()
        classes.update(str(c) for (c,) in conn.execute(query) if c)
    return classes


def published_counts(conn: Connection) -> list[tuple[dt.date, int]]:
    """(publication date, signals published that day) for every dated signal."""
    query = (
        select(t.c.published, func.count())
        .where(t.c.published.is_not(None))
        .group_by(t.c.published)
    )
    return [(day, int(n)) for day, n in conn.execute(query)]


def latest_published(conn: Connection) -> dt.date | None:
    value = conn.execute(select(func.max(t.c.published))).scalar_one()
    return value if value is None or isinstance(value, dt.date) else dt.date.fromisoformat(value)


def week_class_counts(conn: Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """{(ISO week, market class): (signals, of which internal)} for the store's overview."""
    query = select(t.c.published, t.c.market_class, t.c.internal, func.count()).group_by(
        t.c.published, t.c.market_class, t.c.internal
    )
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for published, market_class, internal, n in conn.execute(query):
        if published is None:
            week = "undated"
        else:
            year, number, _ = published.isocalendar()
            week = f"{year}-W{number:02d}"
        total, internal_n = out.get((week, market_class or "(none)"), (0, 0))
        out[(week, market_class or "(none)")] = (total + n, internal_n + (n if internal else 0))
    return out


def stored_dates(conn: Connection, signal_id: str) -> tuple[dt.date | None, dt.datetime] | None:
    """(publication date, when it was first stored) of one signal; None if there is none."""
    row = conn.execute(select(t.c.published, t.c.created_at).where(t.c.id == signal_id)).first()
    return None if row is None else (row.published, row.created_at)


def ids_between(
    conn: Connection, start: dt.date, end: dt.date, *, stored_after: dt.datetime | None = None
) -> set[str]:
    """Ids of the signals published from `start` to `end`, optionally only those first stored
    after `stored_after`."""
    query = select(t.c.id).where(t.c.published >= start, t.c.published <= end)
    if stored_after is not None:
        query = query.where(t.c.created_at > stored_after)
    return set(conn.execute(query).scalars())


def dating(conn: Connection, ids: Iterable[str]) -> dict[str, tuple[dt.date | None, bool]]:
    """Each stored id's `published` date and whether it is internal monitoring (missing ids are
    absent): what an editor's control needs to check an id belongs to a period's editions."""
    query = select(t.c.id, t.c.published, t.c.internal).where(t.c.id.in_(list(ids)))
    return {row.id: (row.published, bool(row.internal)) for row in conn.execute(query)}


def earlier_signals_named(
    conn: Connection, refs: Iterable[str], before: dt.date
) -> dict[str, tuple[str, str]]:
    """`see_also` references resolved to signals published before `before`: a reference is
    a signal's id, its title, or the title its derived id came from. {ref: (id, title)}."""
    refs = sorted(set(refs))
    if not refs:
        return {}
    wanted = {r: r for r in refs} | {derived_id(r): r for r in refs}
    found: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(refs):
        keys = [*chunk, *(derived_id(r) for r in chunk)]
        query = select(t.c.id, t.c.title).where(
            (t.c.id.in_(keys) | t.c.title.in_(chunk)), t.c.published < before
        )
        for row in conn.execute(query):
            ref = wanted.get(row.id) or (row.title if row.title in wanted else None)
            if ref is not None:
                found.setdefault(ref, (row.id, row.title))
    return found
