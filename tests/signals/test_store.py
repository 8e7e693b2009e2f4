from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select, update

from digest.model import Signal
from digest.signals.store import (
    count_signals,
    earlier_readings,
    earlier_signals_named,
    get_signal,
    latest_published,
    signals_between,
    store_signals,
    week_class_counts,
)
from digest.storage.schema import signal_readings, signals


def sig(sid: str, **fields: object) -> Signal:
    base: dict[str, object] = {"id": sid, "title": f"Title {sid}", "source": "a.txt"}
    return Signal.model_validate(base | fields)


def test_new_signals_are_stored_whole(engine: Engine) -> None:
    original = sig("a", published="2026-11-17", confidence=0.8, summary={"zh": ["美英"]})
    with engine.begin() as conn:
        counts = store_signals(conn, [original])
    with engine.connect() as conn:
        assert get_signal(conn, "a") == original
    assert counts.new == 1


def test_reimporting_a_changed_signal_updates_it_in_place(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", region="EU")])
    with engine.begin() as conn:
        counts = store_signals(conn, [sig("a", region="UK")])
    with engine.connect() as conn:
        assert count_signals(conn) == 1
        stored = get_signal(conn, "a")
    assert stored is not None and stored.region == "UK"
    assert (counts.new, counts.updated) == (0, 1)


def test_reimporting_the_same_signal_changes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a")])
    with engine.begin() as conn:
        assert store_signals(conn, [sig("a")]).unchanged == 1


def test_a_second_source_fills_in_without_erasing(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", region="EU", source="page.txt")])
        store_signals(conn, [sig("a", trend_context="members", source="edit.md")])
    with engine.connect() as conn:
        stored = get_signal(conn, "a")
        assert count_signals(conn) == 1
    assert stored is not None
    assert (stored.region, stored.trend_context, stored.source) == ("EU", "members", "edit.md")


def test_a_source_re_read_without_a_field_drops_only_its_own_value(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", region="EU")])
        store_signals(conn, [sig("a")])
    with engine.connect() as conn:
        stored = get_signal(conn, "a")
    assert stored is not None and stored.region is None


def test_re_importing_the_page_keeps_the_editors_member_text(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", trend_context="SECRET", source="edit.md")])
        store_signals(conn, [sig("a", region="EU", source="page.txt")])
    with engine.begin() as conn:
        counts = store_signals(conn, [sig("a", region="UK", source="page.txt")])
    with engine.connect() as conn:
        stored = get_signal(conn, "a")
    assert stored is not None
    assert (stored.region, stored.trend_context) == ("UK", "SECRET")
    assert counts.updated == 1


def test_the_editor_re_reading_their_file_updates_their_fields(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", trend_context="old", source="edit.md")])
        store_signals(conn, [sig("a", region="EU", source="page.txt")])
        store_signals(conn, [sig("a", trend_context="new", source="edit.md")])
    with engine.connect() as conn:
        stored = get_signal(conn, "a")
    assert stored is not None and (stored.trend_context, stored.region) == ("new", "EU")


def test_period_query_is_inclusive_and_can_leave_out_internal(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(
            conn,
            [
                sig("before", published="2026-11-15"),
                sig("first", published="2026-11-16"),
                sig("internal", published="2026-11-18", confidence=0.05),
                sig("last", published="2026-11-22"),
                sig("after", published="2026-11-23"),
                sig("undated"),
            ],
        )
    with engine.connect() as conn:
        week = signals_between(conn, dt.date(2026, 11, 16), dt.date(2026, 11, 22))
        public = signals_between(
            conn, dt.date(2026, 11, 16), dt.date(2026, 11, 22), include_internal=False
        )
        assert latest_published(conn) == dt.date(2026, 11, 23)
    assert [s.id for s in week] == ["first", "internal", "last"]
    assert [s.id for s in public] == ["first", "last"]


def test_overview_counts_by_iso_week_and_class(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(
            conn,
            [
                sig("a", published="2026-11-16", market_class="Case File"),
                sig("b", published="2026-11-22", market_class="Case File", confidence=0.01),
                sig("c", published="2026-11-10", market_class="Supply Chain"),
            ],
        )
    with engine.connect() as conn:
        counts = week_class_counts(conn)
    assert counts == {("2026-W47", "Case File"): (2, 1), ("2026-W46", "Supply Chain"): (1, 0)}


def test_a_signal_stored_before_the_size_caps_is_read_cut_to_them(engine: Engine) -> None:
    """Review finding: a signal stored before the caps (issue 15) with a longer summary made
    every build of its week and its archive page fail validation (a traceback, a 500)."""
    with engine.begin() as conn:
        store_signals(conn, [sig("a", summary={"en": ["short"]})])
        record = sig("a").to_json_dict() | {"summary": {"en": ["word " * 3_000]}}
        conn.execute(update(signals).where(signals.c.id == "a").values(data=record))
    with engine.connect() as conn:
        stored = get_signal(conn, "a")
    assert stored is not None and stored.summary["en"] == [("word " * 2_000).strip()]


def test_a_re_publication_keeps_the_earlier_reading(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("a", published="2026-11-10", confidence=0.4)])
    with engine.begin() as conn:
        store_signals(conn, [sig("a", published="2026-11-17", confidence=0.6)])
    with engine.connect() as conn:
        found = earlier_readings(conn, ["a"], dt.date(2026, 11, 16))
    assert found == {"a": (dt.date(2026, 11, 10), 0.4, "C/D")}


def test_an_unchanged_re_import_adds_no_reading(engine: Engine) -> None:
    for region in ("EU", "UK"):  # other text, same date and rating
        with engine.begin() as conn:
            store_signals(conn, [sig("a", published="2026-11-10", confidence=0.4, region=region)])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signal_readings)).scalar_one() == 1


def test_see_also_titles_resolve_to_earlier_signals(engine: Engine) -> None:
    with engine.begin() as conn:
        store_signals(conn, [sig("old", title="Court fines carrier", published="2026-11-10")])
    with engine.connect() as conn:
        found = earlier_signals_named(
            conn, ["Court fines carrier", "Unknown"], dt.date(2026, 11, 16)
        )
    assert found == {"Court fines carrier": ("old", "Court fines carrier")}
