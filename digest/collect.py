"""Collect: the signals of one period, from the store, the configured sources, or given files.

Internal-monitoring signals are kept here (editors see them, flagged) and dropped only when an
issue is made from the collection, so no edition can ever receive one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from digest.config import Sources
from digest.importers.base import SourceError
from digest.ingest import load_signals
from digest.model import Signal
from digest.period import Period
from digest.storage.signals import merge, signals_between


@dataclass
class Collection:
    """The period's signals (internal ones included) and any source that failed to read."""

    period: Period
    signals: list[Signal]
    errors: list[SourceError] = field(default_factory=list)

    @property
    def publishable(self) -> list[Signal]:
        """What an issue may contain: everything but internal monitoring."""
        return [s for s in self.signals if not s.internal]

    @property
    def internal(self) -> list[Signal]:
        return [s for s in self.signals if s.internal]


def _filled(record: dict[str, Any]) -> int:
    return sum(1 for v in record.values() if v not in (None, "", [], {}))


def merge_same_id(signals: Iterable[Signal]) -> list[Signal]:
    """One signal per id: the same story read from a page and from the editor's Markdown is one.

    The record with more fields filled wins; its empty fields are filled from the other, as the
    store does when a second source supplies the same signal.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for signal in signals:
        record = signal.to_json_dict()
        prior = by_id.get(signal.id)
        if prior is None:
            by_id[signal.id] = record
            continue
        rich, poor = (record, prior) if _filled(record) > _filled(prior) else (prior, record)
        by_id[signal.id] = merge(poor, rich)
    return [Signal.model_validate(r) for r in by_id.values()]


def in_period(signals: Iterable[Signal], period: Period) -> list[Signal]:
    """Signals published inside the period; an undated signal belongs to no period."""
    return [s for s in signals if s.published is not None and s.published in period]


def from_files(paths: Sequence[str], sources: Sources, period: Period) -> Collection:
    """`digest build --signals`: only these inputs, no database."""
    signals, errors = load_signals(paths, sources)
    return Collection(period, in_period(merge_same_id(signals), period), errors)


def from_store(engine: Engine, sources: Sources, period: Period) -> Collection:
    """The store's signals for the period, plus the configured sources read afresh."""
    with engine.connect() as conn:
        stored = signals_between(conn, period.start, period.end)
    errors: list[SourceError] = []
    extra: list[Signal] = []
    if sources.paths:
        extra, errors = load_signals(sources.paths, sources)
    merged = merge_same_id([*stored, *in_period(extra, period)])
    return Collection(period, sorted(merged, key=lambda s: (s.published, s.id)), errors)
