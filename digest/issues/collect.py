"""Collect: the signals of one period, from the store or from given files.

Ingest is the only stage that reads the configured sources: a build of a stored period reads the
store and nothing else, so it never touches the network (a scheduled run used to fetch each feed
three times: ingest, build and the preflight's trial build). `digest build --signals PATH` still
reads those files directly, with no database.

Internal-monitoring signals are kept here (editors see them, flagged) and dropped only when an
issue is made from the collection, so no edition can ever receive one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from digest.config import Sources
from digest.model import Signal
from digest.period import Period
from digest.signals.ingest import load_signals
from digest.signals.merging import merge_by_id
from digest.signals.readers.base import SourceError
from digest.signals.store import signals_between


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


def in_period(signals: Iterable[Signal], period: Period) -> list[Signal]:
    """Signals published inside the period; an undated signal belongs to no period."""
    return [s for s in signals if s.published is not None and s.published in period]


def from_files(paths: Sequence[str], sources: Sources, period: Period) -> Collection:
    """`digest build --signals`: only these inputs, no database."""
    signals, errors = load_signals(paths, sources)
    return Collection(period, in_period(merge_by_id(signals), period), errors)


def from_store(engine: Engine, period: Period) -> Collection:
    """The store's signals for the period (and nothing else: no source is read)."""
    with engine.connect() as conn:
        stored = signals_between(conn, period.start, period.end)
    return Collection(period, sorted(stored, key=lambda s: (s.published, s.id)))
