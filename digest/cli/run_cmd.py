"""`digest run`: the weekly job on the configured sources (the Quickstart's first command).

The job is the jobs pipeline's (`digest.jobs.pipeline.main_job`): it ingests the configured
sources (the bundled examples, and the example audience, when none are configured), builds the
newest complete week the store holds into `editions.out_dir` and sends it through the outbox.
This command only prints what each step did, as it happens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from digest.audience import store
from digest.audience.csvio import ImportReport
from digest.cli.build_cmd import report as print_build
from digest.cli.context import AppContext, make_console
from digest.cli.ingest_cmd import print_errors, source_progress, summary
from digest.cli.send_cmd import summary_line
from digest.cli.subscribers_cmd import audience_table, print_report
from digest.config import ConfigError, display_url
from digest.delivery.report import SendError
from digest.delivery.run import outbox_files
from digest.issues.render.engine import RenderError
from digest.jobs.pipeline import BuiltIssue, MainJobObserver, MainRun, SendSummary, main_job
from digest.signals.ingest import IngestReport, listed_warnings
from digest.signals.store import week_class_counts


def _overview_table(counts: dict[tuple[str, str], tuple[int, int]]) -> Table:
    table = Table(title="Signals in the store")
    for column in ("week", "market class", "signals", "internal"):
        table.add_column(column, justify="right" if column in ("signals", "internal") else "left")
    for (week, market_class), (n, internal) in sorted(counts.items()):
        table.add_row(week, market_class, str(n), str(internal))
    return table


class Printer(MainJobObserver):
    """Prints each step of the main job as it happens."""

    def __init__(self, app: AppContext, console: Console, progress: ExitStack) -> None:
        self.app = app
        self.console = console
        self.sent_ok = True
        self._progress = progress
        self._reading: Callable[[str], None] | None = None

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def sources(self, paths: list[str], on_examples: bool) -> None:
        if on_examples:
            self.console.print(f"No sources configured: using the bundled examples in {paths[0]}")
        self._reading = self._progress.enter_context(source_progress())

    def reading(self, source: str) -> None:
        if self._reading is not None:
            self._reading(source)

    def ingested(self, report: IngestReport) -> None:
        self._progress.close()  # the live count ends with the ingest
        self._reading = None
        print_errors(listed_warnings(report.warnings))
        print_errors(report.errors)
        self.console.print(
            f"Ingested into {display_url(self.app.settings.database.url)}: {summary(report)}",
            markup=False,
            soft_wrap=True,
        )
        with self.app.engine.connect() as conn:
            self.console.print(_overview_table(week_class_counts(conn)))

    def audience(self, report: ImportReport | None) -> None:
        if report is None:
            self.console.print("No bundled subscribers folder: skipping the example audience")
            return
        print_report(report)
        with self.app.engine.connect() as conn:
            self.console.print(audience_table(store.counts(conn)))

    def built(self, built: BuiltIssue) -> None:
        result = built.result
        assert result is not None  # the real build stage always reports what it built
        print_build(self.console, result)
        main = [e for e in result.editions if not e.interests]
        out_dir = Path(self.app.settings.editions.out_dir)
        self.console.print(
            f"Built {result.period.key}: {len(main)} editions in {out_dir.resolve()}/ "
            f"({', '.join(result.path(e).name for e in main)}); open one in a browser.",
            markup=False,
        )

    def sent(self, sent: SendSummary) -> None:
        report = sent.report
        assert report is not None  # the real send stage always hands its report on
        for note in report.notes:
            self.say(note)
        self.say(summary_line(report))
        self.say(
            f"{len(outbox_files(report))} .eml files in {report.outbox_dir}/ "
            "(open one in a mail client)."
        )
        self.sent_ok = report.exit_code == 0


def _failed(run: MainRun, printer: Printer) -> bool:
    audience_bad = run.audience is not None and not run.audience.ok
    check_failed = run.result is not None and run.result.outcome == "check_failed"
    return bool(run.ingest.errors) or audience_bad or check_failed or not printer.sent_ok


def run_command(ctx: typer.Context) -> None:
    """Run the weekly job once: ingest, build the newest complete week, send it to the outbox.

    With no `sources.paths` configured it uses the bundled example signals and imports the
    example audience from subscribers/, so it works on a fresh machine with no configuration,
    account or server. With sources configured it never touches the audience.
    """
    app: AppContext = ctx.obj
    now = dt.datetime.now(dt.UTC)
    with ExitStack() as progress:
        printer = Printer(app, make_console(), progress)
        try:
            run = main_job(app.settings, app.engine, now=now, observer=printer)
        except RenderError as exc:
            printer.say(f"digest: {exc}")
            raise typer.Exit(1) from None
        except (SendError, ConfigError) as exc:
            printer.say(f"digest: not sent: {exc}")
            raise typer.Exit(1) from None
    if run.result is None:
        printer.console.print("No dated signals in the store: nothing to build.")
    if _failed(run, printer):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
