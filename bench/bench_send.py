"""Benchmark: send one issue to 1,000,000 subscribers through the SendGrid provider, ledger kept.

Goal (issue 5): ≤ 10 s wall and ≤ 150 MB peak RSS on a 2-core machine. The subscribers (3 tiers ×
2 languages) are bulk-inserted straight into SQLite; the week's real editions are built from the
bundled examples; the SendGrid provider posts to a local HTTP sink in another process that reads
every body and answers 202 with an X-Message-Id, as SendGrid does. The send runs in a fresh
interpreter, so the peak RSS reported (VmHWM) is the send's own. Every ledger row is checked
`accepted` afterwards.

Where the time goes is printed per stage: the send's own functions are wrapped (in this process
only) with timers that add up the wall time and the calling thread's CPU time spent in each. The
sender overlaps a batch's HTTP request with the next claim, so stages on different threads add up
to more than the wall time. A stage whose function no longer exists is reported as such.

Run: python bench/bench_send.py [--subscribers N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import gc
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

SINK_READY = "sink ready"


# --- the sink: a separate process answering 202 to every POST ---------------------------------


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    served = 0
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            served += 1
            writer.write(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
                b"X-Message-Id: bench-" + str(served).encode() + b"\r\n\r\n"
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _sink(port: int) -> None:
    server = await asyncio.start_server(_serve_one, "127.0.0.1", port, backlog=256)
    print(SINK_READY, flush=True)
    async with server:
        await server.serve_forever()


def start_sink(port: int) -> subprocess.Popen[str]:
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    assert sink.stdout.readline().strip() == SINK_READY
    return sink


# --- set-up (not timed) -------------------------------------------------------------------------


def prepare(url: str, subscribers: int) -> str:
    """Build and freeze the examples' week, then bulk-insert the audience; returns the period."""
    from digest.audience.csvio import driver_insert
    from digest.audience.suppression import email_hash, installation_salt
    from digest.config import Settings
    from digest.issues.build import build
    from digest.period import parse_period
    from digest.resources import example_signals
    from digest.signals.ingest import ingest
    from digest.storage.db import open_database

    engine = open_database(url)
    settings = settings_for(url)
    ingest(engine, [str(example_signals())], settings.sources)
    period = parse_period("2026-W47")
    result = build(settings, period, engine=engine)
    assert result.frozen and len(result.editions) == 6, "expected 6 frozen editions"
    tiers = ["open", "strategy_circle", "leadership_alliance"]
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        salt = installation_salt(conn)
        for start in range(0, subscribers, 50_000):
            batch = []
            for n in range(start, min(subscribers, start + 50_000)):
                address = f"reader{n}@example.com"
                batch.append(
                    {
                        "email": address,
                        "email_hash": email_hash(salt, address),
                        "name": f"Reader {n}",
                        "tier": tiers[n % 3],
                        "locale": "zh" if n % 2 else "en",
                        "timezone": "Europe/London",
                        "interests": "",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            driver_insert(conn, batch)
    engine.dispose()
    _ = Settings
    return period.key


def settings_for(url: str) -> object:
    from digest.config import Settings

    return Settings.model_validate(
        {
            "database": {"url": url},
            "publication": {
                "base_url": "https://news.signal-weekly.net",
                "from_email": "digest@news.signal-weekly.net",
            },
            "security": {"secret_keys": ["bench-secret-key"]},
        }
    )


# --- the timed send, in its own interpreter -----------------------------------------------------


@dataclass
class Stage:
    """One wrapped function: how often it ran, its wall time and its thread's CPU time."""

    label: str
    target: str
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    found: bool = True


STAGES = (
    ("queue the ledger rows (SQL)", "digest.delivery.ledger:enqueue_group"),
    ("claim a batch (SQL)", "digest.delivery.ledger:claim"),
    ("hand a batch to the provider (SQL)", "digest.delivery.ledger:hand"),
    ("link tokens and values, per batch", "digest.delivery.batch:_Work.recipients"),
    (
        "provider: personalize, serialize, POST",
        "digest.delivery.providers.sendgrid:SendGridProvider.send",
    ),
    ("provider: the HTTP exchange", "digest.delivery.providers.sendgrid:SendGridProvider._post"),
    ("record outcomes (SQL)", "digest.delivery.ledger:record"),
)


def _timed(stage: Stage, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            stage.calls += 1
            stage.wall += time.perf_counter() - wall
            stage.cpu += time.thread_time() - cpu

    return wrapper


def instrument() -> list[Stage]:
    """Wrap each STAGES function with a timer; returns the stages, filled in as the send runs."""
    stages = []
    for label, target in STAGES:
        stage = Stage(label, target)
        stages.append(stage)
        module_name, _, path = target.partition(":")
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, name, _timed(stage, getattr(owner, name)))
        except (ImportError, AttributeError):
            stage.found = False
    return stages


@dataclass
class Collections:
    """Time spent in the cyclic garbage collector, per generation (gc.callbacks)."""

    calls: list[int]
    seconds: list[float]
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.calls[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._started


def watch_collections() -> Collections:
    watcher = Collections([0, 0, 0], [0.0, 0.0, 0.0])
    gc.callbacks.append(watcher)
    return watcher


def print_profile(stages: list[Stage], collections: Collections, wall: float, cpu: float) -> None:
    print(f"where the time goes ({wall:.2f} s wall, {cpu:.2f} s CPU in all threads):")
    for s in stages:
        if not s.found:
            print(f"  {s.label:<42} (not found: {s.target})")
            continue
        print(f"  {s.label:<42} {s.wall:6.2f} s wall {s.cpu:6.2f} s CPU  {s.calls:>6,} calls")
    for generation, (calls, seconds) in enumerate(zip(*astuple(collections)[:2], strict=True)):
        label = f"garbage collection, generation {generation}"
        print(f"  {label:<42} {seconds:6.2f} s wall {'':13}  {calls:>6,} runs")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed_send(url: str, port: int, batch: int, pipeline: bool = True) -> None:
    from sqlalchemy import func, select

    from digest.config import Settings
    from digest.delivery.providers.sendgrid import SendGridProvider
    from digest.delivery.run import send_period
    from digest.period import parse_period
    from digest.storage.db import open_database
    from digest.storage.schema import deliveries

    settings = settings_for(url)
    assert isinstance(settings, Settings)
    stages = instrument()
    collections = watch_collections()
    engine = open_database(url)
    provider = SendGridProvider("SG.bench", host=f"http://127.0.0.1:{port}", timeout=60)
    if not pipeline:
        provider.parallel = 1  # one request at a time: no overlap
    with open("/proc/self/clear_refs", "w") as fh:  # peak RSS from here on
        fh.write("5")
    baseline = _status_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    report = send_period(settings, engine, parse_period("2026-W47"), provider, batch_size=batch)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_mb("VmHWM")
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
            ).all()
        )
    print(
        f"send: {report.accepted:,} accepted ({report.failed} failed, {report.uncertain} "
        f"uncertain) in {wall:.2f} s wall, {cpu:.2f} s CPU in the sender "
        f"({report.accepted / wall:,.0f} recipients/s); peak RSS {peak:.0f} MB "
        f"(baseline {baseline:.0f} MB); ledger: {states}  [goal ≤ 10 s, ≤ 150 MB]"
    )
    print_profile(stages, collections, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--no-pipeline", action="store_true", help="One batch at a time (no overlap)."
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--send", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.run(_sink(args.sink))
        return
    if args.send:
        timed_send(args.send[0], int(args.send[1]), args.batch, not args.no_pipeline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        began = time.perf_counter()
        prepare(url, args.subscribers)
        print(f"set-up: {args.subscribers:,} subscribers in {time.perf_counter() - began:.1f} s")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        sink = start_sink(port)
        try:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--send",
                    url,
                    str(port),
                    "--batch",
                    str(args.batch),
                    *(["--no-pipeline"] if args.no_pipeline else []),
                ],
                check=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
        finally:
            sink.terminate()
            sink.wait()


if __name__ == "__main__":
    main()
