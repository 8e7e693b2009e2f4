"""`digest worker`: a Celery worker that sends batches for `digest send --executor celery`.

Thin: the worker is Celery's own (`app.worker_main`), configured from the same settings as the
sender (`digest.delivery.distributed.make_app`), so a worker on another machine needs only the same
digest.toml: the database URL, the broker URL and the provider's credentials.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from digest.cli.context import AppContext, fail
from digest.delivery.distributed import make_app

POOLS = ("prefork", "solo", "threads")


def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Batches sent at once (default: celery.concurrency, else one per CPU core).",
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option("--broker", metavar="URL", help="Broker URL (default: celery.broker_url)."),
    ] = None,
    pool: Annotated[
        str,
        typer.Option("--pool", help="prefork (processes, the default), solo or threads."),
    ] = "prefork",
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery's log level.")] = "INFO",
) -> None:
    """Run a Celery worker: it takes send batches from the broker until stopped (SIGTERM).

    Start any number, on any machines sharing the database and the broker; they may come and
    go during a send. A worker killed mid-batch is safe: its batch is finished by another or
    reported uncertain, never sent twice.
    """
    app: AppContext = ctx.obj
    if pool not in POOLS:
        fail(f"--pool: {pool!r} is not one of {', '.join(POOLS)}")
    settings = app.settings
    app.engine.dispose()  # opened to fail early on a wrong URL; workers open their own
    workers = concurrency or settings.celery.concurrency or os.cpu_count() or 1
    celery_app = make_app(settings, broker_url=broker)
    celery_app.worker_main(
        [
            "worker",
            f"--concurrency={workers}",
            f"--pool={pool}",
            f"--queues={settings.celery.queue}",
            f"--loglevel={loglevel}",
            f"--hostname=digest-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
