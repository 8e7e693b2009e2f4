"""The `digest` command line: thin wrappers over library calls (each testable without a shell)."""

from __future__ import annotations

from typing import Annotated

import typer

from digest import __version__
from digest.cli import (
    build_cmd,
    config_cmd,
    editors_cmd,
    ingest_cmd,
    issue_cmd,
    run_cmd,
    schedule_cmd,
    send_cmd,
    serve_cmd,
    subscribers_cmd,
    worker_cmd,
)
from digest.cli.context import AppContext

app = typer.Typer(
    name="digest",
    help=(
        "Turn a publication's weekly intelligence signals into email digests per membership "
        "tier and send them.\n\nStart with `digest run`: on a fresh machine it ingests the "
        "bundled example signals and audience into ./digest.db, builds the newest complete "
        "week's six editions into ./out/ and sends them to ./outbox/ (no account or server "
        "needed). Settings come from ./digest.toml (or --config, or $DIGEST_CONFIG) and DIGEST_* "
        "environment variables; see `digest config`."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"digest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Path to digest.toml (default: $DIGEST_CONFIG, ./digest.toml).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = AppContext(config_path=config)


ingest_cmd.register(app)
run_cmd.register(app)
config_cmd.register(app)
subscribers_cmd.register(app)
build_cmd.register(app)
schedule_cmd.register(app)
serve_cmd.register(app)
send_cmd.register(app)
worker_cmd.register(app)
editors_cmd.register(app)
issue_cmd.register(app)


def main() -> None:
    app()
