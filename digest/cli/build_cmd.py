"""`digest build` and `digest preview`: a period's editions, written to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand

from digest.cli.context import AppContext, fail, make_console
from digest.cli.ingest_cmd import print_errors
from digest.config import Settings
from digest.issues.accounting import Accounting
from digest.issues.build import BuildResult, build, write_editions
from digest.issues.render.engine import RenderError
from digest.issues.store import FrozenError
from digest.model import LANGS, MEMBERSHIP_TIERS
from digest.period import Period, PeriodError, last_complete_week, parse_period
from digest.text import counted

PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="ISO week (2024-W14) or date range (2024-04-01..2024-04-07); default: the last "
        "complete ISO week in the publication's time zone.",
    ),
]
SignalsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--signals",
        help="Use only these files or folders (no database): `--signals a.md pages/` or "
        "repeated `--signals`.",
        metavar="PATH...",
        show_default=False,
    ),
]
# `--signals a b c`: click options take one value each, so the paths after the first arrive as
# arguments and join the option's list.
MorePathsArg = Annotated[list[str] | None, typer.Argument(hidden=True, show_default=False)]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Output folder (default: editions.out_dir).")
]


class HiddenArgsCommand(TyperCommand):
    """A command whose usage line leaves hidden arguments out.

    Typer drops a hidden argument from the help's list but still writes it into `Usage:`
    (`[more]...`): plumbing a user never types (MorePathsArg) has no place there.
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # ctx: Typer's own click.Context
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def resolve_period(text: str | None, settings: Settings) -> Period:
    if text is None:
        return last_complete_week(settings.publication.zone)
    try:
        return parse_period(text)
    except PeriodError as exc:
        fail(f"--period: {exc}")


def warn_if_empty(result: BuildResult) -> None:
    """An empty edition is a valid build, but rarely what was meant: say so, and what to try."""
    if not any(not s.internal for s in result.signals):
        typer.echo(
            f"warning: no signals were published in {result.period.key} ({result.period.start}"
            f"..{result.period.end}); choose another --period, or read files with --signals",
            err=True,
        )


def signal_paths(signals: list[str] | None, more: list[str] | None) -> list[str] | None:
    if more and not signals:
        fail(f"unexpected argument {more[0]!r}: input paths go after --signals")
    return [*(signals or []), *(more or [])] or None


def _run(app: AppContext, period: Period, signals: list[str] | None, force: bool) -> BuildResult:
    try:
        if signals:
            return build(app.settings, period, signal_paths=signals, force=force)
        return build(app.settings, period, engine=app.engine, force=force)
    except FrozenError as exc:
        fail(f"--force refused: {exc}", code=1)
    except RenderError as exc:
        fail(str(exc), code=1)


def report(console: Console, result: BuildResult) -> None:
    """The editions table, every failing or warning check, and the editors' signal list."""
    table = Table(title=f"Editions of {result.period.key}", title_justify="left")
    for column in ("tier", "locale", "signals", "HTML", "checks", "file"):
        table.add_column(column, no_wrap=True)
    main = [e for e in result.editions if not e.interests]
    for e in main:
        status = "FAIL" if e.failures else ("warn" if e.warnings else "ok")
        file = result.path(e).name if result.out_dir else "-"
        table.add_row(
            e.tier, e.locale, str(len(e.signal_ids)), f"{e.html_bytes / 1000:.1f} KB", status, file
        )
    console.print(table)
    if len(main) < len(result.editions):
        sets = {e.interests_key for e in result.editions if e.interests}
        console.print(
            f"+ {counted(len(result.editions) - len(main), 'edition')} for "
            f"{counted(len(sets), 'interest set')} (stored for sending, not written)"
        )
    seen: set[tuple[str, str]] = set()
    for e in result.editions:
        for c in e.failures + e.warnings:
            shared = c.name == "https"  # the same for every edition: say it once
            where = "all editions" if shared else f"{e.tier}.{e.locale}"
            if (where, c.message) in seen:
                continue
            seen.add((where, c.message))
            console.print(f"{c.level.upper()} {where}: {c.name}: {c.message}", markup=False)
    internal = [s for s in result.signals if s.internal]
    if internal:
        console.print(f"{len(internal)} internal-monitoring signals kept out of every edition:")
        for s in internal:
            console.print(f"  [internal] {s.id}  {s.title}", markup=False)
    if result.duplicates:
        for dropped, kept in result.duplicates.items():
            console.print(
                f"  duplicate {dropped} merged into {kept} (the same signal)", markup=False
            )
    if result.accounting is not None:
        report_accounting(console, result.accounting)


