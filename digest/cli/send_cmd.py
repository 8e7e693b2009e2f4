"""`digest send`, `digest check` and `digest stats`: thin wrappers over digest.delivery.

Exit status of `digest send`: 0 when every eligible recipient was accepted (or skipped as
suppressed), 3 when the only shortfall is uncertain (or still pending) batches, 1 when anything
failed or the preflight refused, 2 for a usage error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from digest.cli.build_cmd import PeriodOpt, resolve_period
from digest.cli.context import AppContext, fail, make_console, stderr_is_terminal
from digest.config import ConfigError
from digest.delivery import make_provider
from digest.delivery.check import failures, run_checks
from digest.delivery.events import RejectedEvent, edition_stats, rejected_summary
from digest.delivery.provider import Problem
from digest.delivery.providers import DEFAULT, PROVIDERS, configured_provider, names, spec
from digest.delivery.report import Progress as SendProgress
from digest.delivery.run import (
    EXECUTORS,
    SendError,
    SendReport,
    send_period,
)
from digest.model import MEMBERSHIP_TIERS
from digest.period import Period

ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider",
        help=f"One of {', '.join(PROVIDERS)} (the provider registry's modules); the default "
        f"({DEFAULT}) sends nothing off this machine.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@contextmanager
def send_progress(enabled: bool) -> Iterator[SendProgress | None]:
    """A rich progress bar on a terminal, with notes (a dead worker's rows reassigned) printed
    above it; nothing in pipes, CI logs or --json (the notes are in the report)."""
    if not enabled or not stderr_is_terminal():
        yield None
        return
    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("send", total=None)

        def update(done: int, total: int, note: str | None = None) -> None:
            progress.update(task, completed=done, total=total)
            if note:
                progress.console.print(note, markup=False, highlight=False)

        yield update


def print_problems(console: Console, problems: list[Problem]) -> None:
    for p in problems:
        console.print(f"{p.level.upper()} {p}", markup=False, highlight=False)


def summary_line(report: SendReport) -> str:
    if report.dry_run:
        return (
            f"{report.period}: dry run, nothing sent: {report.would_send} would be sent; "
            f"{report.skipped} already settled, {report.suppressed} suppressed" + _outside(report)
        )
    if report.test_to:
        return f"{report.period}: {report.accepted} test editions sent to {report.test_to}"
    nothing = " (nothing new to send)" if report.sent_now == 0 else ""
    return (
        f"{report.period} via {report.provider}: {report.sent_now} sent now{nothing}; in all "
        f"{report.accepted} accepted, {report.failed} failed, {report.uncertain} uncertain, "
        f"{report.suppressed} suppressed, {report.pending} pending" + _outside(report)
    )


def _outside(report: SendReport) -> str:
    """The readers this issue has nothing for, so that every subscriber is accounted for."""
    n = report.outside_interests
    if not n:
        return ""
    readers = "reader" if n == 1 else "readers"
    return f"; {n} {readers} not mailed: none of their classes has a signal this issue"


def _preflight(app: AppContext, provider: str, period: Period, quiet: bool) -> None:
    """A real provider refuses to send on any failed check; the outbox only warns."""
    real = spec(provider).leaves_machine
    problems = run_checks(app.settings, app.engine, provider, period=period, strict=real)
    if not quiet:
        print_problems(make_console(stderr=True), problems)
    if failures(problems):
        fail(f"digest check failed: not sending through {provider} (fix the above)", code=1)


def send_command(
    ctx: typer.Context,
    period: PeriodOpt = None,
    provider: ProviderOpt = DEFAULT,
    tier: Annotated[
        list[str] | None,
        typer.Option("--tier", help="Only this tier (repeatable).", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be sent; send nothing.")
    ] = False,
    test_to: Annotated[
        str | None,
        typer.Option("--test-to", help="Send every edition to this address only, as a test."),
    ] = None,
    resend_uncertain: Annotated[
        bool,
        typer.Option(
            "--resend-uncertain",
            help="Send again to recipients whose earlier batch may or may not have gone out.",
        ),
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="inprocess, or celery: batches go to `digest worker`s through the broker "
            "(default: celery when celery.enabled).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send the period's frozen editions to every eligible subscriber, exactly once.

    Re-running is always safe: the delivery ledger sends only what no run has sent. Exit 0 when
    all were accepted or suppressed, 3 when the only shortfall is uncertain, 1 on any failure.
    """
    app: AppContext = ctx.obj
    if provider not in names():
        fail(f"--provider: {provider!r} is not one of {', '.join(names())}")
    unknown = [t for t in tier or [] if t not in MEMBERSHIP_TIERS]
    if unknown:
        fail(f"--tier: {unknown[0]!r} is not one of {', '.join(MEMBERSHIP_TIERS)}")
    executor = executor or ("celery" if app.settings.celery.enabled else "inprocess")
    if executor not in EXECUTORS:
        fail(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    chosen = resolve_period(period, app.settings)
    if not dry_run:
        _preflight(app, provider, chosen, as_json)
    try:
        sender = make_provider(provider, app.settings)
    except ConfigError as exc:
        fail(str(exc), code=1)
    try:
        with send_progress(not as_json) as progress:
            report = send_period(
                app.settings,
                app.engine,
                chosen,
                sender,
                executor=executor,
                tiers=set(tier) if tier else None,
                dry_run=dry_run,
                test_to=test_to,
                resend_uncertain=resend_uncertain,
                progress=progress,
            )
    except SendError as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(orjson.dumps(report.as_dict()).decode())
    else:
        console = make_console()
        for note in report.notes:
            console.print(note, markup=False, highlight=False)
        console.print(summary_line(report), markup=False, highlight=False)
        if report.outbox_dir and not dry_run:
            console.print(f"Outbox: {report.outbox_dir}/", markup=False, highlight=False)
        if report.uncertain:
            console.print(
                f"{report.uncertain} uncertain: the provider may have sent them; check its "
                "activity log, then `digest send --resend-uncertain` if they did not go out.",
                markup=False,
            )
    raise typer.Exit(0 if dry_run else report.exit_code)


def check_command(
    ctx: typer.Context,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", help="Check for this provider (default: the configured real one)."
        ),
    ] = None,
    period: PeriodOpt = None,
) -> None:
    """Preflight a real send: From address, https base URL, secret key, provider credentials,
    templates and the editions' inbox checks. Exit 1 on any failure."""
    app: AppContext = ctx.obj
    name = provider or configured_provider(app.settings)
    if name not in names():
        fail(f"--provider: {name!r} is not one of {', '.join(names())}")
    chosen = resolve_period(period, app.settings) if period else None
    problems = run_checks(app.settings, app.engine, name, period=chosen)
    console = make_console()
    print_problems(console, problems)
    if failures(problems):
        console.print(f"{len(failures(problems))} problems: a real send would be refused.")
        raise typer.Exit(1)
    console.print(f"All checks passed for {name}.")


