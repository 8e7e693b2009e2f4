"""Consent: the person's own confirmed opt-in through the emailed link, once per link.

The confirmation link is the only thing that may lift an opt-out, so it must carry exactly the
weight of the person's click and no more. A link lives on after the click, in a forwarded email
or a link scanner's log, and anyone holding it could otherwise re-subscribe the person until it
expires, undoing their unsubscribe. So a link
- works once: its claims' hash (`Claims.link_key`) is recorded when it is used, and a link
  already recorded is refused;
- never overrides an opt-out made after it was issued: an address suppressed (unsubscribed,
  bounced, complained, forgotten) at or after the link's issue time stays suppressed. A link
  issued after an opt-out (the person signing up again) lifts it, as it should.
Checks and change run in the caller's one transaction, and the use is recorded by an insert that
ignores a conflict, so of two clicks racing one subscribes and the other is refused.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience import store
from digest.audience.model import Locale, Profile, Tier
from digest.audience.suppression import latest_opt_out, lift_suppression
from digest.audience.tokens import Claims
from digest.storage.schema import confirmations_used as used


class LinkSpent(Exception):
    """This confirmation link was used already, or an opt-out made since has replaced it."""


def link_spent(conn: Connection, claims: Claims) -> bool:
    """Whether `confirm_opt_in` would refuse this link (read-only: for showing the page)."""
    found = conn.execute(select(used.c.link_key).where(used.c.link_key == claims.link_key))
    return found.first() is not None or _opted_out_since_issued(conn, claims)


def _opted_out_since_issued(conn: Connection, claims: Claims) -> bool:
    if claims.email is None or claims.issued_at is None:
        return True  # not a confirm link's claims: never enough to subscribe anyone
    opted_out = latest_opt_out(conn, claims.email)
    if opted_out is not None and opted_out >= claims.issued_at:
        return True
    person = store.get(conn, claims.email)
    changed = person.status_changed_at if person is not None else None
    return (
        person is not None
        and not person.status.mailable
        and changed is not None
        and changed >= claims.issued_at
    )


def _record_use(conn: Connection, claims: Claims, now: dt.datetime, keep: dt.timedelta) -> None:
    """Record the link as used, or raise LinkSpent when it already was; forget expired ones."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(used)
        .values(link_key=claims.link_key, used_at=now)
        .on_conflict_do_nothing(index_elements=[used.c.link_key])
        .returning(used.c.link_key)
    )
    if conn.execute(statement).first() is None:
        raise LinkSpent("this confirmation link has been used already")
    conn.execute(delete(used).where(used.c.used_at < now - keep))


def confirm_opt_in(
    conn: Connection,
    claims: Claims,
    *,
    locale: Locale,
    timezone: str,
    now: dt.datetime,
    link_max_age: dt.timedelta,
    source: str,
) -> None:
    """Subscribe the person a verified confirm link names, lifting an earlier opt-out (recorded).

    Raises LinkSpent (and changes nothing) for a link used before or issued before the address's
    latest opt-out. `link_max_age` is how long links live: records of used links older than that
    are pruned, since those links have expired.
    """
    if _opted_out_since_issued(conn, claims):
        raise LinkSpent("an opt-out made after this link was issued stands")
    _record_use(conn, claims, now, link_max_age)
    assert claims.email is not None  # checked by _opted_out_since_issued
    if latest_opt_out(conn, claims.email) is not None:
        lift_suppression(conn, claims.email, source)
    if store.get(conn, claims.email) is None:
        profile = Profile(claims.email, tier=Tier.OPEN, locale=locale, timezone=timezone)
        store.add(conn, profile, source)
