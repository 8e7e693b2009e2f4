"""The suppression list: addresses never to mail again, kept as a keyed hash.

A hash (not the address) is what survives `forget`, so the list stays useful after the person's data
is erased. It is an HMAC-SHA256 keyed with a random per-installation salt kept in `install_meta`:
without the salt a leaked table cannot be reversed by hashing a list of known addresses, and unlike
the link-signing keys the salt never rotates, so a hash keeps matching for ever.

Only the person's own confirmed action (the web app's double opt-in) lifts a suppression, through
`lift_suppression`, which records when and why.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.addresses import normalize_email
from digest.audience.model import Status
from digest.storage.schema import events, install_meta, subscribers, suppressions

SALT_KEY = "suppression_salt"
FORGOTTEN = "forgotten"
LIFTED_EVENT = "suppression_lifted"


def insert_ignoring_conflict(conn: Connection, table: object, values: dict[str, object]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either engine: the race-safe way to create once."""
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())  # type: ignore[arg-type]
    else:
        conn.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())  # type: ignore[arg-type]


def installation_salt(conn: Connection) -> bytes:
    """This installation's salt, created on first use.

    Two processes racing here both try an insert that ignores a conflict, then both read the one
    row that won, so they can never end up hashing with different salts.
    """
    found = conn.execute(select(install_meta.c.value).where(install_meta.c.key == SALT_KEY))
    value = found.scalar_one_or_none()
    if value is None:
        insert_ignoring_conflict(
            conn, install_meta, {"key": SALT_KEY, "value": secrets.token_hex(32)}
        )
        found = conn.execute(select(install_meta.c.value).where(install_meta.c.key == SALT_KEY))
        value = found.scalar_one()
    return bytes.fromhex(value)


def email_hash(salt: bytes, email: str) -> str:
    """HMAC-SHA256 of the normalized address under the installation salt, as hex."""
    return hmac.digest(salt, email.encode("utf-8"), "sha256").hex()  # one-shot C fast path


def hash_address(conn: Connection, raw_email: str) -> str:
    return email_hash(installation_salt(conn), normalize_email(raw_email))


def suppress_hash(conn: Connection, hashed: str, reason: str, at: dt.datetime) -> None:
    """Put a hash on the list; an existing entry keeps its first reason and date.

    `latest_at` moves to `at` either way: a confirmation link issued before then must not lift
    this later opt-out (an erasure of someone already unsubscribed, say).
    """
    values = {"email_hash": hashed, "reason": reason, "created_at": at, "latest_at": at}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(suppressions).values(**values)
    known = func.coalesce(suppressions.c.latest_at, suppressions.c.created_at)
    later = case((statement.excluded.latest_at > known, statement.excluded.latest_at), else_=known)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[suppressions.c.email_hash], set_={"latest_at": later}
        )
    )


def suppress(conn: Connection, raw_email: str, reason: str) -> None:
    suppress_hash(conn, hash_address(conn, raw_email), reason, dt.datetime.now(dt.UTC))


def suppression_reason(conn: Connection, raw_email: str) -> str | None:
    """Why this address is suppressed, or None when it may be mailed."""
    query = select(suppressions.c.reason).where(
        suppressions.c.email_hash == hash_address(conn, raw_email)
    )
    return conn.execute(query).scalar_one_or_none()


def latest_opt_out(conn: Connection, raw_email: str) -> dt.datetime | None:
    """When this address was last suppressed (opted out, bounced, complained, was forgotten);
    None while it is not on the list."""
    query = select(suppressions.c.created_at, suppressions.c.latest_at).where(
        suppressions.c.email_hash == hash_address(conn, raw_email)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    when: dt.datetime = row.latest_at or row.created_at
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)  # SQLite: naive UTC


def suppressed_among(conn: Connection, hashes: Iterable[str]) -> dict[str, str]:
    """hash → reason for those of `hashes` on the list (one query per call: pass a batch)."""
    wanted = list(hashes)
    if not wanted:
        return {}
    query = select(suppressions.c.email_hash, suppressions.c.reason).where(
        suppressions.c.email_hash.in_(wanted)
    )
    return {row.email_hash: row.reason for row in conn.execute(query)}


def lift_suppression(conn: Connection, raw_email: str, reason: str) -> bool:
    """Take an address off the list after the person's own confirmed action; record it.

    Call this only from a flow the person completed themselves (a double opt-in link): an
    operator or an import must never lift a suppression. A stored subscriber becomes active with
    the confirmation as consent. The event row keeps the hash, not the address. Returns whether
    anything was lifted.
    """
    email = normalize_email(raw_email)
    hashed = email_hash(installation_salt(conn), email)
    removed = conn.execute(delete(suppressions).where(suppressions.c.email_hash == hashed))
    if not removed.rowcount:
        return False
    now = dt.datetime.now(dt.UTC)
    subscriber_id = conn.execute(
        select(subscribers.c.id).where(subscribers.c.email == email)
    ).scalar_one_or_none()
    if subscriber_id is not None:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(
                status=Status.ACTIVE.value,
                status_changed_at=now,
                status_reason=reason,
                consent_source=reason,
                consent_at=now,
                updated_at=now,
            )
        )
    conn.execute(
        insert(events).values(
            subscriber_id=subscriber_id,
            event=LIFTED_EVENT,
            occurred_at=now,
            data={"email_hash": hashed, "reason": reason},
        )
    )
    return True


_BATCH = 500


def _batches(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def stop_mail(
    conn: Connection,
    wanted: Mapping[Status, Collection[int]],
    by_email: Mapping[Status, Collection[str]],
    strongest_first: Iterable[Status],
    source: str,
    now: dt.datetime,
) -> dict[str, int]:
    """Stop mail to many people at once (a provider's bounces, complaints and opt-outs),
    set-based: set the status of those still active, and put each address on the list.

    `wanted` names subscribers by id, `by_email` by address (normalized), each under the status
    to set; an address named under several keeps the first of `strongest_first` as its reason.
    Returns how many subscribers changed, per status.
    """
    salt = installation_salt(conn) if wanted or by_email else b""
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for status in strongest_first:
        ids = sorted(wanted.get(status, ()))
        emails = sorted(by_email.get(status, ()))
        changed = 0
        for column, values in ((subscribers.c.id, ids), (subscribers.c.email, emails)):
            for chunk in _batches(values):
                changed += int(
                    conn.execute(
                        update(subscribers)
                        .where(column.in_(chunk), subscribers.c.status == Status.ACTIVE.value)
                        .values(
                            status=status.value,
                            status_changed_at=now,
                            status_reason=f"{source} {status.value} event",
                            updated_at=now,
                        )
                    ).rowcount
                    or 0
                )
        for chunk in _batches(ids):
            rows = conn.execute(select(subscribers.c.email_hash).where(subscribers.c.id.in_(chunk)))
            hashes.update({h: status.value for (h,) in rows if h not in hashes})
        for email in emails:
            hashes.setdefault(email_hash(salt, email), status.value)
        if changed:
            counts[status.value] = changed
    if hashes:
        table: Any = suppressions
        stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
        stmt = stmt.on_conflict_do_nothing()
        params = [{"email_hash": h, "reason": r, "created_at": now} for h, r in hashes.items()]
        for chunk in _batches(params):
            conn.execute(stmt, list(chunk))
    return counts
