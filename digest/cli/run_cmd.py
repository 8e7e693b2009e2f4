"""`digest run`: the weekly job on the configured sources (the Quickstart's first command).

It ingests the configured sources (the bundled examples, and the example audience, when none
are configured), reports what the store holds per ISO week and market class, builds the newest
complete week's editions into `editions.out_dir` and sends them through the outbox.
"""

from __future__ import annotations

import typer
from rich.table import Table

from digest.cli.build_cmd import build_latest_week
from digest.cli.context import AppContext, make_console
from digest.cli.ingest_cmd import print_errors, source_progress, summary
from digest.cli.send_cmd import send_example
from digest.cli.subscribers_cmd import import_example_audience
from digest.ingest import ingest, listed_warnings
from digest.resources import example_signals
from digest.storage.db import display_url
from digest.storage.signals import week_class_counts


def _overview_table(counts: dict[tuple[str, str], tuple[int, int]]) -> Table:
    table = Table(title="Signals in the store")
    for column in ("week", "market class", "signals", "internal"):
        table.add_column(column, justify="right" if column in ("signals", "internal") else "left")
    for (week, market_class), (n, internal) in sorted(counts.items()):
        table.add_row(week, market_class, str(n), str(internal))
    return table


def run_command(ctx: typer.Context) -> None:
    """Run the weekly job once: ingest, build the newest complete week, send it to the outbox.

    With no `sources.paths` configured it uses the bundled example signals and imports the
    example audience from subscribers/, so it works on a fresh machine with no configuration,
    account or server. With sources configured it never touches the audience.
    """
    app: AppContext = ctx.obj
    console = make_console()
    paths = app.settings.sources.paths
    on_examples = not paths
    if on_examples:
        paths = [str(example_signals())]
        console.print(f"No sources configured: using the bundled examples in {paths[0]}")
    with source_progress() as progress:
        report = ingest(app.engine, paths, app.settings.sources, progress=progress)
    print_errors(listed_warnings(report.warnings))
    print_errors(report.errors)
    console.print(
        f"Ingested into {display_url(app.settings.database.url)}: {summary(report)}",
        markup=False,
        soft_wrap=True,
    )
    with app.engine.connect() as conn:
        overview = week_class_counts(conn)
    console.print(_overview_table(overview))
    # The example audience belongs with the example signals only: a publication's own
    # database must never gain the example.com subscribers.
    audience_ok = on_examples and import_example_audience(
        app.engine, app.settings.publication.timezone, console, app.settings.editions.class_order
    )
    built_ok = build_latest_week(app, console)
    sent_ok = built_ok and send_example(app, console)
    if report.errors or (on_examples and not audience_ok) or not built_ok or not sent_ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
