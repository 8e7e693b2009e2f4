"""`digest init [DIR]`: a new publication folder that `digest run` works in at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.context import fail
from digest.cli.scaffold import ScaffoldError, create


def init_command(
    folder: Annotated[
        str,
        typer.Argument(metavar="DIR", help="The folder to create (or an empty one to fill)."),
    ] = ".",
) -> None:
    """Create a publication folder: a commented digest.toml with a fresh secret key, templates to
    restyle, example signals and subscribers, and NEXT-STEPS.md.

    `cd DIR && digest run` then builds and sends the examples to the outbox with no edits.
    Nothing that exists is overwritten: DIR must be new or empty.
    """
    try:
        made = create(Path(folder))
    except ScaffoldError as exc:
        fail(str(exc), code=1)
    typer.echo(f"digest: created {made.folder}/ ({len(made.files)} files):")
    for name in made.files:
        note = "  (private: holds a fresh secret key)" if name == "digest.toml" else ""
        typer.echo(f"  {name}{note}")
    where = "" if folder == "." else f"cd {folder} && "
    typer.echo(f"Next: {where}digest run   (then read NEXT-STEPS.md)")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
