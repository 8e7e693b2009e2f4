"""A throwaway installation served on a free localhost port: for screenshots and browser tests.

`Demo` ingests the bundled example signals, imports the example audience and builds the newest
example week into a fresh SQLite file, then serves the real app under uvicorn in a thread, so a
browser can drive exactly what `digest serve` runs.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from sqlalchemy import Engine

from digest.audience.csvio import import_file
from digest.config import Settings
from digest.delivery.providers import register_settings
from digest.issues.build import build
from digest.period import Period, latest_week_with
from digest.resources import bundled, example_signals
from digest.signals.ingest import ingest
from digest.signals.store import latest_published
from digest.storage.db import open_database
from digest.web.app import create_app
from digest.web.security import UVICORN_OPTIONS

DEMO_PASSWORD = "demo-editor-password"
DEMO_KEY = "demo-signing-key-not-for-production"


def free_socket() -> socket.socket:
    """A listening-ready socket on a free localhost port (no race: uvicorn gets this socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def demo_settings(
    root: Path, base_url: str, *, schedule: dict[str, Any] | None = None, **web: Any
) -> Settings:
    """The demo's settings: `web` overrides [web], `schedule` [schedule] (the approval gate)."""
    register_settings()  # the [outbox] section is the outbox provider's
    return Settings.model_validate(
        {
            "publication": {"base_url": base_url},
            "database": {"url": f"sqlite:///{root / 'digest.db'}"},
            "security": {"secret_keys": [DEMO_KEY]},
            "outbox": {"dir": str(root / "outbox")},
            "editions": {"out_dir": str(root / "out")},
            "schedule": schedule or {},
            "web": {"editor_password": DEMO_PASSWORD, **web},
        }
    )


def prepare(settings: Settings) -> tuple[Engine, Period]:
    """Examples ingested, example audience imported, the newest example week built and frozen."""
    engine = open_database(settings.database.url)
    ingest(
        engine,
        [str(example_signals())],
        settings.sources,
        class_order=settings.editions.class_order,
    )
    import_file(
        engine,
        bundled("subscribers") / "example.csv",
        default_zone=settings.publication.timezone,
    )
    with engine.connect() as conn:
        latest = latest_published(conn)
    period = latest_week_with(latest, settings.publication.zone, dt.datetime.now(dt.UTC))
    assert period is not None, "the bundled examples have dated signals"
    result = build(settings, period, engine=engine)
    assert result.frozen, "the example week builds cleanly"
    return engine, period


class Demo:
    """`with Demo(tmp) as demo:` serves a prepared installation at `demo.url`."""

    def __init__(self, root: Path, *, schedule: dict[str, Any] | None = None, **web: Any) -> None:
        self.sock = free_socket()
        port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        root.mkdir(parents=True, exist_ok=True)
        self.settings = demo_settings(root, self.url, schedule=schedule, **web)
        self.engine, self.period = prepare(self.settings)
        self.app = create_app(self.settings, self.engine)
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", **UVICORN_OPTIONS
        )  # as `digest serve` runs it
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Demo:
        self.thread.start()
        while not self.server.started:  # start-up, not a timed assertion
            if not self.thread.is_alive():
                raise RuntimeError("the demo server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        self.engine.dispose()
