"""What every command shares: settings loaded once, the database opened once, clean errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine

from digest.config import ConfigError, Settings, display_url, load_settings
from digest.delivery.providers import register_settings
from digest.storage.db import open_database


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` to stderr and exit: the way every command reports a usage problem."""
    typer.echo(f"digest: {message}", err=True)
    raise typer.Exit(code)


@dataclass
class AppContext:
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            register_settings()  # the providers' [sections], which config.py cannot import
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(str(exc))
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = open_database(self.settings.database.url)
            except Exception as exc:  # any driver error: say which database, not a traceback
                safe = display_url(self.settings.database.url)
                fail(f"cannot open database {safe}: {exc.__class__.__name__}: {exc}".strip())
        return self._engine


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; off a terminal (pipes, CI logs) tables get 120 columns, not rich's 80."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 120)
