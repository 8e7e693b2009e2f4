"""`digest ingest`: signals in from pages, JSON, Markdown and feeds."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import orjson
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from digest.cli.context import AppContext, fail, make_console, stderr_is_terminal
from digest.signals.ingest import IngestReport, ingest, listed_warnings, load_all
from digest.signals.readers import SourceError, registry
from digest.text import counted


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--published: {value!r} is not an ISO date (YYYY-MM-DD)")


@contextmanager
def source_progress() -> Iterator[Callable[[str], None] | None]:
    """A live count of sources read, on a terminal only (pipes and CI logs stay clean)."""
    if not stderr_is_terminal():
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.completed} sources read"),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=make_console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)
        yield lambda source: bar.update(task, advance=1, description=source[-60:])


def summary(report: IngestReport) -> str:
    """`N signals from M sources: new/updated/unchanged`, saying when sources shared a signal."""
    counts = report.counts
    stored = counts.new + counts.updated + counts.unchanged
    merged = report.signals - stored
    failed = sum(1 for s in report.sources if s.errors)
    warned = len(report.warnings)
    return (
        f"{counted(report.signals, 'signal')} from {counted(len(report.sources), 'source')}: "
        f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"
        + (f" ({merged} read from a second source, merged)" if merged else "")
        + (f"; {counted(failed, 'source')} had errors" if failed else "")
        + (f"; {warned} {'warning' if warned == 1 else 'warnings'} (imported)" if warned else "")
    )


def print_errors(errors: Sequence[SourceError]) -> None:
    """One per line on stderr; a SourceWarning prints as `source:line: warning: reason`."""
    for error in errors:
        typer.echo(str(error), err=True)


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help=f"Files, folders (searched recursively for {', '.join(registry().extensions())})"
            " and feed URLs.",
            show_default=False,
            metavar="PATH...",
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the normalized signals as one JSON array; store nothing."
        ),
    ] = False,
    published: Annotated[
        str | None,
        typer.Option(
            "--published",
            metavar="DATE",
            help="Date (YYYY-MM-DD) for signals whose source gives none.",
        ),
    ] = None,
) -> None:
    """Import signals into the database (or print them with --json).

    Each bad file or record is reported as `path:line: reason`; the others still import, and the
    exit status is 1 when anything failed. A fault recovered from (an HTML entity in a feed) or a
    market class that is new (neither in `editions.class_order` nor stored) is reported as
    `path:line: warning: reason` and imports. Re-importing a changed signal updates
    it in place.
    """
    app: AppContext = ctx.obj
    date = _parse_date(published)
    if as_json:
        loaded = load_all(paths, app.settings.sources, date)
        sys.stdout.buffer.write(orjson.dumps([s.to_json_dict() for s in loaded.signals]) + b"\n")
        print_errors(listed_warnings(loaded.warnings))
        print_errors(loaded.errors)
        raise typer.Exit(1 if loaded.errors else 0)
    with source_progress() as progress:
        report = ingest(
            app.engine,
            paths,
            app.settings.sources,
            date,
            progress,
            class_order=app.settings.editions.class_order,
        )
    print_errors(listed_warnings(report.warnings))
    print_errors(report.errors)
    typer.echo(f"Stored {summary(report)}", err=True)
    raise typer.Exit(1 if report.errors else 0)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
