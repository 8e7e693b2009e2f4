"""`digest issue …`: one period's issue as the editor sees it (`show`) and steers it, the same
controls as the editor's page.

Each subcommand is one call into `digest.issues.controls_store` (one transaction: refused whole,
or applied whole) and prints what changed and what follows from it (stale editions, an approval
withdrawn).
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from digest.cli.build_cmd import PeriodOpt, resolve_period
from digest.cli.context import AppContext, fail, make_console
from digest.issues import controls_store as cs
from digest.issues.accounting import Accounting
from digest.issues.build import period_accounting
from digest.issues.controls import ControlsError
from digest.issues.render.engine import RenderError
from digest.issues.store import FrozenError, StoredSinceBuild, find_issue, stored_since_build
from digest.jobs.approval import status_label
from digest.model import LANGS
from digest.period import Period

app = typer.Typer(
    help="One period's issue: what happens to each signal (show), and the editor's controls.",
    no_args_is_help=True,
)

IdsArg = Annotated[list[str], typer.Argument(help="Signal ids of the period.", show_default=False)]


def print_accounting(console: Console, period_key: str, accounting: Accounting) -> None:
    """Every signal of the period with the editions that show it, or why they do not."""
    table = Table(title=f"Signals of {period_key}", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="fold", max_width=24)
    table.add_column("tier", no_wrap=True)
    table.add_column("class", overflow="fold", max_width=14)
    # no minimum widths: on a narrow terminal rich then narrows every column instead of
    # cutting the last one (the reasons) off at the edge
    table.add_column("shown in", overflow="fold")
    table.add_column("why not shown", overflow="fold")
    every = {n for f in accounting.signals for n in (*f.shown_in, *f.missing)}
    whole = {n for n in every if "[" not in n}  # the editions for readers of every class
    for fate in accounting.signals:
        if fate.shown_in and set(fate.shown_in) == every:
            shown = f"every edition ({len(every)})"
        elif whole != every and set(fate.shown_in) == whole:
            shown = f"every edition for all classes ({len(whole)})"
        else:
            shown = ", ".join(fate.shown_in) or "-"
        story = accounting.stories.get(fate.id)
        why = fate.reason
        if story and story["disagreement"]:
            scores = "/".join(str(c) for c in story["confidences"])
            why = f"{why}; merged records disagree on confidence ({scores})".lstrip("; ")
        title = fate.title if len(fate.title) <= 60 else fate.title[:59] + "…"
        table.add_row(fate.id, title, fate.tier or "-", fate.market_class or "-", shown, why)
    console.print(table)
    if not accounting.suggested_merges:
        console.print("No merges suggested.")
    for s in accounting.suggested_merges:
        console.print(
            f"suggested merge ({s.why}, score {s.score:.0f}):\n"
            f"  keep {s.keep} [{s.confidences[0]}] {s.titles[0]} ({s.sources[0] or 'no source'})\n"
            f"  drop {s.drop} [{s.confidences[1]}] {s.titles[1]} ({s.sources[1] or 'no source'})\n"
            f"  digest issue merge {s.keep} {s.drop}",
            markup=False,
            highlight=False,
        )


@app.command("show")
def show_command(ctx: typer.Context, period: PeriodOpt = None) -> None:
    """List the period's signals and what happens to each: the editions that show it, merged
    into which, excluded, why it is missing elsewhere, and the suggested merges.

    Reads the frozen issue's accounting; before a build, or once an editor's change made the
    editions stale, makes a trial build with the current controls (nothing frozen).
    """
    app: AppContext = ctx.obj
    chosen = resolve_period(period, app.settings)
    try:
        accounting, frozen = period_accounting(app.settings, app.engine, chosen)
    except RenderError as exc:
        fail(str(exc), code=1)
    if accounting is None:
        fail(
            f"{chosen.key}: its sending began before builds recorded what happened to each "
            "signal; there is no accounting to show",
            code=1,
        )
    console = make_console()
    print_accounting(console, chosen.key, accounting)
    state = "frozen issue" if frozen else "trial build, not frozen"
    row = find_issue(app.engine, chosen)
    label = status_label(row, chosen, app.settings, dt.datetime.now(dt.UTC))
    console.print(f"{chosen.key}: {len(accounting.signals)} signals ({state}); status: {label}")
    print_stored_since_build(console, stored_since_build(app.engine, chosen))


def print_stored_since_build(console: Console, late: StoredSinceBuild | None) -> None:
    """The signals the frozen editions never saw, one per line (titles are untrusted text)."""
    if late is None:
        return
    console.print(late.summary(), markup=False, highlight=False)
    for signal in late.signals:
        console.print(f"  {signal.id}  {signal.title}", markup=False, highlight=False)


def _who() -> str:
    """Recorded with the change: the login name (as `digest approve` does by default)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _apply(
    ctx: typer.Context, period: str | None, done: str, change: Callable[..., cs.Change]
) -> None:
    """Run one change for the chosen period and say what it did, or why it was refused."""
    app_ctx: AppContext = ctx.obj
    chosen: Period = resolve_period(period, app_ctx.settings)
    try:
        result = change(app_ctx.engine, chosen)
    except ControlsError as exc:
        fail(f"{chosen.key}: {exc}; nothing was changed")
    except FrozenError as exc:
        fail(str(exc), code=1)
    typer.echo(f"{chosen.key}: {done}")
    required = app_ctx.settings.schedule.approval_required
    for line in result.consequences(chosen.key, approval_required=required):
        typer.echo(line)


