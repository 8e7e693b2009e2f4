"""Interests are mapped onto the known market classes at the door (review finding 1).

Matching downstream is by exact section name, so `supply chain` or `Suply Chain` used to import
cleanly and then match nothing: the subscriber was never mailed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from digest.audience import store
from digest.audience.model import Profile
from digest.audience.selection import audience_interest_readers, select_recipients
from digest.signals.classes import MarketClasses, known_classes
from digest.storage.schema import signals, subscribers

from .conftest import HEADER, import_text


def test_case_and_spacing_map_onto_the_canonical_spelling(engine: Engine) -> None:
    report = import_text(engine, HEADER + "ann@example.com,Ann,,,,supply  CHAIN;policy track\n")
    assert report.ok, report.problems
    with engine.connect() as conn:
        ann = store.get(conn, "ann@example.com")
    assert ann is not None and ann.interests == ("Policy Track", "Supply Chain")


def test_an_unknown_class_is_reported_and_the_row_keeps_its_known_ones(engine: Engine) -> None:
    report = import_text(engine, HEADER + "a@example.com,A,,,,Suply Chain;Case File\n")
    (problem,) = [str(p) for p in report.problems]
    assert problem.startswith("line 2: unknown market class 'Suply Chain' (known: Policy Track,")
    assert "did you mean 'Supply Chain'?" in problem
    assert "imported without that interest" in problem
    assert (report.added, report.bad_rows, report.ok) == (1, 0, False)
    with engine.connect() as conn:
        a = store.get(conn, "a@example.com")
    assert a is not None and a.interests == ("Case File",)


def test_a_class_only_the_stored_signals_use_is_known(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(signals).values(
                id="s1",
                title="t",
                market_class="Biotech",
                data={},
                content_hash="h",
                created_at=dt.datetime.now(dt.UTC),
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
        assert known_classes(conn, ["Policy Track"]).names == ("Policy Track", "Biotech")
    report = import_text(engine, HEADER + "b@example.com,B,,,,biotech\n")
    assert report.ok, report.problems


def test_the_configured_spelling_wins_over_other_spellings() -> None:
    classes = MarketClasses(["Supply Chain", "supply chain", " Case  File "])
    assert classes.names == ("Supply Chain", "Case File")
    assert classes.resolve(["SUPPLY CHAIN", "case file", "x"]) == (
        ("Case File", "Supply Chain"),
        ["x"],
    )


def test_rows_stored_before_the_fix_are_still_mailed(engine: Engine) -> None:
    """Legacy rows (lower-case interests) match the issue's classes and take its spelling."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        store.add(conn, Profile("c@example.com"), "test")
        conn.execute(
            subscribers.update()
            .where(subscribers.c.email == "c@example.com")
            .values(interests="supply chain", updated_at=now)
        )
        (recipient,) = select_recipients(conn, market_classes={"Supply Chain", "Case File"})
    assert recipient.interests == ("Supply Chain",)
    sets = list(audience_interest_readers(engine, {"Supply Chain", "Case File"}))
    assert frozenset({"Supply Chain"}) in sets
