"""`digest issue …`: one period's issue as the editor steers it (`show` here; the controls
subcommands join the same group)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from digest.cli.build_cmd import PeriodOpt, resolve_period
from digest.cli.context import AppContext, fail, make_console
from digest.issues.accounting import Accounting
from digest.issues.build import period_accounting
from digest.issues.render.engine import RenderError

issue_app = typer.Typer(
    help="One period's issue: what happens to each signal, and the editor's controls.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def print_accounting(console: Console, period_key: str, accounting: Accounting) -> None:
    """Every signal of the period with the editions that show it, or why they do not."""
    table = Table(title=f"Signals of {period_key}", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="fold", max_width=24)
    table.add_column("tier", no_wrap=True)
    table.add_column("class", overflow="fold", max_width=14)
    table.add_column("shown in", overflow="fold", min_width=17)
    table.add_column("why not shown (merged into, excluded, ...)", overflow="fold", min_width=24)
    every = {n for f in accounting.signals for n in (*f.shown_in, *f.missing)}
    for fate in accounting.signals:
        if fate.shown_in and set(fate.shown_in) == every:
            shown = f"every edition ({len(every)})"
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


@issue_app.command("show")
def show_command(ctx: typer.Context, period: PeriodOpt = None) -> None:
    """List the period's signals and what happens to each: the editions that show it, merged
    into which, excluded, why it is missing elsewhere, and the suggested merges.

    Reads the frozen issue's accounting; before a build, makes a trial build (nothing frozen).
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
    console.print(f"{chosen.key}: {len(accounting.signals)} signals ({state})")


def register(app: typer.Typer) -> None:
    app.add_typer(issue_app, name="issue")