@app.command("exclude")
def exclude_command(ctx: typer.Context, ids: IdsArg, period: PeriodOpt = None) -> None:
    """Leave signals out of every edition of the period."""
    _apply(ctx, period, f"excluded {', '.join(ids)}", lambda e, p: cs.exclude(e, p, ids, by=_who()))


@app.command("include")
def include_command(ctx: typer.Context, ids: IdsArg, period: PeriodOpt = None) -> None:
    """Put excluded signals back."""
    _apply(ctx, period, f"included {', '.join(ids)}", lambda e, p: cs.include(e, p, ids, by=_who()))


@app.command("lead")
def lead_command(
    ctx: typer.Context,
    signal_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="The lead story's id.", show_default=False)
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="No pick: the first shown signal leads.")
    ] = False,
    period: PeriodOpt = None,
) -> None:
    """Make a signal the lead story: first in its section and first in the subject."""
    if (signal_id is None) == (not clear):
        fail("give the lead story's ID, or --clear (not both)")
    done = f"{signal_id} is the lead story" if signal_id else "lead cleared"
    _apply(ctx, period, done, lambda e, p: cs.set_lead(e, p, signal_id, by=_who()))


@app.command("merge")
def merge_command(
    ctx: typer.Context,
    keep: Annotated[str, typer.Argument(metavar="KEEP", help="The signal shown.")],
    drops: Annotated[
        list[str], typer.Argument(metavar="DROP...", help="Signals merged into KEEP.")
    ],
    period: PeriodOpt = None,
) -> None:
    """Merge reports of one story: DROP... are shown as part of KEEP."""
    done = f"merged {', '.join(drops)} into {keep}"
    _apply(ctx, period, done, lambda e, p: cs.merge(e, p, keep, drops, by=_who()))


@app.command("unmerge")
def unmerge_command(
    ctx: typer.Context,
    drop: Annotated[str, typer.Argument(metavar="DROP", help="The merged signal.")],
    period: PeriodOpt = None,
) -> None:
    """Show a merged signal on its own again (also splits it out of an automatic merge)."""
    _apply(
        ctx, period, f"{drop} is shown on its own", lambda e, p: cs.unmerge(e, p, drop, by=_who())
    )


def _read_note(source: str) -> str:
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        hint = (  # the usual slip: the note's text typed where its file goes
            "; the note is read from a Markdown file, or from standard input with `-` "
            "(`echo 'Text' | digest issue note -`)"
            if isinstance(exc, FileNotFoundError)
            else ""
        )
        fail(f"note: cannot read {source}: {exc.strerror or exc}{hint}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = "standard input" if source == "-" else source
        fail(f"note: {where} is not UTF-8 text (byte {exc.start})")


@app.command("note")
def note_command(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE|-", help="Markdown file, or - for standard input.", show_default=False
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
    clear: Annotated[bool, typer.Option("--clear", help="Remove this language's note.")] = False,
    period: PeriodOpt = None,
) -> None:
    """The editor's note at the top of every edition in one language (Markdown, at most 600
    characters; links only to absolute http(s) URLs; no raw HTML, images or template syntax)."""
    if lang not in LANGS:
        fail(f"--lang: {lang!r} is not one of {', '.join(LANGS)}")
    if (source is None) == (not clear):
        fail("give the note's FILE (or - for standard input), or --clear (not both)")
    text = _read_note(source) if source is not None else None
    done = f"{lang} note {'set' if text and text.strip() else 'cleared'}"
    _apply(ctx, period, done, lambda e, p: cs.set_note(e, p, lang, text, by=_who()))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="issue")
