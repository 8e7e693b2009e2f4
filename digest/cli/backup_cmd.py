"""`digest backup` and `digest restore`: the SQLite database copied consistently while digest
runs, and put back only where nobody has it open (`digest.storage.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from digest.cli.context import AppContext, fail
from digest.config import display_url
from digest.jobs.lock import scheduler_lock
from digest.storage.backup import BackupError, Copied, restore, sqlite_file
from digest.storage.backup import backup as backup_database
from digest.storage.db import open_database


def postgres_advice(url: str, path: str) -> str:
    """What to run instead for PostgreSQL: its own tools copy a consistent snapshot too."""
    plain = display_url(str(make_url(url).set(drivername="postgresql")))
    return (
        f"database.url is PostgreSQL ({plain}): digest backup copies SQLite files only.\n"
        "Use PostgreSQL's own tools, which read one consistent snapshot while digest runs:\n"
        f"  pg_dump --format=custom --file '{path}' '{plain}'\n"
        "and to restore into a new, empty database (then point database.url at it):\n"
        f"  pg_restore --no-owner --dbname '<new database URL>' '{path}'\n"
        "(*** stands for the password: pg_dump also reads it from ~/.pgpass or $PGPASSWORD)"
    )


def _sqlite_path(app: AppContext, path: str) -> Path:
    url = app.settings.database.url
    if make_url(url).get_backend_name() == "postgresql":
        fail(postgres_advice(url, path))
    try:
        return sqlite_file(url)
    except BackupError as exc:
        fail(str(exc))


def _counts(copied: Copied) -> str:
    c = copied.counts
    return (
        f"{c['subscribers']} subscribers, {c['suppressions']} suppressions (opt-outs), "
        f"{c['deliveries']} ledger rows; schema {copied.revision}"
    )


def backup_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="The backup file to create.")],
) -> None:
    """Copy the SQLite database to PATH, consistently, while the web app and scheduler run.

    Uses SQLite's online backup API: one snapshot, so a send writing meanwhile is either in the
    copy or not, never half. PATH must not exist. On any failure (a full disk included) the
    partial file is removed. For PostgreSQL it prints the `pg_dump` command and exits 2.
    """
    app: AppContext = ctx.obj
    source = _sqlite_path(app, path)
    try:
        copied = backup_database(source, Path(path))
    except BackupError as exc:
        fail(str(exc), code=1)
    typer.echo(f"digest: backed up {source} to {copied.path}: {_counts(copied)}")


def restore_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="A backup made by `digest backup`.")],
) -> None:
    """Replace the configured SQLite database with the backup PATH, then migrate it.

    Refuses a file that is not a digest database, and a database in use: a scheduler holding
    its lock, or any process with the database open (the web app, a worker, a send). Stop them
    first. The database replaced is kept beside it as `<name>.replaced-<time>`.
    """
    app: AppContext = ctx.obj
    target = _sqlite_path(app, path)
    lock = scheduler_lock(app.settings.database.url)
    if not lock.try_acquire():
        fail(f"{target} is in use: a scheduler is running ({lock.describe()}); stop it first", 1)
    try:
        copied = restore(Path(path), target)
    except BackupError as exc:
        fail(str(exc), code=1)
    finally:
        lock.release()
    try:
        open_database(app.settings.database.url).dispose()  # a restored older schema migrates
    except Exception as exc:
        fail(f"restored {target}, but it does not open: {exc.__class__.__name__}: {exc}", 1)
    if copied.replaced is not None:
        typer.echo(f"digest: the previous database was kept as {copied.replaced}")
    typer.echo(f"digest: restored {path} to {target}: {_counts(copied)}")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
