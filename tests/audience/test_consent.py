"""Confirmation links work once and never override an opt-out made after they were issued."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Connection, Engine

from digest.audience import store
from digest.audience.consent import LinkSpent, confirm_opt_in, link_spent
from digest.audience.model import Locale, Profile, Status
from digest.audience.suppression import suppression_reason
from digest.audience.tokens import Claims, LinkSigner, Purpose
from digest.delivery import erasure
from digest.storage.db import open_database

SIGNER = LinkSigner(["consent-test-key"])
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
EMAIL = "ann@example.com"


def link(issued: dt.datetime, email: str = EMAIL) -> Claims:
    """A verified confirm link issued at `issued` (as the web app makes and checks them)."""
    return SIGNER.verify(Purpose.CONFIRM, SIGNER.sign(Purpose.CONFIRM, 0, email, issued_at=issued))


def confirm_in(conn: Connection, claims: Claims, now: dt.datetime) -> None:
    confirm_opt_in(
        conn,
        claims,
        locale=Locale.EN,
        timezone="Europe/London",
        now=now,
        link_max_age=48 * HOUR,
        source="web double opt-in",
    )


def confirm(engine: Engine, claims: Claims, now: dt.datetime) -> None:
    with engine.begin() as conn:
        confirm_in(conn, claims, now)


def unsubscribe(engine: Engine, at: dt.datetime) -> None:
    with engine.begin() as conn:
        store.set_status(conn, EMAIL, Status.UNSUBSCRIBED, "unsubscribe link", at)


def status(engine: Engine) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        found = store.get(conn, EMAIL)
        return (found.status.value if found else None, suppression_reason(conn, EMAIL))


def test_a_link_subscribes_once(engine: Engine) -> None:
    claims = link(T0)
    confirm(engine, claims, T0 + HOUR)
    with pytest.raises(LinkSpent):
        confirm(engine, claims, T0 + 2 * HOUR)
    assert status(engine) == ("active", None)


def test_a_used_link_cannot_undo_a_later_unsubscribe(engine: Engine) -> None:
    claims = link(T0)
    confirm(engine, claims, T0 + HOUR)
    unsubscribe(engine, T0 + 2 * HOUR)
    with pytest.raises(LinkSpent):
        confirm(engine, claims, T0 + 3 * HOUR)
    assert status(engine) == ("unsubscribed", "unsubscribed")


def test_an_unused_link_cannot_undo_an_unsubscribe_made_after_it_was_sent(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        store.add(conn, Profile(EMAIL), "import")
    claims = link(T0)
    unsubscribe(engine, T0 + HOUR)
    with pytest.raises(LinkSpent):
        confirm(engine, claims, T0 + 2 * HOUR)
    assert status(engine) == ("unsubscribed", "unsubscribed")


def test_a_link_sent_after_an_unsubscribe_lifts_it(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, Profile(EMAIL), "import")
    unsubscribe(engine, T0)
    confirm(engine, link(T0 + HOUR), T0 + 2 * HOUR)
    assert status(engine) == ("active", None)


def test_an_erasure_after_the_link_was_sent_stands_though_already_suppressed(
    engine: Engine,
) -> None:
    """The suppression keeps its first date; the erasure's is the one that counts."""
    with engine.begin() as conn:
        store.add(conn, Profile(EMAIL), "import")
    unsubscribe(engine, T0)
    claims = link(T0 + HOUR)  # the person signs up again…
    with engine.begin() as conn:
        erasure.forget(conn, EMAIL)  # …then asks to be forgotten before clicking
    with pytest.raises(LinkSpent):
        confirm(engine, claims, dt.datetime.now(dt.UTC) + HOUR)
    assert status(engine) == (None, "unsubscribed")


def test_a_refused_link_changes_nothing_and_reads_as_spent(engine: Engine) -> None:
    claims = link(T0)
    confirm(engine, claims, T0 + HOUR)
    unsubscribe(engine, T0 + 2 * HOUR)
    with engine.connect() as conn:
        assert link_spent(conn, claims)
        assert not link_spent(conn, link(T0 + 3 * HOUR))


def test_records_of_expired_links_are_pruned(engine: Engine) -> None:
    first = link(T0, "old@example.com")
    confirm(engine, first, T0)
    confirm(engine, link(T0 + 49 * HOUR), T0 + 49 * HOUR)
    with engine.connect() as conn:
        assert not link_spent(conn, first)  # the record is gone; the link itself has expired


def test_two_clicks_racing_on_postgresql_subscribe_once(postgres_url: str) -> None:
    """The second click's insert waits for the first's transaction, then finds the link used."""
    engine, claims, outcome = open_database(postgres_url), link(T0), []

    def second_click() -> None:
        try:
            confirm(engine, claims, T0 + HOUR)
            outcome.append("subscribed")
        except LinkSpent:
            outcome.append("refused")

    with engine.connect() as first:
        with first.begin():
            confirm_in(first, claims, T0 + HOUR)
            racer = threading.Thread(target=second_click)
            racer.start()
        racer.join(timeout=60)
    engine.dispose()
    assert outcome == ["refused"]
