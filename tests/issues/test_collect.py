from __future__ import annotations

import datetime as dt

from digest.issues.collect import Collection, in_period
from digest.model import Signal
from digest.period import parse_period

WEEK = parse_period("2026-W47")


def test_undated_signals_belong_to_no_period() -> None:
    undated = Signal(id="u", title="U")
    inside = Signal(id="i", title="I", published=dt.date(2026, 11, 22))
    outside = Signal(id="o", title="O", published=dt.date(2026, 11, 23))
    assert [s.id for s in in_period([undated, inside, outside], WEEK)] == ["i"]


def test_internal_monitoring_is_listed_for_editors_but_not_publishable() -> None:
    internal = Signal(id="m", title="M", confidence=0.05, published=dt.date(2026, 11, 17))
    public = Signal(id="p", title="P", confidence=0.5, published=dt.date(2026, 11, 17))
    found = Collection(WEEK, [internal, public])
    assert [s.id for s in found.internal] == ["m"]
    assert [s.id for s in found.publishable] == ["p"]
