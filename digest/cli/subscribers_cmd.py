"""`digest subscribers …`: import, export, add, remove, list, count and forget subscribers.

Thin wrappers over digest.audience; every decision (suppression, what an import may change)
lives in the library so the web app and tests get the same rules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import orjson
import typer
from rich.table import Table

from digest.audience import store
from digest.audience.addresses import InvalidAddress, normalize_email
from digest.audience.csvio import ImportReport, export_rows, import_file, import_stream
from digest.audience.model import (
    Locale,
    Profile,
    Status,
    Subscriber,
    Tier,
    clean_name,
    parse_interests,
    parse_locale,
    parse_status,
    parse_tier,
    parse_timezone,
)
from digest.cli.context import AppContext, fail, make_console
from digest.delivery import erasure
from digest.issues.files import open_private
from digest.signals.classes import known_classes

T = TypeVar("T")

app = typer.Typer(
    help="Manage the audience: import/export CSV, add, remove, list, count, forget.",
    no_args_is_help=True,
)


def print_report(report: ImportReport) -> None:
    """Problems and notes one per line on stderr, then the summary."""
    for problem in report.problems:
        typer.echo(f"{report.source}: {problem}", err=True)
    for note in report.notes:
        typer.echo(f"{report.source}: {note}", err=True)
    typer.echo(report.summary(), err=True)


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="CSV with a header (email,name,tier,…); '-' reads standard input."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
) -> None:
    """Import (upsert) subscribers from a CSV file, in one transaction.

    Columns: email,name,tier,locale,timezone,interests (and optionally status). Bad rows are
    reported as `file: line N: reason` and skipped; the rest import. Nobody who opted out is
    re-subscribed. Exit status 1 when anything was reported.
    """
    a: AppContext = ctx.obj
    zone = a.settings.publication.timezone
    order = a.settings.editions.class_order
    if str(file) == "-":
        report = import_stream(
            a.engine,
            sys.stdin.buffer,
            source="stdin",
            default_zone=zone,
            dry_run=dry_run,
            class_order=order,
        )
    else:
        report = import_file(a.engine, file, default_zone=zone, dry_run=dry_run, class_order=order)
    print_report(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="Where to write; standard output when omitted.")
    ] = None,
) -> None:
    """Export every subscriber as CSV (the import columns plus status); re-imports unchanged."""
    a: AppContext = ctx.obj
    with a.engine.connect() as conn:
        if file is None:
            n = export_rows(conn, sys.stdout)
        else:
            with open_private(file) as out:  # every address: owner-only
                n = export_rows(conn, out)
    typer.echo(f"Exported {n} subscribers" + (f" to {file}" if file else ""), err=True)


def _profile(
    email: str,
    given: dict[str, str | None],
    base: Profile | None,
    zone: str,
) -> Profile:
    """The profile to store: options given override `base` (the stored one), blanks default."""

    def pick(key: str, parse: Callable[[str], T], current: T | None) -> T:
        value = given[key]
        if value is None and current is not None:
            return current
        return parse(value or "")

    try:
        return Profile(
            email=normalize_email(email),
            name=pick("name", clean_name, base.name if base else None),
            tier=pick("tier", parse_tier, base.tier if base else None),
            locale=pick("locale", parse_locale, base.locale if base else None),
            timezone=pick(
                "timezone", lambda v: parse_timezone(v, zone), base.timezone if base else None
            ),
            interests=pick("interests", parse_interests, base.interests if base else None),
        )
    except ValueError as exc:  # InvalidAddress is a ValueError too
        fail(str(exc))


@app.command("add")
def add_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address (normalized, case-insensitive).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    tier: Annotated[
        str | None, typer.Option(help="open (default), strategy_circle or leadership_alliance.")
    ] = None,
    locale: Annotated[str | None, typer.Option(help="en (default) or zh.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone (default: publication.timezone).")
    ] = None,
    interests: Annotated[
        str | None,
        typer.Option(
            help="Market classes separated by ';' (default: all); each must be a known class "
            "(editions.class_order or a stored signal's), matched ignoring case.",
        ),
    ] = None,
) -> None:
    """Add a subscriber (consent source: `cli`), or change the given fields of an existing one.

    Options left out keep an existing subscriber's values. The status never changes here: an
    address that opted out is refused, and only the person's own confirmed opt-in lifts that.
    """
    a: AppContext = ctx.obj
    given = {
        "name": name,
        "tier": tier,
        "locale": locale,
        "timezone": timezone,
        "interests": interests,
    }
    with a.engine.begin() as conn:
        existing = store.get(conn, _email(email))
        base = existing.profile if existing else None
        profile = _profile(email, given, base, a.settings.publication.timezone)
        if interests is not None:
            # Stored interests must name known classes in their canonical spelling, or they
            # match no section and the subscriber is never mailed: refuse, changing nothing.
            classes = known_classes(conn, a.settings.editions.class_order)
            known, unknown = classes.resolve(profile.interests)
            if unknown:
                fail("--interests: " + "; ".join(classes.unknown(u) for u in unknown))
            profile = profile._replace(interests=known)
        try:
            outcome, subscriber = store.add(conn, profile, source="cli")
        except store.SuppressedAddress as exc:
            fail(str(exc), code=1)
    stays = "" if subscriber.status.mailable else f"; stays {subscriber.status.value}"
    typer.echo(
        f"{outcome.value}: {subscriber.email} ({subscriber.tier.display_name}, "
        f"{subscriber.locale.value}{stays})"
    )


def _email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except InvalidAddress as exc:
        fail(f"{raw!r}: {exc}")


@app.command("remove")
def remove_command(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to remove.")]
) -> None:
    """Delete a subscriber; an opt-out on record stays on the suppression list."""
    a: AppContext = ctx.obj
    address = _email(email)
    with a.engine.begin() as conn:
        removed = store.remove(conn, address)
    if not removed:
        fail(f"no subscriber {address}", code=1)
    typer.echo(f"removed: {address}")


@app.command("forget")
def forget_command(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The address to erase.")]
) -> None:
    """Erase a person everywhere (subscriber, deliveries, events); keep only a keyed hash.

    The hash stays on the suppression list so the address is never mailed again, even if a
    later import contains it. It is keyed with this installation's salt, not the signing keys.
    """
    a: AppContext = ctx.obj
    address = _email(email)
    with a.engine.begin() as conn:
        gone = erasure.forget(conn, address)
    what = (
        f"erased the subscriber, {gone.deliveries} deliveries and {gone.events} events"
        if gone.subscriber
        else "no stored data"
    )
    typer.echo(f"forgotten: {what}; the address stays suppressed (as a keyed hash)")


def _as_json(s: Subscriber) -> dict[str, object]:
    return {
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "tier": s.tier.value,
        "locale": s.locale.value,
        "timezone": s.timezone,
        "interests": list(s.interests),
        "status": s.status.value,
        "consent_source": s.consent_source,
        "consent_at": s.consent_at.isoformat() if s.consent_at else None,
        "status_changed_at": s.status_changed_at.isoformat() if s.status_changed_at else None,
        "status_reason": s.status_reason,
    }


def _choice(parse: Callable[[str], T], value: str | None, option: str) -> T | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    tier: Annotated[str | None, typer.Option(help="Only this tier (key or display name).")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List subscribers by address (streamed: fine for large lists)."""
    a: AppContext = ctx.obj
    tier_ = _choice(parse_tier, tier, "--tier")
    status_ = _choice(parse_status, status, "--status")
    with a.engine.connect() as conn:
        for s in store.iter_subscribers(conn, tier=tier_, status=status_):
            if as_json:
                sys.stdout.buffer.write(orjson.dumps(_as_json(s)) + b"\n")
            else:
                interests = ";".join(s.interests) or "all"
                typer.echo(
                    f"{s.email}\t{s.name}\t{s.tier.value}\t{s.locale.value}\t{s.timezone}\t"
                    f"{interests}\t{s.status.value}"
                )


