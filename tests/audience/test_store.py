from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, Engine, func, select

from digest.audience import store
from digest.audience.model import Locale, Profile, Status, Subscriber, Tier
from digest.audience.suppression import suppression_reason
from digest.storage.schema import subscribers

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def ann(**changes: object) -> Profile:
    values: dict[str, object] = {
        "email": "Ann@Example.com",
        "name": "Ann",
        "tier": Tier.STRATEGY_CIRCLE,
        "locale": Locale.ZH,
        "timezone": "Asia/Shanghai",
        "interests": ("Policy Track",),
    }
    return Profile(**{**values, **changes})  # type: ignore[arg-type]


def test_add_stores_the_profile_and_consent(engine: Engine) -> None:
    with engine.begin() as conn:
        outcome, s = store.add(conn, ann(), source="cli")
    assert outcome is store.Outcome.ADDED
    assert (s.email, s.tier, s.locale, s.interests) == (
        "ann@example.com",
        Tier.STRATEGY_CIRCLE,
        Locale.ZH,
        ("Policy Track",),
    )
    assert s.status is Status.ACTIVE
    assert s.consent_source == "cli" and s.consent_at is not None


def test_addresses_are_unique_case_insensitively(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        outcome, _ = store.add(conn, ann(email="ANN@example.COM", name="Ann Lee"), source="cli")
        n = conn.execute(select(func.count()).select_from(subscribers)).scalar()
    assert outcome is store.Outcome.UPDATED
    assert n == 1


def test_adding_the_same_profile_again_changes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        outcome, _ = store.add(conn, ann(), source="cli")
    assert outcome is store.Outcome.UNCHANGED


def test_status_change_records_when_and_why_and_suppresses(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        s = store.set_status(conn, "ann@example.com", Status.UNSUBSCRIBED, "footer link", NOW)
        reason = suppression_reason(conn, "ann@example.com")
    assert s is not None and s.status is Status.UNSUBSCRIBED
    assert (s.status_changed_at, s.status_reason) == (NOW, "footer link")
    assert reason == "unsubscribed"


def test_status_cannot_be_set_back_to_active(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        store.set_status(conn, "ann@example.com", Status.BOUNCED, "hard bounce")
        with pytest.raises(store.SuppressedAddress, match="bounced"):
            store.set_status(conn, "ann@example.com", Status.ACTIVE, "operator")


def test_remove_keeps_the_opt_out(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        store.set_status(conn, "ann@example.com", Status.UNSUBSCRIBED, "footer link")
        assert store.remove(conn, "ann@example.com")
        assert store.get(conn, "ann@example.com") is None
        with pytest.raises(store.SuppressedAddress, match="unsubscribed"):
            store.add(conn, ann(), source="cli")


def test_remove_of_an_unknown_address_says_so(engine: Engine) -> None:
    with engine.begin() as conn:
        assert not store.remove(conn, "nobody@example.com")


def test_counts_by_tier_locale_and_status(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        store.add(conn, ann(email="bob@example.com", tier=Tier.OPEN, locale=Locale.EN), "cli")
        store.set_status(conn, "bob@example.com", Status.BOUNCED, "hard bounce")
        counts = store.counts(conn)
    assert counts == {
        (Tier.STRATEGY_CIRCLE, Locale.ZH, Status.ACTIVE): 1,
        (Tier.OPEN, Locale.EN, Status.BOUNCED): 1,
    }


def test_listing_filters_by_tier_and_status(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        store.add(conn, ann(email="bob@example.com", tier=Tier.OPEN), "cli")
        by_tier = [s.email for s in store.iter_subscribers(conn, tier=Tier.OPEN)]
        by_status = list(store.iter_subscribers(conn, status=Status.UNSUBSCRIBED))
    assert by_tier == ["bob@example.com"]
    assert by_status == []


def test_a_concurrent_add_of_the_same_new_address_is_not_a_database_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding 7: two `subscribers add` racing: both see "not stored", both insert.

    The race is made deterministic: the row is stored by "the other process" first, and this
    process's existence check is made to miss it once, exactly as in the race window.
    """
    with engine.begin() as conn:
        store.add(conn, Profile("race@example.com", "First"), "cli")
    real_get = store.get
    calls = iter([True])

    def stale_get(conn: Connection, raw_email: str) -> Subscriber | None:
        return None if next(calls, False) else real_get(conn, raw_email)

    monkeypatch.setattr(store, "get", stale_get)
    with engine.begin() as conn:
        outcome, subscriber = store.add(conn, Profile("race@example.com", "Second"), "cli")
    assert outcome is store.Outcome.UPDATED and subscriber.name == "Second"
