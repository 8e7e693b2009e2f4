"""Benchmark: the 1M-recipient send through Celery workers vs in-process, and a 20M SMTP model.

The audience, the editions and the sink are bench_send.py's (1M subscribers over 3 tiers × 2
languages, the examples' week built and frozen, a local HTTP sink answering 202 like SendGrid),
but the database is PostgreSQL (a fresh schema, dropped afterwards): workers in several
processes need a shared database. Runs, each from an empty ledger:

1. in-process: `send_period` through the SendGrid provider to the sink (the baseline);
2. Celery with 1, then 2 workers (`digest worker --pool solo`, one process each) on a
   redis-server of the benchmark's own: `send_period(…, executor="celery")` publishes one task
   per batch and follows the ledger.

It prints wall time, recipients/s, the overhead against in-process (goal: ≤ 30 % at one worker)
and the measured cost of one batch. Then the SMTP provider's cost per message against a local
aiosmtpd sink (bench_smtp.py's figure when that file has `provider_rate`, else measured here),
and from both a model on paper: how many worker processes and machines a 20M-recipient SMTP
send needs to finish within an hour.

Run: python bench/bench_celery.py [--subscribers N] [--workers 1,2] [--smtp-messages N]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
POSTGRES = os.environ.get(
    "DIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PERIOD = "2026-W47"
SMTP_SINK = "aiosmtpd.handlers.Sink"


def _load(name: str) -> ModuleType | None:
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


# --- parts: a database schema, a broker, workers -------------------------------------------------


def fresh_schema() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{POSTGRES}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def empty_ledger(url: str) -> None:
    """Every run starts as the first did: an empty, freshly truncated ledger (no dead rows, no
    statistics of an empty table misleading the planner)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("TRUNCATE deliveries CASCADE"))
    engine.dispose()


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    _wait(answers, 10, "redis-server")
    return redis, f"redis://127.0.0.1:{port}/0"


def write_config(folder: Path, url: str, broker: str, sink_port: int, batch: int) -> Path:
    config = folder / "digest.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        '[publication]\nbase_url = "https://news.signal-weekly.net"\n'
        'from_email = "digest@news.signal-weekly.net"\n'
        '[security]\nsecret_keys = ["bench-secret-key"]\n'
        f'[sendgrid]\napi_key = "SG.bench"\napi_host = "http://127.0.0.1:{sink_port}"\n'
        "timeout = 60\n"
        f'[celery]\nbroker_url = "{broker}"\nbatch_size = {batch}\npoll_seconds = 0.2\n'
    )
    return config


