"""A small stored week for the controls' tests: four signals of 2026-W47, one of W46, one
internal."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from digest.model import Signal
from digest.period import parse_period
from digest.signals.store import store_signals

WEEK = parse_period("2026-W47")
IDS = ("s1", "s2", "s3", "s4")
CLASSES = ("Policy", "Policy", "Compute", "Compute")


def store_week(engine: Engine) -> None:
    """s1..s4 in WEEK (two market classes), `old` the week before, `mon` internal monitoring."""
    day = dt.date(2026, 11, 18)
    signals = [
        Signal(
            id=sid,
            title=f"Story {sid} on {cls.lower()}",
            published=day,
            market_class=cls,
            url=f"https://example.org/{sid}",
            confidence=round(0.9 - 0.1 * n, 2),
        )
        for n, (sid, cls) in enumerate(zip(IDS, CLASSES, strict=True))
    ]
    signals.append(Signal(id="old", title="Last week", published=dt.date(2026, 11, 10)))
    signals.append(Signal(id="mon", title="Monitoring", published=day, internal=True))
    with engine.begin() as conn:
        store_signals(conn, signals)
