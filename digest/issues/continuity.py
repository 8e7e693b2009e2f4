"""Continuity: what an earlier issue said of a signal that comes back in this one.

The store keeps one row per signal, and a re-import moves its `published` into the newer week,
so without the readings table (`signal_readings`) a changed rating would pass unremarked. A
signal is "Updated" when its newest earlier reading (the same id, or the signal its `see_also`
names) had another rating; a follow-up of an earlier signal links back to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from digest.model import Signal
from digest.period import Period
from digest.signals.store import earlier_readings, earlier_signals_named


@dataclass(frozen=True)
class Continuity:
    """One signal's link to its earlier reading."""

    since: dt.date
    """When the earlier reading was published."""
    before: str | None
    """The earlier rating as shown ("C/D", or the score when the tier is the same)."""
    now: str | None
    follows: str | None = None
    """The earlier signal's id when this one follows it up (`see_also`); None for the same id."""

    @property
    def changed(self) -> bool:
        return self.before != self.now


def _ratings(
    before: tuple[float | None, str | None], now: tuple[float | None, str | None]
) -> tuple[str | None, str | None]:
    """Tiers when they differ, else scores: the smallest change worth telling a reader."""
    (old_score, old_tier), (new_score, new_tier) = before, now
    if old_tier != new_tier:
        return old_tier, new_tier

    def score(value: float | None) -> str | None:
        return f"{value:.2f}" if value is not None else None

    return score(old_score), score(new_score)


def history(conn: Connection, signals: Sequence[Signal], period: Period) -> dict[str, Continuity]:
    """{signal id: its continuity} for the period's signals that have an earlier reading
    whose rating changed, or that follow up an earlier signal."""
    ids = {s.id for s in signals}
    earlier = earlier_readings(conn, ids, period.start)
    refs = {ref for s in signals for ref in s.see_also}
    named = earlier_signals_named(conn, refs, period.start)
    followed = earlier_readings(conn, {sid for sid, _ in named.values()} - ids, period.start)
    out: dict[str, Continuity] = {}
    for s in signals:
        now = (s.confidence, s.tier)
        if s.id in earlier:
            published, confidence, tier = earlier[s.id]
            before, shown = _ratings((confidence, tier), now)
            if before != shown:
                out[s.id] = Continuity(published, before, shown)
                continue
        for ref in s.see_also:
            target = named.get(ref)
            if target is None or target[0] not in followed:
                continue
            published, confidence, tier = followed[target[0]]
            before, shown = _ratings((confidence, tier), now)
            out[s.id] = Continuity(published, before, shown, follows=target[0])
            break
    return out