def report_accounting(console: Console, accounting: Accounting) -> None:
    """Signals missing from every edition (and why), and the merges suggested to the editor:
    a scheduled send's log then shows what no edition carries."""
    fates = accounting.signals
    shown = sum(1 for f in fates if f.shown_in)
    merged = sum(1 for f in fates if f.merged_into)
    partly = sum(1 for f in fates if f.shown_in and f.missing)
    console.print(
        f"{len(fates)} signals of the period: {shown} shown ({partly} not in every edition: "
        f"see `digest issue show`), {merged} merged, {len(fates) - shown - merged} not shown",
        markup=False,
    )
    absent = [f for f in fates if not f.shown_in and not f.merged_into]
    for fate in absent:
        if fate.id not in accounting.internal_excluded:
            console.print(f"  not shown: {fate.id}: {fate.reason}", markup=False)
    for s in accounting.suggested_merges:
        console.print(
            f"  suggested merge ({s.why}, {s.score:.0f}): keep {s.keep} "
            f"[{s.confidences[0]}] {s.titles[0]!r}; drop {s.drop} [{s.confidences[1]}] "
            f"{s.titles[1]!r} -> digest issue merge {s.keep} {s.drop}",
            markup=False,
        )


def build_command(
    ctx: typer.Context,
    period: PeriodOpt = None,
    signals: SignalsOpt = None,
    more: MorePathsArg = None,
    out: OutOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Rebuild frozen editions (refused once sending began)."),
    ] = False,
) -> None:
    """Build a period's editions: 3 tiers x 2 languages, HTML and text, with inbox checks.

    Writes DIR/{tier}.{locale}.html and .txt and DIR/manifest.json. Editions built from the
    database are frozen and reused by later builds, previews and sending; --force rebuilds
    them until sending begins. Exits 1 when an inbox check fails or an input could not be read
    (the editions of the readable inputs are still written).
    """
    app: AppContext = ctx.obj
    chosen = resolve_period(period, app.settings)
    result = _run(app, chosen, signal_paths(signals, more), force)
    print_errors(result.errors)
    warn_if_empty(result)
    out_dir = out or Path(app.settings.editions.out_dir)
    manifest_path = write_editions(
        result, out_dir, result.editions, app.settings.publication.base_url
    )
    console = make_console()
    report(console, result)
    state = (
        "reused the frozen editions"
        if result.reused
        else ("froze the editions" if result.frozen else "not frozen")
    )
    written = sum(1 for e in result.editions if not e.interests)
    console.print(
        f"{chosen.key}: {written} editions in {out_dir}/ ({state}); manifest: {manifest_path}",
        markup=False,
    )
    if result.failed or result.errors:
        raise typer.Exit(1)


def preview_command(
    ctx: typer.Context,
    tier: Annotated[
        str, typer.Option("--tier", help="open, strategy_circle or leadership_alliance.")
    ],
    locale: Annotated[str, typer.Option("--locale", help="en or zh.")],
    period: PeriodOpt = None,
    signals: SignalsOpt = None,
    more: MorePathsArg = None,
    out: OutOpt = None,
) -> None:
    """Write one edition (HTML and text) and print the HTML file's path.

    Uses the frozen editions of the period when there are some; builds without freezing
    otherwise.
    """
    app: AppContext = ctx.obj
    if tier not in MEMBERSHIP_TIERS:
        fail(f"--tier: {tier!r} is not one of {', '.join(MEMBERSHIP_TIERS)}")
    if locale not in LANGS:
        fail(f"--locale: {locale!r} is not one of {', '.join(LANGS)}")
    chosen = resolve_period(period, app.settings)
    signals = signal_paths(signals, more)
    try:
        if signals:
            result = build(app.settings, chosen, signal_paths=signals)
        else:
            result = build(app.settings, chosen, engine=app.engine, store=False)
    except RenderError as exc:
        fail(str(exc), code=1)
    print_errors(result.errors)
    warn_if_empty(result)
    wanted = [
        e for e in result.editions if (e.tier, e.locale) == (tier, locale) and not e.interests
    ]
    out_dir = out or Path(app.settings.editions.out_dir)
    write_editions(result, out_dir, wanted, app.settings.publication.base_url)
    for e in wanted:
        for c in e.failures + e.warnings:
            typer.echo(f"{c.level.upper()}: {c.name}: {c.message}", err=True)
        typer.echo(str(result.path(e)))
    if any(e.failures for e in wanted) or result.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("build", cls=HiddenArgsCommand)(build_command)
    app.command("preview", cls=HiddenArgsCommand)(preview_command)