def start_workers(
    config: Path, count: int, pool: str, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    """`count` × `digest worker` (one process each); returns once each consumes."""
    workers, logs = [], []
    command = [sys.executable, "-m", "digest", "--config", str(config), "worker", "--loglevel=INFO"]
    for n in range(count):
        log = config.parent / f"worker-{n}-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as out:
            workers.append(
                subprocess.Popen(
                    [*command, "--pool", pool, "--concurrency", str(concurrency)],
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        logs.append(log)
    for log in logs:
        _wait(lambda log=log: b" ready." in log.read_bytes(), 60, f"{log.name} ready")
    return workers


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the timed sends -----------------------------------------------------------------------------


def in_process(config: Path, sink_port: int) -> tuple[float, int]:
    from digest.config import load_settings
    from digest.delivery.providers.sendgrid import SendGridProvider
    from digest.delivery.run import send_period
    from digest.period import parse_period
    from digest.storage.db import open_database

    settings = load_settings(config, environ={})
    engine = open_database(settings.database.url)
    provider = SendGridProvider("SG.bench", host=f"http://127.0.0.1:{sink_port}", timeout=60)
    start = time.perf_counter()
    report = send_period(settings, engine, parse_period(PERIOD), provider)
    wall = time.perf_counter() - start
    engine.dispose()
    return wall, report.accepted


def on_celery(config: Path, workers: int, pool: str, concurrency: int) -> tuple[float, int]:
    from digest.config import load_settings
    from digest.delivery import make_provider
    from digest.delivery.run import send_period
    from digest.period import parse_period
    from digest.storage.db import open_database

    settings = load_settings(config, environ={})
    engine = open_database(settings.database.url)
    running = start_workers(config, workers, pool, concurrency)
    try:
        start = time.perf_counter()
        provider = make_provider("sendgrid", settings)
        report = send_period(settings, engine, parse_period(PERIOD), provider, executor="celery")
        wall = time.perf_counter() - start
    finally:
        stop(running)
        engine.dispose()
    assert report.pending == 0 and report.failed == 0, report.as_dict()
    return wall, report.accepted


# --- SMTP: seconds per message through the provider -----------------------------------------------


def smtp_costs(messages: int) -> tuple[float, float, str]:
    """The SMTP provider to a local aiosmtpd sink in another process, on one connection:
    (wall seconds per message, CPU seconds per message in the sender, what was sent). The
    message is bench_smtp.py's when that file is there."""
    smtp_bench = _load("bench_smtp")
    port = _free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", SMTP_SINK],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _connects(port), 10, "the SMTP sink")
        if smtp_bench is not None and hasattr(smtp_bench, "provider_rate"):
            # bench_smtp.py's real edition and recipients, timed here for wall and CPU alike
            edition = smtp_bench._message(smtp_bench._edition())
            people = [smtp_bench._recipient(n) for n in range(1, messages + 1)]
            wall, cpu = _measure_smtp(port, messages, edition, people)
            return wall, cpu, "bench_smtp.py's edition and recipients"
        wall, cpu = _measure_smtp(port, messages)
        return wall, cpu, "a 10 KB edition of its own"
    finally:
        sink.terminate()
        sink.wait()


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _measure_smtp(
    port: int, messages: int, message: Any = None, recipients: Any = None
) -> tuple[float, float]:
    from digest.delivery import EditionMessage, Recipient
    from digest.issues.render import placeholders as ph

    if message is not None:
        return _time_smtp(port, message, recipients)
    html = f"<p>Hello {ph.NAME_HTML}</p>" + "<p>A week of signals.</p>" * 400
    html += f"<a href='{ph.UNSUBSCRIBE_URL_HTML}'>Unsubscribe</a>"
    text = f"Hello {ph.NAME_TEXT}\n" + "A week of signals.\n" * 400
    text += f"Unsubscribe: {ph.UNSUBSCRIBE_URL_TEXT}\n"
    message = EditionMessage(
        issue_id=1,
        edition_id=1,
        period_key=PERIOD,
        tier="open",
        locale="en",
        subject="Signal Weekly 47",
        html=html,
        text=text,
        from_email="digest@news.signal-weekly.net",
        from_name="Signal Weekly",
        reply_to=None,
        categories=("digest",),
    )
    url = "https://news.signal-weekly.net/u/token"
    recipients = [
        Recipient(
            n,
            f"reader{n}@example.com",
            f"Reader {n}",
            {ph.NAME_HTML: f"Reader {n}", ph.UNSUBSCRIBE_URL_HTML: url},
            {ph.NAME_TEXT: f"Reader {n}", ph.UNSUBSCRIBE_URL_TEXT: url},
            url,
        )
        for n in range(messages)
    ]
    return _time_smtp(port, message, recipients)


def _time_smtp(port: int, message: Any, recipients: Any) -> tuple[float, float]:
    from digest.delivery.providers.smtp import SmtpProvider

    messages = len(recipients)
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=30)
    provider.send(message, recipients[:50])  # connect and warm up
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, messages, 1000):
        provider.send(message, recipients[i : i + 1000])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    provider.close()
    return seconds / messages, cpu / messages


# --- the report ----------------------------------------------------------------------------------


def model(batch_cost: float, smtp_wall: float, smtp_cpu: float, batch: int) -> None:
    """20M recipients over SMTP within an hour, from the measured costs (printed).

    Two limits: CPU (machines: what each message and each batch costs a worker's processor)
    and time in flight (concurrency: a message occupies one connection for its whole wall
    time, most of it waiting for the server). The batch cost is a worker's whole measured
    SendGrid batch (task, claim, tokens, request, record): an upper bound for what an SMTP
    batch costs besides its messages.
    """
    target, hour, cores, usable = 20_000_000, 3600.0, 2, 0.7
    rate = target / hour
    per_batch = batch_cost / batch
    cpu = smtp_cpu + per_batch
    machines = math.ceil(rate * cpu / (cores * usable))
    print("\nModel: 20,000,000 recipients over SMTP within one hour")
    print(f"  needed rate                   {rate:,.0f} messages/s")
    print(
        f"  measured, one connection      {smtp_wall * 1000:.2f} ms wall, {smtp_cpu * 1000:.2f} ms "
        "CPU per message (local aiosmtpd)"
    )
    print(
        f"  Celery + ledger + links       {batch_cost * 1000:.0f} ms per batch of {batch} "
        f"= {per_batch * 1000:.3f} ms per message (upper bound)"
    )
    print(
        f"  CPU: {rate:,.0f}/s × {cpu * 1000:.2f} ms = {rate * cpu:.1f} cores → "
        f"{machines} worker machines of {cores} cores at {usable:.0%}"
    )
    for latency_ms in (0, 20, 50):
        wall = smtp_wall + per_batch + latency_ms / 1000
        slots = math.ceil(rate * wall)
        per_machine = math.ceil(slots / machines)
        print(
            f"  relay answering in +{latency_ms:>2} ms: {slots} messages in flight → "
            f"--concurrency {per_machine} on each of {machines} machines"
        )
    print(
        f"  ledger: {rate:,.0f} row updates/s in {2 * rate / batch:.0f} set-based claim and "
        "record transactions/s, plus the sender's count: light for one PostgreSQL"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts.")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--smtp-messages", type=int, default=3000)
    parser.add_argument("--pool", default="threads", help="Worker pool: threads (default) or solo.")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="Batches in flight per worker (threads; 2 = one sent while the next is claimed, "
        "as in-process does).",
    )
    args = parser.parse_args()
    bench_send = _load("bench_send")
    assert bench_send is not None, "bench/bench_send.py provides the audience and the sink"
    schema, url = fresh_schema()
    processes: list[subprocess.Popen[Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            began = time.perf_counter()
            bench_send.prepare(url, args.subscribers)
            print(
                f"set-up: {args.subscribers:,} subscribers on PostgreSQL "
                f"in {time.perf_counter() - began:.1f} s"
            )
            sink_port = _free_port()
            processes.append(bench_send.start_sink(sink_port))
            redis, broker = start_redis(folder)
            processes.append(redis)
            config = write_config(folder, url, broker, sink_port, args.batch)
            batches = math.ceil(args.subscribers / args.batch)
            base, accepted = in_process(config, sink_port)
            print(
                f"in-process: {accepted:,} accepted in {base:.2f} s "
                f"({accepted / base:,.0f} recipients/s)"
            )
            one_worker = None
            for count in (int(w) for w in args.workers.split(",")):
                empty_ledger(url)
                wall, accepted = on_celery(config, count, args.pool, args.concurrency)
                per_batch = wall * count / batches
                if count == 1:
                    one_worker = per_batch
                print(
                    f"celery, {count} worker{'s' if count > 1 else ''} ({args.pool} × "
                    f"{args.concurrency if args.pool != 'solo' else 1}): {accepted:,} accepted "
                    f"in {wall:.2f} s ({accepted / wall:,.0f} recipients/s); overhead vs "
                    f"in-process {(wall / base - 1) * 100:+.0f} % [goal at 1 worker: ≤ 30 %]; "
                    f"{per_batch * 1000:.0f} ms per batch of {args.batch} per worker"
                )
            smtp_wall, smtp_cpu, sent = smtp_costs(args.smtp_messages)
            print(
                f"SMTP provider, one connection: {1 / smtp_wall:,.0f} messages/s, "
                f"{smtp_cpu / smtp_wall:.0%} of the time CPU in the sender ({sent})"
            )
            model(one_worker or base / batches, smtp_wall, smtp_cpu, args.batch)
    finally:
        stop(processes)
        drop_schema(schema)


if __name__ == "__main__":
    main()
