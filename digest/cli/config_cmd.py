"""`digest config`: the effective settings, validated, with every secret masked."""

from __future__ import annotations

import os
from typing import Annotated

import orjson
import typer

from digest.cli.context import AppContext
from digest.config import config_path, redacted


def config_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Validate the configuration and print the effective settings (secrets masked).

    Reads --config, else $DIGEST_CONFIG, else ./digest.toml, else the built-in defaults, then
    applies the DIGEST_* environment overrides. A wrong key fails naming its dotted name.
    """
    app: AppContext = ctx.obj
    data = redacted(app.settings)
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    source = config_path(app.config_path, os.environ)
    typer.echo(f"# from {source or 'built-in defaults'} and the environment")
    for section, values in data.items():
        typer.echo(f"[{section}]")
        for key, value in values.items():
            typer.echo(f"{key} = {orjson.dumps(value).decode()}")
        typer.echo("")


def register(app: typer.Typer) -> None:
    app.command("config")(config_command)
