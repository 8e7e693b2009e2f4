"""Who gets this send: active, unsuppressed subscribers, streamed in edition order.

A million-recipient send must not hold a million rows, so the query streams (`yield_per`: a
server-side cursor on PostgreSQL, incremental fetches on SQLite) and everything downstream is a
generator. Rows come ordered by tier, locale and interest set, so an edition (rendered once per
group) can be reused for a run of consecutive recipients.

Suppression is applied in SQL (an anti-join on the keyed hash), not only through `status`: a hash
on the list always wins, whatever the subscriber row says.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Subquery,
    Table,
    and_,
    exists,
    select,
)

from digest.audience.model import Locale, Status, Tier, split_interests
from digest.signals.classes import class_key
from digest.storage.schema import subscribers as t
from digest.storage.schema import suppressions as s

_TIERS = {t.value: t for t in Tier}  # a dict lookup, not Tier(value), a million times
_LOCALES = {loc.value: loc for loc in Locale}


class Recipient(NamedTuple):
    """One person to mail; `interests` are the classes they get here (() = every class)."""

    id: int
    email: str
    name: str
    tier: Tier
    locale: Locale
    timezone: str
    interests: tuple[str, ...]


class GroupKey(NamedTuple):
    """The edition a recipient reads: tier × locale × interest set."""

    tier: Tier
    locale: Locale
    interests: tuple[str, ...]


def mailable(table: Table = t) -> ColumnElement[bool]:
    """Who may be mailed: status active and no suppression for the address.

    The one statement of the rule: the ledger's queuing and claiming, the interest sets built,
    the local-time buckets and every count use it, so none can disagree with who is sent to.
    """
    suppressed = exists().where(s.c.email_hash == table.c.email_hash)
    return and_(table.c.status == Status.ACTIVE.value, ~suppressed)


_PUBLIC_COLUMNS = ("id", "email", "name", "tier", "locale", "interests", "timezone")


def mailable_subscribers() -> Subquery:
    """The mailable subscribers (`mailable()`) as a subquery, for the other stages' joins.

    The delivery ledger queues, claims and counts through this, so it never reads the
    subscribers table itself and cannot drift from the rule. Both engines flatten it into the
    outer query (the plan is the plain join's).
    """
    return select(*(t.c[name] for name in _PUBLIC_COLUMNS)).where(mailable()).subquery("mailable")


def unmailable_subscribers() -> Subquery:
    """Everyone stored who may not be mailed now (opted out, bounced, complained, listed)."""
    return select(*(t.c[name] for name in _PUBLIC_COLUMNS)).where(~mailable()).subquery("kept_out")


def recipients_query(
    tiers: Collection[Tier] | None = None, locales: Collection[Locale] | None = None
) -> Select[Any]:
    """The SQL: active, not suppressed, optionally narrowed, in edition order."""
    query = (
        select(t.c.id, t.c.email, t.c.name, t.c.tier, t.c.locale, t.c.timezone, t.c.interests)
        .where(mailable())
        .order_by(t.c.tier, t.c.locale, t.c.interests, t.c.id)
    )
    if tiers is not None:
        query = query.where(t.c.tier.in_([x.value for x in tiers]))
    if locales is not None:
        query = query.where(t.c.locale.in_([x.value for x in locales]))
    return query


def select_recipients(
    conn: Connection,
    *,
    market_classes: Collection[str] | None = None,
    tiers: Collection[Tier] | None = None,
    locales: Collection[Locale] | None = None,
    batch: int = 2000,
) -> Iterator[Recipient]:
    """Stream the recipients of a send.

    `market_classes` are the classes this issue covers: someone with interests receives only
    those of them that appear (their `interests` are narrowed to that), and someone whose
    interests do not appear at all is skipped. Empty interests mean every class. Classes match
    ignoring case and spacing (a row stored before interests were canonicalized still
    matches), and narrowed interests take the issue's spelling, which is what editions are
    keyed by.
    """
    wanted = {class_key(c): c for c in market_classes} if market_classes is not None else None
    cache: dict[str, tuple[str, ...] | None] = {}
    result = conn.execution_options(yield_per=batch).execute(recipients_query(tiers, locales))
    rows = cast("Iterable[tuple[Any, ...]]", result)  # Rows unpack like the tuples they are
    for rid, email, name, tier, locale, zone, key in rows:
        if key not in cache:
            cache[key] = effective_interests(split_interests(key), wanted)
        interests = cache[key]
        if interests is None:
            continue
        yield Recipient(rid, email, name, _TIERS[tier], _LOCALES[locale], zone, interests)


def effective_interests(
    interests: tuple[str, ...], wanted: Mapping[str, str] | Collection[str] | None
) -> tuple[str, ...] | None:
    """What a subscriber gets from this issue: all (()), a subset, or nothing (None).

    `wanted` is the issue's classes, or a `class_key` → class map of them (prebuilt by a caller
    that narrows many rows); matching ignores case and spacing, the result is in the issue's
    spelling, sorted like `interests_key`.
    """
    if not interests or wanted is None:
        return interests
    by_key = wanted if isinstance(wanted, Mapping) else {class_key(c): c for c in wanted}
    kept = {by_key[k] for k in map(class_key, interests) if k in by_key}
    return tuple(sorted(kept)) or None


def grouped(
    recipients: Iterable[Recipient],
) -> Iterator[tuple[GroupKey, Iterator[Recipient]]]:
    """Consecutive recipients sharing an edition, lazily (itertools.groupby: nothing is stored).

    Narrowing by market class can map two stored interest sets to one key, so a key may recur;
    look editions up by key rather than assuming each arrives once.
    """
    yield from itertools.groupby(recipients, key=lambda r: GroupKey(r.tier, r.locale, r.interests))


def audience_interest_readers(
    engine: Engine, classes: Iterable[str]
) -> dict[frozenset[str], frozenset[tuple[str, str]]]:
    """Each interest set mailable subscribers hold, narrowed to the issue's classes, with the
    (tier, locale) pairs of the people who hold it.

    Editions are rendered once per set, never per person, and only for the tiers and languages
    someone reads it in: one Strategy Circle reader in English who follows two classes makes
    one more edition, not six. As in the audience's selection, a subscriber's set keeps only
    the classes this issue has (empty = every class; nothing left = not mailed). "All classes"
    comes first and stands for every tier and language: it is every preview's edition.
    """
    present = {class_key(c): c for c in classes}  # matched ignoring case, issue's spelling
    readers: dict[frozenset[str], set[tuple[str, str]]] = {frozenset(): set()}
    query = select(t.c.interests, t.c.tier, t.c.locale).where(mailable(t)).distinct()
    with engine.connect() as conn:
        for key, tier, locale in conn.execute(query):
            stored = (class_key(c) for c in str(key or "").split(";") if c)
            narrowed = frozenset(present[k] for k in stored if k in present)
            if narrowed:
                readers.setdefault(narrowed, set()).add((str(tier), str(locale)))
    return {interests: frozenset(pairs) for interests, pairs in readers.items()}


def mailable_zones(engine: Engine) -> list[str]:
    """The distinct time zones of mailable subscribers: one local-time delivery bucket each."""
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.timezone).where(mailable(t)).distinct()).scalars()
        return sorted({str(z) for z in rows if z})
