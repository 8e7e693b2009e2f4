"""Storing signals and reading them back by period.

A signal is keyed by its id, so re-importing updates it in place and the same signal from two
sources is one row. When a second source supplies the same signal (a published page, then the
editor's Markdown with the member-only text), the fields it leaves empty keep the first source's
values; a re-import from the same source replaces the record whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, update

from digest.model import Signal
from digest.storage.schema import signals as t

_CHUNK = 500


@dataclass
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: StoreCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`, with the fields it leaves empty filled from `old` (a different source's record)."""
    return {k: (old.get(k) if _empty(v) and not _empty(old.get(k)) else v) for k, v in new.items()}


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


def _existing(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in conn.execute(
            select(t.c.id, t.c.data, t.c.content_hash).where(t.c.id.in_(chunk))
        ):
            found[row.id] = {"data": row.data, "hash": row.content_hash}
    return found


def _dedupe(batch: Iterable[Signal]) -> dict[str, dict[str, Any]]:
    """One record per id within a batch; a later duplicate merges into the earlier one."""
    out: dict[str, dict[str, Any]] = {}
    for signal in batch:
        record = signal.to_json_dict()
        prior = out.get(record["id"])
        out[record["id"]] = merge(prior, record) if prior else record
    return out


def store_signals(conn: Connection, batch: Iterable[Signal]) -> StoreCounts:
    """Upsert a batch inside the caller's transaction (one transaction per source)."""
    records = _dedupe(batch)
    existing = _existing(conn, list(records))
    now = dt.datetime.now(dt.UTC)
    inserts, updates, counts = [], [], StoreCounts()
    for sid, record in records.items():
        old = existing.get(sid)
        if old is None:
            inserts.append({**_row(record, now), "created_at": now})
            counts.new += 1
            continue
        if old["data"].get("source") != record["source"]:
            record = merge(old["data"], record)
        row = _row(record, now)
        if row["content_hash"] == old["hash"]:
            counts.unchanged += 1
        else:
            del row["id"]
            updates.append({**row, "b_id": sid})
            counts.updated += 1
    if inserts:
        conn.execute(insert(t), inserts)
    if updates:
        conn.execute(update(t).where(t.c.id == bindparam("b_id")), updates)
    return counts


def signals_between(
    conn: Connection, start: dt.date, end: dt.date, *, include_internal: bool = True
) -> list[Signal]:
    """Signals published from `start` to `end` inclusive, oldest first."""
    query = select(t.c.data).where(t.c.published >= start, t.c.published <= end)
    if not include_internal:
        query = query.where(t.c.internal.is_(False))
    rows = conn.execute(query.order_by(t.c.published, t.c.id))
    return [Signal.model_validate(row.data) for row in rows]


def get_signal(conn: Connection, signal_id: str) -> Signal | None:
    row = conn.execute(select(t.c.data).where(t.c.id == signal_id)).first()
    return Signal.model_validate(row.data) if row else None


def count_signals(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


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