def counts_table(counts: dict[tuple[Tier, Locale, Status], int], title: str) -> Table:
    """Tier × locale rows, one column per status, plus totals."""
    table = Table(title=title)
    table.add_column("tier", no_wrap=True)
    table.add_column("lang")
    for status in Status:
        table.add_column(status.value, justify="right")
    table.add_column("total", justify="right")
    for tier in Tier:
        for locale in Locale:
            row = [counts.get((tier, locale, s), 0) for s in Status]
            table.add_row(tier.display_name, locale.value, *map(str, row), str(sum(row)))
    totals = [sum(n for (_, _, s), n in counts.items() if s is st) for st in Status]
    table.add_row("all", "", *map(str, totals), str(sum(totals)), style="bold")
    return table


def audience_table(counts: dict[tuple[Tier, Locale, Status], int]) -> Table:
    """Who would receive a digest now: active subscribers, tier by language."""
    table = Table(title="Audience: active subscribers by tier and language")
    table.add_column("tier", no_wrap=True)
    for locale in Locale:
        table.add_column(locale.display_name, justify="right")
    table.add_column("total", justify="right")
    for tier in Tier:
        row = [counts.get((tier, locale, Status.ACTIVE), 0) for locale in Locale]
        table.add_row(tier.display_name, *map(str, row), str(sum(row)))
    return table


@app.command("count")
def count_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Count subscribers by tier × language × status."""
    a: AppContext = ctx.obj
    with a.engine.connect() as conn:
        counts = store.counts(conn)
    if as_json:
        rows = [
            {"tier": t.value, "locale": loc.value, "status": s.value, "count": n}
            for (t, loc, s), n in sorted(counts.items())
        ]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    make_console().print(counts_table(counts, "Subscribers"))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="subscribers")