def stats_command(ctx: typer.Context, period: PeriodOpt = None, as_json: JsonOpt = False) -> None:
    """Per edition: sent, delivered, bounced, complaints, unsubscribes, opens, clicks (from the
    ledger and SendGrid's events; each counts people, not events), then any webhook events
    rejected."""
    app: AppContext = ctx.obj
    chosen = resolve_period(period, app.settings)
    rows = edition_stats(app.engine, chosen)
    rejected, latest = rejected_summary(app.engine)
    if as_json:
        data = {
            "period": chosen.key,
            "editions": [r.as_dict() for r in rows],
            "rejected_events": {"total": rejected, "latest": [e.as_dict() for e in latest]},
        }
        typer.echo(orjson.dumps(data).decode())
        return
    table = Table(title=f"Editions of {chosen.key}", title_justify="left")
    columns = ("sent", "delivered", "bounced", "complaints", "unsubscribes", "opens", "clicks")
    table.add_column("edition")
    for column in columns:
        table.add_column(column, justify="right")
    for r in rows:
        if r.interests and not any(getattr(r, c) for c in columns):
            continue  # an interest-set edition nobody received: noise in a table
        name = f"{r.tier}.{r.locale}" + (f" [{r.interests}]" if r.interests else "")
        table.add_row(name, *(str(getattr(r, c)) for c in columns))
    make_console().print(table)
    if not rows:
        make_console().print(f"No issue for {chosen.key} yet.")
    _print_rejected(rejected, latest)


def _print_rejected(total: int, latest: list[RejectedEvent]) -> None:
    """Webhook events refused one by one: an operator's to look at (a bug on either side)."""
    if not total:
        return
    console = make_console()
    console.print(
        f"Rejected webhook events: {total} (all time); the newest:", markup=False, highlight=False
    )
    for e in latest:
        when = e.received_at.strftime("%Y-%m-%d %H:%M")
        line = f"  {when}  {e.provider_event_id or '-'}  {e.reason}"
        console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("send")(send_command)
    app.command("check")(check_command)
    app.command("stats")(stats_command)
