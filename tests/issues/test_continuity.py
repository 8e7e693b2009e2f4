"""Continuity: a signal re-published in a later week with another rating is marked Updated,
and a follow-up (`see_also`) links back to the earlier signal. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from digest.config import Settings
from digest.issues.build import build
from digest.issues.continuity import Continuity, history
from digest.issues.editions import build_issue
from digest.model import Signal
from digest.period import parse_period
from digest.signals.store import store_signals

WEEK = parse_period("2026-W47")
BASE = "https://news.example.org"


def sig(sid: str, **fields: Any) -> Signal:
    base: dict[str, Any] = {"id": sid, "title": f"Title {sid}", "source": "a.txt"}
    return Signal.model_validate(base | fields)


def stored(engine: Engine, *batches: list[Signal]) -> None:
    for batch in batches:
        with engine.begin() as conn:
            store_signals(conn, batch)


def test_a_changed_confidence_since_an_earlier_week_is_an_update(engine: Engine) -> None:
    now = sig("a", published="2026-11-17", confidence=0.6)
    stored(engine, [sig("a", published="2026-11-10", confidence=0.4)], [now])
    with engine.connect() as conn:
        found = history(conn, [now], WEEK)
    assert found == {"a": Continuity(dt.date(2026, 11, 10), "C/D", "B/C")}


def test_an_unchanged_re_publication_is_not_marked(engine: Engine) -> None:
    now = sig("a", published="2026-11-17", confidence=0.4)
    stored(engine, [sig("a", published="2026-11-10", confidence=0.4)], [now])
    with engine.connect() as conn:
        assert history(conn, [now], WEEK) == {}


def test_a_follow_up_names_the_earlier_signal(engine: Engine) -> None:
    old = sig("old", title="Court fines carrier", published="2026-11-10", confidence=0.6)
    new = sig("new", published="2026-11-17", confidence=0.8, see_also=["Court fines carrier"])
    stored(engine, [old], [new])
    with engine.connect() as conn:
        found = history(conn, [new], WEEK)
    assert found == {"new": Continuity(dt.date(2026, 11, 10), "B/C", "A/B", follows="old")}


def test_the_edition_shows_the_update_and_links_a_follow_up() -> None:
    new = sig("new", published=dt.date(2026, 11, 17), confidence=0.8, market_class="X")
    settings = Settings.model_validate({"publication": {"base_url": BASE}})
    changed = Continuity(dt.date(2026, 11, 10), "B/C", "A/B", follows="old")
    issue = build_issue([new], settings, WEEK, continuity={"new": changed})
    text = issue.edition("open", "en").text
    assert "Updated: confidence B/C → A/B since 10 Nov 2026" in text
    assert f"{BASE}/signals/old" in text
    assert "B/C" in issue.edition("open", "zh").text and "更新" in issue.edition("open", "zh").text


def test_a_build_from_the_store_marks_the_update(engine: Engine) -> None:
    earlier = sig("a", published="2026-11-10", confidence=0.4, market_class="X")
    stored(engine, [earlier], [earlier.model_copy(update={"published": dt.date(2026, 11, 17)})])
    stored(engine, [sig("a", published="2026-11-17", confidence=0.6, market_class="X")])
    settings = Settings.model_validate({"publication": {"base_url": BASE}})
    result = build(settings, WEEK, engine=engine, store=False)
    assert "Updated: confidence C/D → B/C since 10 Nov 2026" in result.editions[0].text
