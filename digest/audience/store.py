"""Subscribers in the database: add, change status, remove, forget, list and count.

Every function takes a `Connection` and runs inside the caller's transaction, so a command (or a
test) decides what is atomic. Status changes that stop mail also put the address on the
suppression list, which is what actually keeps it from being mailed again (see suppression.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.addresses import normalize_email
from digest.audience.model import (
    Locale,
    Profile,
    Status,
    Subscriber,
    Tier,
    interests_key,
    split_interests,
)
from digest.audience.suppression import (
    FORGOTTEN,
    email_hash,
    installation_salt,
    suppress_hash,
    suppressed_among,
)
from digest.storage.schema import subscribers

t = subscribers


class SuppressedAddress(Exception):
    """The address opted out (or bounced, complained, was forgotten): only they can undo that."""

    def __init__(self, email: str, reason: str) -> None:
        super().__init__(
            f"{email} is on the suppression list ({reason}); only the person's own confirmed "
            "opt-in can lift it"
        )
        self.reason = reason


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def from_row(row: Row[Any]) -> Subscriber:
    m = row._mapping
    created = utc(m["created_at"])
    updated = utc(m["updated_at"])
    assert created is not None and updated is not None
    return Subscriber(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        tier=Tier(m["tier"]),
        locale=Locale(m["locale"]),
        timezone=m["timezone"],
        interests=split_interests(m["interests"]),
        status=Status(m["status"]),
        consent_source=m["consent_source"],
        consent_at=utc(m["consent_at"]),
        status_changed_at=utc(m["status_changed_at"]),
        status_reason=m["status_reason"],
        created_at=created,
        updated_at=updated,
    )


def profile_values(profile: Profile) -> dict[str, Any]:
    """The columns a profile sets (everything but identity, status and consent facts)."""
    return {
        "name": profile.name,
        "tier": profile.tier.value,
        "locale": profile.locale.value,
        "timezone": profile.timezone,
        "interests": interests_key(profile.interests),
    }


def new_row(profile: Profile, hashed: str, source: str, now: dt.datetime) -> dict[str, Any]:
    """A fresh active subscriber, consent recorded as `source` at `now`."""
    return {
        "email": profile.email,
        "email_hash": hashed,
        "name": profile.name,
        "tier": profile.tier.value,
        "locale": profile.locale.value,
        "timezone": profile.timezone,
        "interests": interests_key(profile.interests),
        "status": Status.ACTIVE.value,
        "consent_source": source,
        "consent_at": now,
        "status_changed_at": None,
        "status_reason": None,
        "created_at": now,
        "updated_at": now,
    }


def get(conn: Connection, raw_email: str) -> Subscriber | None:
    row = conn.execute(select(t).where(t.c.email == normalize_email(raw_email))).first()
    return from_row(row) if row else None


def get_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(select(t).where(t.c.id == subscriber_id)).first()
    return from_row(row) if row else None


def add(conn: Connection, profile: Profile, source: str) -> tuple[Outcome, Subscriber]:
    """Add a subscriber, or update an existing one's profile (never its status).

    A suppressed address that is not stored is refused with `SuppressedAddress`: adding it back
    would be re-subscribing someone who opted out. Two processes adding the same new address
    at once both pass the "not stored yet" check; the insert ignores the unique-email conflict
    and the loser updates the winner's row instead, so neither sees a raw IntegrityError.
    """
    email = normalize_email(profile.email)
    profile = Profile(
        email, profile.name, profile.tier, profile.locale, profile.timezone, profile.interests
    )
    now = dt.datetime.now(dt.UTC)
    existing = get(conn, email)
    if existing is not None:
        if existing.profile == profile:
            return Outcome.UNCHANGED, existing
        conn.execute(
            update(t).where(t.c.id == existing.id).values(**profile_values(profile), updated_at=now)
        )
        updated = get(conn, email)
        assert updated is not None
        return Outcome.UPDATED, updated
    hashed = email_hash(installation_salt(conn), email)
    reason = suppressed_among(conn, [hashed]).get(hashed)
    if reason is not None:
        raise SuppressedAddress(email, reason)
    if _insert_new(conn, new_row(profile, hashed, source, now)):
        added = get(conn, email)
        assert added is not None
        return Outcome.ADDED, added
    return add(conn, profile, source)  # someone else added it meanwhile: now it is stored


def _insert_new(conn: Connection, values: dict[str, Any]) -> bool:
    """INSERT unless the email is already stored (a concurrent add); whether it inserted."""
    if conn.dialect.name == "postgresql":
        statement: Any = postgresql.insert(t).values(**values)
    else:
        statement = sqlite.insert(t).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=[t.c.email]).returning(t.c.id)
    return conn.execute(statement).first() is not None  # rowcount is unreliable here


def set_status(
    conn: Connection, raw_email: str, status: Status, reason: str, at: dt.datetime | None = None
) -> Subscriber | None:
    """Record a status change with when and why; returns None when nobody has that address.

    Anything but `active` also suppresses the address. Setting `active` on someone who is not
    is refused: that is `lift_suppression`'s job, after the person's own confirmation.
    """
    current = get(conn, raw_email)
    if current is None:
        return None
    if status is Status.ACTIVE and not current.status.mailable:
        raise SuppressedAddress(current.email, current.status.value)
    if status is current.status:
        return current
    at = at or dt.datetime.now(dt.UTC)
    conn.execute(
        update(t)
        .where(t.c.id == current.id)
        .values(status=status.value, status_changed_at=at, status_reason=reason, updated_at=at)
    )
    if not status.mailable:
        suppress_hash(conn, email_hash(installation_salt(conn), current.email), status.value, at)
    return get(conn, current.email)


def remove(conn: Connection, raw_email: str) -> bool:
    """Delete the subscriber row (the operator's choice); an opt-out on record stays on the list."""
    result = conn.execute(delete(t).where(t.c.email == normalize_email(raw_email)))
    return bool(result.rowcount)


def forget_subscriber(conn: Connection, raw_email: str) -> int | None:
    """The audience's part of forgetting a person: the hash goes on the suppression list
    (reason `forgotten` unless one is already there), so a later import of the same address
    cannot quietly mail them again, and the subscriber row is deleted. Returns the deleted
    row's id (None: nobody was stored). `digest.delivery.erasure.forget` adds the ledger's part.
    """
    email = normalize_email(raw_email)
    now = dt.datetime.now(dt.UTC)
    suppress_hash(conn, email_hash(installation_salt(conn), email), FORGOTTEN, now)
    subscriber_id = conn.execute(select(t.c.id).where(t.c.email == email)).scalar_one_or_none()
    if subscriber_id is None:
        return None
    conn.execute(delete(t).where(t.c.id == subscriber_id))
    return int(subscriber_id)


def iter_subscribers(
    conn: Connection, tier: Tier | None = None, status: Status | None = None, batch: int = 1000
) -> Iterator[Subscriber]:
    """Subscribers by address, streamed in batches (never the whole table in memory)."""
    query = select(t).order_by(t.c.email)
    if tier is not None:
        query = query.where(t.c.tier == tier.value)
    if status is not None:
        query = query.where(t.c.status == status.value)
    for row in conn.execution_options(yield_per=batch).execute(query):
        yield from_row(row)


def counts(conn: Connection) -> dict[tuple[Tier, Locale, Status], int]:
    """How many subscribers per tier × locale × status (only combinations that occur)."""
    query = select(t.c.tier, t.c.locale, t.c.status, func.count()).group_by(
        t.c.tier, t.c.locale, t.c.status
    )
    return {
        (Tier(tier), Locale(locale), Status(status)): n
        for tier, locale, status, n in conn.execute(query)
    }
