"""`digest editors add|password|remove|list|unlock`: the people who may log in to the editor pages.

Thin wrappers over digest.web.accounts. A password is typed twice at a hidden prompt, or read
from the first line of stdin with `--password-stdin` (for scripts); it never appears in the
command line, where `ps` and shell history would show it.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import orjson
import typer
from rich.table import Table

from digest.cli.context import AppContext, fail, make_console
from digest.web.accounts import (
    AccountError,
    add_editor,
    list_editors,
    remove_editor,
    set_password,
)
from digest.web.throttle import unlock_account

T = TypeVar("T")

app = typer.Typer(
    help="Editor accounts: each editor logs in by name, and approvals record that name.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The editor's login name (lower case).")]
StdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin's first line."),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _checked(action: Callable[[], T]) -> T:
    """The action's result, or its AccountError as a usage error (exit 2)."""
    try:
        return action()
    except AccountError as exc:
        fail(str(exc))


def add_command(ctx: typer.Context, name: NameArg, password_stdin: StdinOpt = False) -> None:
    """Add an editor (password: at least 12 characters, hashed with Argon2id)."""
    engine = ctx.obj.engine
    added = _checked(lambda: add_editor(engine, name, _password(password_stdin), _now()))
    typer.echo(f"Added editor {added}: they log in at /editor/login with this name.")


def password_command(ctx: typer.Context, name: NameArg, password_stdin: StdinOpt = False) -> None:
    """Set an editor's new password; every session they have ends at once."""
    engine = ctx.obj.engine
    ended = _checked(lambda: set_password(engine, name, _password(password_stdin), _now()))
    typer.echo(f"Password of {name.strip().lower()} changed; {ended} session(s) ended.")


def remove_command(ctx: typer.Context, name: NameArg) -> None:
    """Remove an editor and end their sessions (past approvals keep their name)."""
    engine = ctx.obj.engine
    ended = _checked(lambda: remove_editor(engine, name))
    typer.echo(f"Removed editor {name.strip().lower()}; {ended} session(s) ended.")


def unlock_command(ctx: typer.Context, name: NameArg) -> None:
    """Lift the login lock on a name (the bootstrap login is "editor"): anyone can lock a name
    by failing on purpose. Locks on client addresses stay."""
    shown = name.strip().lower()
    if unlock_account(ctx.obj.engine, shown):
        typer.echo(f"{shown} may log in again (its failed logins are forgotten).")
    else:
        typer.echo(f"{shown} was not locked: no failed logins are counted against it.")


def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every editor account with when its password was set and its live sessions."""
    app_ctx: AppContext = ctx.obj
    accounts = list_editors(app_ctx.engine, _now())
    if as_json:
        rows = [
            {
                "name": a.name,
                "created_at": a.created_at.isoformat(),
                "password_changed_at": a.password_changed_at.isoformat(),
                "sessions": a.sessions,
            }
            for a in accounts
        ]
        typer.echo(orjson.dumps(rows).decode())
        return
    if not accounts:
        typer.echo("No editor accounts: add one with `digest editors add NAME`.")
        return
    table = Table(title="Editors")
    for column in ("name", "added", "password set", "sessions"):
        table.add_column(column)
    for a in accounts:
        when = "%Y-%m-%d %H:%M UTC"
        table.add_row(
            a.name,
            a.created_at.strftime(when),
            a.password_changed_at.strftime(when),
            str(a.sessions),
        )
    make_console().print(table)


app.command("add")(add_command)
app.command("password")(password_command)
app.command("remove")(remove_command)
app.command("list")(list_command)
app.command("unlock")(unlock_command)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="editors")
