"""`digest schedule run|list|trigger` and `digest approve`: thin wrappers over digest.jobs."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from sqlalchemy import Engine

from digest.cli.context import AppContext, fail, make_console
from digest.config import Settings
from digest.jobs.approval import ApprovalError, approve
from digest.jobs.lock import LockUnavailable
from digest.jobs.process import run_forever, trigger_now
from digest.jobs.runs import recent_runs
from digest.jobs.scheduler import stored_jobs
from digest.jobs.trigger import fire_times, weekly_trigger
from digest.jobs.weekly import WEEKLY_JOB_ID, ScheduleError
from digest.period import PeriodError, parse_period
from digest.web.accounts import has_accounts, is_editor

app = typer.Typer(
    help="The weekly scheduler: run it, list next and past runs, trigger the job now.",
    no_args_is_help=True,
)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _both(value: dt.datetime | None, settings: Settings) -> tuple[str, str]:
    """A moment in the publication's zone and in UTC, as `schedule list` shows it."""
    if value is None:
        return ("-", "-")
    local = value.astimezone(settings.publication.zone).strftime("%a %Y-%m-%d %H:%M %Z")
    return (local, value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def schedule_overview(
    settings: Settings, engine: Engine, now: dt.datetime, limit: int = 20
) -> dict[str, Any]:
    """What `schedule list` shows, as plain data: next runs, recent results, skips and why."""
    jobs = stored_jobs(engine)
    upcoming = [
        {"job": j.id, "next_run": j.next_run_time, "trigger": j.trigger}
        for j in jobs
        if j.next_run_time is not None
    ]
    if not any(j["job"] == WEEKLY_JOB_ID for j in upcoming):  # never run yet: from config
        trigger = weekly_trigger(settings.schedule.weekly, settings.publication.zone)
        [nxt] = fire_times(trigger, now, 1)
        upcoming.insert(
            0, {"job": WEEKLY_JOB_ID, "next_run": nxt, "trigger": "from config (not yet scheduled)"}
        )
    rows = recent_runs(engine, limit)
    skips = recent_runs(engine, limit, skipped_only=True)

    def run(r: Any) -> dict[str, Any]:
        return {
            "at": _aware(r.recorded_at),
            "job": r.job_id,
            "event": r.event,
            "period": r.period_key,
            "zone": r.zone,
            "outcome": r.outcome,
            "scheduled_for": _aware(r.scheduled_for),
            "detail": r.detail,
        }

    return {
        "weekly": settings.schedule.weekly,
        "timezone": settings.publication.timezone,
        "next": upcoming,
        "recent": [run(r) for r in rows],
        "skipped": [run(r) for r in skips],
    }


def _print_overview(data: dict[str, Any], settings: Settings) -> None:
    console = make_console()
    nxt = Table(title=f"Next runs ({data['weekly']}, {data['timezone']})")
    for col in ("job", data["timezone"], "UTC", "trigger"):
        nxt.add_column(col)
    for j in data["next"]:
        nxt.add_row(j["job"], *_both(j["next_run"], settings), j["trigger"])
    console.print(nxt)
    recent = Table(title="Last results")
    for col in ("recorded (UTC)", "job", "period", "event", "outcome", "detail"):
        recent.add_column(col)
    for r in data["recent"]:
        recent.add_row(
            _both(r["at"], settings)[1],
            r["job"],
            r["period"] or "",
            r["event"],
            r["outcome"] or "",
            r["detail"],
        )
    console.print(recent)
    skipped = Table(title="Skipped runs")
    for col in ("scheduled for", "job", "period", "why"):
        skipped.add_column(col)
    for r in data["skipped"]:
        skipped.add_row(
            _both(r["scheduled_for"], settings)[0], r["job"], r["period"] or "", r["detail"]
        )
    console.print(skipped if data["skipped"] else "No skipped runs.")


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    limit: Annotated[int, typer.Option(help="How many past results to show.")] = 20,
) -> None:
    """Next runs (in the publication's zone and in UTC), last results, skipped runs and why."""
    app_ctx: AppContext = ctx.obj
    data = schedule_overview(app_ctx.settings, app_ctx.engine, dt.datetime.now(dt.UTC), limit)
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    _print_overview(data, app_ctx.settings)


def _log_to_stderr(fmt: str) -> None:
    """Fires, skips and results at INFO; the migration runner's chatter only when it matters."""
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Run the scheduler until SIGTERM/SIGINT; a second one waits as a standby."""
    app_ctx: AppContext = ctx.obj
    _log_to_stderr("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = run_forever(app_ctx.settings, app_ctx.config_path)
    except (LockUnavailable, ScheduleError) as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command("trigger")
def trigger_command(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option(help="Period to run (2026-W47 or a date range); default: last complete week."),
    ] = None,
) -> None:
    """Run the weekly job now, in this process (safe to repeat: the ledger sends once)."""
    app_ctx: AppContext = ctx.obj
    _log_to_stderr("%(levelname)s %(name)s: %(message)s")
    try:
        if period:
            parse_period(period)
        summary = trigger_now(app_ctx.settings, app_ctx.config_path, period)
    except (PeriodError, ScheduleError) as exc:
        fail(str(exc))
    typer.echo(summary)


def approver(engine: Engine, by: str | None) -> str:
    """The name an approval from the command line records: `--by`, else this machine's login
    name. Once editor accounts exist it must be one of them, so the record names a person the
    web app knows rather than a typo."""
    name = (by or _login_name()).strip()
    if not name:
        fail("--by: give the approving editor's name")
    if has_accounts(engine):
        if not is_editor(engine, name):
            fail(f"--by: {name!r} is not an editor account (`digest editors list` shows them)")
        name = name.lower()
    return name


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "cli"


def approve_command(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="The period whose built issue to approve.")],
    by: Annotated[
        str | None,
        typer.Option(
            help="Who approves (recorded on the issue); default: your login name. Must be an "
            "editor account once any exists."
        ),
    ] = None,
) -> None:
    """Approve a built issue so the scheduler may send it (approval gate)."""
    app_ctx: AppContext = ctx.obj
    name = approver(app_ctx.engine, by)
    try:
        done = approve(app_ctx.engine, period, name, dt.datetime.now(dt.UTC))
    except (ApprovalError, PeriodError) as exc:
        fail(str(exc))
    when = done.approved_at.strftime("%Y-%m-%d %H:%M UTC")
    if done.already:
        typer.echo(f"{done.period_key} was already approved by {done.approved_by} at {when}")
    else:
        typer.echo(f"{done.period_key} approved by {done.approved_by} at {when}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schedule")
    root.command("approve")(approve_command)
