from __future__ import annotations

import threading

from sqlalchemy import Engine, select

from digest.audience import store
from digest.audience.model import Profile, Status
from digest.audience.suppression import (
    LIFTED_EVENT,
    hash_address,
    installation_salt,
    lift_suppression,
    suppress,
    suppression_reason,
)
from digest.storage.db import open_database
from digest.storage.schema import events

ANN = Profile(email="ann@example.com", name="Ann")


def test_the_salt_is_created_once_and_kept(engine: Engine) -> None:
    with engine.begin() as conn:
        first = installation_salt(conn)
    with engine.begin() as conn:
        assert installation_salt(conn) == first
    assert len(first) == 32


def test_concurrent_first_use_agrees_on_one_salt(db_url: str) -> None:
    engines = [open_database(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    salts: list[bytes] = []

    def first_use(engine: Engine) -> None:
        barrier.wait()
        with engine.begin() as conn:
            salts.append(installation_salt(conn))

    threads = [threading.Thread(target=first_use, args=(e,)) for e in engines]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for e in engines:
        e.dispose()
    assert len(salts) == 4 and len(set(salts)) == 1


def test_hash_is_keyed_by_the_installation(db_url: str, tmp_path: object) -> None:
    engine = open_database(db_url)
    with engine.begin() as conn:
        mine = hash_address(conn, "ann@example.com")
    engine.dispose()
    other = open_database(f"sqlite:///{tmp_path}/other.db")
    with other.begin() as conn:
        theirs = hash_address(conn, "ann@example.com")
    other.dispose()
    assert mine != theirs


def test_hash_ignores_case_and_spacing(engine: Engine) -> None:
    with engine.begin() as conn:
        assert hash_address(conn, " ANN@Example.com") == hash_address(conn, "ann@example.com")


def test_suppression_survives_deleting_the_subscriber(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ANN, source="cli")
        store.set_status(conn, ANN.email, Status.UNSUBSCRIBED, "footer link")
        store.remove(conn, ANN.email)
    with engine.connect() as conn:
        assert suppression_reason(conn, ANN.email) == "unsubscribed"


def test_lifting_needs_a_suppression(engine: Engine) -> None:
    with engine.begin() as conn:
        assert not lift_suppression(conn, ANN.email, "double opt-in")


def test_lifting_reactivates_and_records_it(engine: Engine) -> None:
    with engine.begin() as conn:
        _, s = store.add(conn, ANN, source="cli")
        store.set_status(conn, ANN.email, Status.UNSUBSCRIBED, "footer link")
        assert lift_suppression(conn, ANN.email, "double opt-in confirmed")
        after = store.get(conn, ANN.email)
        recorded = conn.execute(select(events).where(events.c.event == LIFTED_EVENT)).one()
        assert suppression_reason(conn, ANN.email) is None
    assert after is not None and after.status is Status.ACTIVE
    assert after.status_reason == "double opt-in confirmed"
    assert after.consent_source == "double opt-in confirmed"
    assert recorded.subscriber_id == s.id
    assert recorded.data["reason"] == "double opt-in confirmed"
    assert "ann" not in str(recorded.data)


def test_lifting_a_forgotten_address_lets_them_subscribe_again(engine: Engine) -> None:
    with engine.begin() as conn:
        suppress(conn, ANN.email, "forgotten")
        lift_suppression(conn, ANN.email, "double opt-in confirmed")
        outcome, _ = store.add(conn, ANN, source="web: double opt-in")
    assert outcome is store.Outcome.ADDED
