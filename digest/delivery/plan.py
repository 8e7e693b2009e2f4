"""The plan of one send: which frozen editions, which groups of recipients read which, made once.

A plan is plain values. The editions come from the build
(`digest.issues.build.frozen_editions`); the delivery core never builds. Opening the send queues
one ledger row per mailable recipient before anything leaves, set-based; finishing it reads the
outcome back from the ledger. Both executors open and finish a send through here, so they cannot
differ in either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, Connection, Engine, Subquery, exists, func, select

from digest.audience.selection import (
    effective_interests,
    mailable_subscribers,
    unmailable_subscribers,
)
from digest.config import Settings
from digest.delivery import ledger
from digest.delivery.headers import feedback_id_value, list_id_value
from digest.delivery.provider import EditionMessage
from digest.delivery.report import SendError, SendReport
from digest.issues.build import stale_message
from digest.issues.editions import Edition
from digest.issues.store import issue_classes, mark_sending, mark_sent
from digest.period import Period
from digest.storage.schema import deliveries as d


@dataclass(frozen=True)
class Group:
    """Subscribers sharing a stored (tier, locale, interests), and the edition they read."""

    tier: str
    locale: str
    interests: str
    edition: Edition


@dataclass(frozen=True)
class Plan:
    """One send: the issue, its editions in scope, the groups, and the scope's limits."""

    period: Period
    issue_id: int
    editions: tuple[Edition, ...]
    groups: tuple[Group, ...]
    tiers: frozenset[str] | None = None
    timezones: frozenset[str] | None = None
    outside: tuple[str, ...] = ()
    """Stored interest sets (as stored) none of whose classes this issue has: their readers are
    mailable but get no email this time, and the report counts them."""

    @property
    def scope(self) -> list[int]:
        """The edition ids in scope: what the ledger's counts of this send cover."""
        return [e.stored_id for e in self.editions]


def make_plan(
    engine: Engine,
    period: Period,
    issue_id: int,
    editions: Collection[Edition],
    *,
    tiers: Collection[str] | None = None,
    timezones: Collection[str] | None = None,
) -> Plan:
    """The plan for sending `editions` (frozen, with ids) of the period's issue."""
    chosen = tuple(e for e in editions if tiers is None or e.tier in tiers)
    with engine.connect() as conn:
        groups, outside = _groups(conn, chosen, issue_classes(conn, chosen), tiers)
    return Plan(
        period,
        issue_id,
        chosen,
        tuple(groups),
        frozenset(tiers) if tiers is not None else None,
        frozenset(timezones) if timezones is not None else None,
        tuple(sorted(outside)),
    )


def _groups(
    conn: Connection,
    editions: Collection[Edition],
    classes: frozenset[str],
    tiers: Collection[str] | None,
) -> tuple[list[Group], set[str]]:
    """The groups of mailable subscribers and their editions, and the stored interest sets the
    issue does not cover.

    A subscriber reads the edition of their interests narrowed to the issue's classes; when no
    edition was frozen for that set (their interests changed after the build), the tier and
    language's all-classes edition. Groups whose interests the issue does not cover get none.
    """
    by_key = {(e.tier, e.locale, e.interests_key): e for e in editions}
    m = mailable_subscribers()
    query = select(m.c.tier, m.c.locale, m.c.interests).distinct()
    if tiers is not None:
        query = query.where(m.c.tier.in_(sorted(tiers)))
    groups, outside = [], set()
    for tier, locale, stored in conn.execute(query):
        narrowed = effective_interests(tuple(c for c in str(stored).split(";") if c), classes)
        if narrowed is None:
            outside.add(str(stored))
            continue
        key = ";".join(sorted(narrowed))
        edition = by_key.get((tier, locale, key)) or by_key.get((tier, locale, ""))
        if edition is not None:
            groups.append(Group(tier, locale, str(stored), edition))
    return groups, outside


def open_send(
    conn: Connection, plan: Plan, now: dt.datetime, *, resend_uncertain: bool
) -> dict[str, int]:
    """Mark the issue as sending and queue a ledger row for every eligible recipient.

    Returns the ledger's counts from before the queuing (what earlier runs already settled).
    """
    issue_id, scope = plan.issue_id, plan.scope
    stale_at = mark_sending(conn, issue_id, now)
    if stale_at is not None:  # an editor's change since the build: refused, rolled back
        raise SendError(stale_message(plan.period, stale_at))
    if resend_uncertain:
        ledger.requeue_uncertain(conn, issue_id, scope)
    before = ledger.state_counts(conn, issue_id, scope)
    for g in plan.groups:
        ledger.enqueue_group(
            conn,
            issue_id,
            g.edition.stored_id,
            tier=g.tier,
            locale=g.locale,
            interests=g.interests,
            now=now,
            timezones=plan.timezones,
        )
    return before


