from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator

from sqlalchemy import Engine, event, insert, update

from digest.audience import store
from digest.audience.model import Locale, Status, Tier
from digest.audience.selection import (
    GroupKey,
    audience_interest_readers,
    grouped,
    select_recipients,
)
from digest.audience.suppression import suppress
from digest.storage.schema import subscribers

from .conftest import HEADER, import_text

AUDIENCE = HEADER + (
    "ann@example.com,Ann,open,en,,\n"
    "bob@example.com,Bob,open,en,,\n"
    "cai@example.com,Cai,open,zh,,\n"
    "dee@example.com,Dee,strategy_circle,en,,Supply Chain\n"
    "eve@example.com,Eve,strategy_circle,en,,Supply Chain;Policy Track\n"
    "fay@example.com,Fay,leadership_alliance,zh,,Capital Flows\n"
)


def emails(engine: Engine, **kwargs: object) -> list[str]:
    with engine.connect() as conn:
        return sorted(r.email for r in select_recipients(conn, **kwargs))  # type: ignore[arg-type]


def test_everyone_active_is_selected(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    assert len(emails(engine)) == 6


def test_not_active_is_not_selected(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.begin() as conn:
        store.set_status(conn, "ann@example.com", Status.UNSUBSCRIBED, "footer link")
        store.set_status(conn, "bob@example.com", Status.BOUNCED, "hard bounce")
    assert "ann@example.com" not in emails(engine)
    assert "bob@example.com" not in emails(engine)


def test_a_suppressed_hash_wins_over_an_active_row(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.begin() as conn:
        suppress(conn, "cai@example.com", "complained")
        row = store.get(conn, "cai@example.com")
    assert row is not None and row.status is Status.ACTIVE
    assert "cai@example.com" not in emails(engine)


def test_interests_narrow_to_the_issues_classes(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.connect() as conn:
        got = {
            r.email: r.interests for r in select_recipients(conn, market_classes={"Supply Chain"})
        }
    assert got["ann@example.com"] == ()  # no interests: everything
    assert got["eve@example.com"] == ("Supply Chain",)
    assert "fay@example.com" not in got  # nothing she follows is in this issue


def test_without_market_classes_interests_are_kept_whole(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.connect() as conn:
        got = {r.email: r.interests for r in select_recipients(conn)}
    assert got["eve@example.com"] == ("Policy Track", "Supply Chain")


def test_tiers_and_locales_narrow_the_selection(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    assert emails(engine, tiers=[Tier.OPEN], locales=[Locale.ZH]) == ["cai@example.com"]


def test_recipients_arrive_grouped_by_edition(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.connect() as conn:
        groups = [
            (key, [r.email for r in members]) for key, members in grouped(select_recipients(conn))
        ]
    assert (GroupKey(Tier.OPEN, Locale.EN, ()), ["ann@example.com", "bob@example.com"]) in groups
    keys = [key for key, _ in groups]
    assert len(keys) == len(set(keys)) == 5


def test_selection_is_a_lazy_iterator(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.connect() as conn:
        recipients = select_recipients(conn, batch=2)
        assert inspect.isgenerator(recipients)
        assert sum(1 for _ in recipients) == 6  # counted through a generator, never listed


def test_selection_streams_from_the_database(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    seen: list[dict[str, object]] = []

    def spy(conn: object, cursor: object, statement: str, *args: object) -> None:
        context = args[-2]
        if "FROM subscribers" in statement:
            seen.append(dict(context.execution_options))  # type: ignore[attr-defined]

    event.listen(engine, "before_cursor_execute", spy)
    try:
        with engine.connect() as conn:
            next(select_recipients(conn, batch=2))
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert seen[-1]["yield_per"] == 2
    assert seen[-1]["stream_results"] is True


def test_grouping_does_not_materialize(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.connect() as conn:
        groups = grouped(select_recipients(conn))
        assert isinstance(groups, Iterator)
        _, members = next(groups)
        assert isinstance(members, Iterator)


def test_status_changes_in_sql_are_respected(engine: Engine) -> None:
    import_text(engine, AUDIENCE)
    with engine.begin() as conn:
        conn.execute(update(subscribers).values(status="complained"))
    assert emails(engine) == []


def test_interest_sets_are_narrowed_to_the_issues_classes(engine: Engine) -> None:
    rows = [
        ("a@x", "", "active"),
        ("b@x", "Case File;Policy Track", "active"),
        ("c@x", "Capital Flows", "active"),  # nothing of it in this issue: no edition
        ("d@x", "Supply Chain", "unsubscribed"),
        ("e@x", "Policy Track;Unknown", "active"),  # narrows to the same set as below
        ("f@x", "Policy Track", "active"),
    ]
    insert_rows(
        engine, [(email, interests, status, "open", "en") for email, interests, status in rows]
    )
    sets = list(audience_interest_readers(engine, {"Policy Track", "Case File", "Supply Chain"}))
    assert sets[0] == frozenset()
    assert sorted(map(sorted, sets[1:])) == [["Case File", "Policy Track"], ["Policy Track"]]


def test_an_interest_set_carries_the_tiers_and_languages_of_its_readers(engine: Engine) -> None:
    rows = [
        ("a@x", "Case File", "open", "en"),
        ("b@x", "case file", "strategy_circle", "zh"),  # the same set, matched ignoring case
        ("c@x", "Policy Track", "open", "zh"),
    ]
    insert_rows(
        engine,
        [(email, interests, "active", tier, locale) for email, interests, tier, locale in rows],
    )
    readers = audience_interest_readers(engine, {"Case File", "Policy Track"})
    assert readers[frozenset({"Case File"})] == {("open", "en"), ("strategy_circle", "zh")}
    assert readers[frozenset({"Policy Track"})] == {("open", "zh")}


def insert_rows(engine: Engine, rows: list[tuple[str, str, str, str, str]]) -> None:
    """Subscriber rows as (email, interests, status, tier, locale), written straight to the
    table (statuses and spellings the importer would refuse or clean)."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(subscribers),
            [
                {
                    "email": email,
                    "email_hash": email,
                    "name": "",
                    "tier": tier,
                    "locale": locale,
                    "timezone": "UTC",
                    "interests": interests,
                    "status": status,
                    "created_at": now,
                    "updated_at": now,
                }
                for email, interests, status, tier, locale in rows
            ],
        )