def _without_row(
    conn: Connection, plan: Plan, people: Subquery, *where: ColumnElement[bool], by_zone: bool
) -> int:
    """How many of `people` in the send's tiers (and, `by_zone`, its time zones) that match
    `where` have no ledger row of this issue: counted apart from the ledger's own counts."""
    has_row = exists().where(d.c.issue_id == plan.issue_id, d.c.subscriber_id == people.c.id)
    query = select(func.count()).select_from(people).where(*where, ~has_row)
    if plan.tiers is not None:
        query = query.where(people.c.tier.in_(sorted(plan.tiers)))
    if by_zone and plan.timezones is not None:
        query = query.where(people.c.timezone.in_(sorted(plan.timezones)))
    return int(conn.execute(query).scalar_one())


def unmailable_without_row(conn: Connection, plan: Plan) -> int:
    """Subscribers in scope kept out at queue time (opted out, bounced, complained, listed).
    Every time zone's, even in a send scoped to some zones (as it always counted them)."""
    return _without_row(conn, plan, unmailable_subscribers(), by_zone=False)


def outside_the_issue(conn: Connection, plan: Plan) -> int:
    """Mailable subscribers in scope whose classes have no signal in this issue: skipped by
    design, and counted so that nobody leaves a send unaccounted for. One with a row of this
    issue (mailed by an earlier run, their classes changed since) is counted by that row."""
    if not plan.outside:
        return 0
    m = mailable_subscribers()
    return _without_row(conn, plan, m, m.c.interests.in_(plan.outside), by_zone=True)


def fill_counts(conn: Connection, plan: Plan, report: SendReport) -> None:
    """The report's counts, from the ledger, for the editions in scope."""
    counts = ledger.state_counts(conn, plan.issue_id, plan.scope)
    report.accepted = counts.get("accepted", 0)
    report.failed = counts.get("failed", 0)
    report.uncertain = counts.get("uncertain", 0)
    report.pending = counts.get("queued", 0) + counts.get("sending", 0)
    report.suppressed = counts.get("suppressed", 0) + unmailable_without_row(conn, plan)
    report.outside_interests = outside_the_issue(conn, plan)


def finish(engine: Engine, plan: Plan, report: SendReport, now: dt.datetime) -> None:
    """Fill the report from the ledger; mark the issue sent once nothing is left for anyone."""
    with engine.begin() as conn:
        fill_counts(conn, plan, report)
        everything = ledger.state_counts(conn, plan.issue_id)
        open_rows = everything.get("queued", 0) + everything.get("sending", 0)
        if plan.tiers is None and plan.timezones is None and not open_rows:
            mark_sent(conn, plan.issue_id, now)


def dry_run(engine: Engine, plan: Plan, report: SendReport) -> SendReport:
    """Count what a send would do, writing nothing."""
    m = mailable_subscribers()
    settled = exists().where(
        d.c.issue_id == plan.issue_id,
        d.c.subscriber_id == m.c.id,
        d.c.state.in_([str(x) for x in ledger.FINAL]),
    )
    with engine.connect() as conn:
        for g in plan.groups:
            query = (
                select(func.count())
                .select_from(m)
                .where(
                    m.c.tier == g.tier,
                    m.c.locale == g.locale,
                    m.c.interests == g.interests,
                    ~settled,
                )
            )
            if plan.timezones is not None:
                query = query.where(m.c.timezone.in_(sorted(plan.timezones)))
            report.would_send += int(conn.execute(query).scalar_one())
        fill_counts(conn, plan, report)
        counts = ledger.state_counts(conn, plan.issue_id, plan.scope)
        report.skipped = sum(counts.get(str(st), 0) for st in ledger.FINAL)
    report.pending = 0
    return report


class EditionParts(Protocol):
    """What a message needs of an edition (an `Edition`, stored or just built)."""

    @property
    def tier(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


def edition_message(
    settings: Settings,
    period: Period,
    issue_id: int,
    edition_id: int,
    e: EditionParts,
    *,
    test: bool = False,
    categories: tuple[str, ...] | None = None,
) -> EditionMessage:
    """The provider's message for one edition: the same From, ids and categories everywhere."""
    pub = settings.publication
    if categories is None:
        categories = ("digest", f"issue-{period.key}", f"tier-{e.tier}", f"locale-{e.locale}")
    return EditionMessage(
        issue_id=issue_id,
        edition_id=edition_id,
        period_key=period.key,
        tier=e.tier,
        locale=e.locale,
        subject=e.subject,
        html=e.html,
        text=e.text,
        from_email=pub.from_email,
        from_name=pub.from_name,
        reply_to=pub.reply_to,
        categories=categories,
        test=test,
        list_id=list_id_value(pub.name, pub.list_identifier),
        feedback_id=feedback_id_value("digest", e.tier, period.key, pub.feedback_sender),
    )


def stored_message(
    settings: Settings, period: Period, issue_id: int, e: Edition, *, test: bool = False
) -> EditionMessage:
    """The message of a frozen edition."""
    return edition_message(settings, period, issue_id, e.stored_id, e, test=test)
