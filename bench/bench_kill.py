"""SIGKILL trials: kill `digest send` (or a Celery worker) at a random instant, resume, audit.

Each trial queues a fresh send of one built week to the audience, starts `digest send` as a real
process, kills it with SIGKILL at a random instant, snapshots the rows that were *in flight*
(handed to the provider, not yet recorded), runs `digest send` again to the end, and audits
every subscriber against what the receiving side saw:

- no duplicates: nobody received two copies;
- no unexplained loss: every row is `accepted` (with exactly one copy) or `uncertain`;
- uncertain only for what was in flight: every uncertain row was in flight at the kill, and no
  more were in flight than the provider allows (SMTP: 1 per connection; SendGrid: 2 requests;
  outbox: none may stay uncertain — the file is the proof — and no temporary file is left).

The receiving sides are real: aiosmtpd for SMTP, an HTTP server answering 202 like SendGrid's
Mail Send (it counts the personalizations' addresses), the outbox folder.

`--celery` runs worker-kill trials instead: two `digest worker`s (each in a UTS namespace of its
own, so it looks like another machine and only the lease can tell it died) on a Redis of the
trial's own; one is killed while it holds a batch; the figure printed is the time from the kill
to the last of its unsent rows being accepted through the other worker.

Run: python bench/bench_kill.py [--trials 25] [--providers smtp,outbox,sendgrid] [--celery N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

IN_FLIGHT_BOUND = {"smtp": 1, "outbox": 1, "sendgrid": 2 * 1000}
"""Rows that may be in flight at a kill: one SMTP message on the one connection, one outbox
file being written, two SendGrid requests of at most 1,000."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the receiving sides ------------------------------------------------------------------------


@dataclass
class Inbox:
    """Copies received per address, shared by the sinks' threads."""

    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, addresses: list[str]) -> None:
        with self.lock:
            self.counts.update(a.lower() for a in addresses)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


@contextmanager
def smtp_sink(inbox: Inbox, delay: float) -> Iterator[int]:
    """aiosmtpd on a free port, counting each accepted message's recipients."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(delay)
            inbox.add(list(envelope.rcpt_tos))
            return "250 2.0.0 queued"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def sendgrid_sink(inbox: Inbox, delay: float) -> Iterator[int]:
    """An HTTP server answering Mail Send with 202, counting every personalization's address.

    The addresses are counted once the whole body is read, before the answer: a request cut off
    half-way was not accepted, one answered was.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            sent = json.loads(body)
            inbox.add([to["email"] for p in sent["personalizations"] for to in p["to"]])
            self.send_response(202)
            self.send_header("X-Message-Id", f"kill-{time.monotonic_ns()}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# --- the deployment -----------------------------------------------------------------------------


@dataclass
class Setup:
    folder: Path
    url: str
    period: str
    config: Path
    env: dict[str, str]
    inbox: Inbox
    audience: int

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "digest", "--config", str(self.config), *args]

    def send(self, provider: str, *extra: str) -> subprocess.Popen[bytes]:
        """`digest send` in a session of its own; its stderr goes to `send.err`."""
        args = ("send", "--period", self.period, "--provider", provider, "--json", *extra)
        with (self.folder / "send.err").open("wb") as err:
            return subprocess.Popen(
                self.command(*args),
                cwd=self.folder,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )


def write_config(folder: Path, url: str, smtp_port: int, http_port: int, extra: str = "") -> Path:
    config = folder / "digest.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        '[publication]\nbase_url = "https://news.signal-weekly.net"\n'
        'from_email = "digest@news.signal-weekly.net"\n'
        f'[security]\nsecret_keys = ["{secrets.token_urlsafe(32)}"]\n'
        f'[smtp]\nurl = "smtp://127.0.0.1:{smtp_port}"\ntimeout = 10\n'
        f'[sendgrid]\napi_host = "http://127.0.0.1:{http_port}"\ntimeout = 10\n'
        f'[outbox]\ndir = "{folder / "outbox"}"\n' + extra
    )
    return config


def prepare(folder: Path, url: str, audience: int) -> str:
    """The examples' week built and frozen, and `audience` subscribers (bench_send's set-up)."""
    from bench_send import prepare as prepare_send

    return prepare_send(url, audience)


def reset(setup: Setup) -> None:
    """Forget the last trial: no ledger rows, an empty inbox and outbox."""
    from sqlalchemy import delete

    from digest.storage.db import open_database
    from digest.storage.schema import deliveries

    engine = open_database(setup.url)
    with engine.begin() as conn:
        conn.execute(delete(deliveries))
    engine.dispose()
    setup.inbox.reset()
    shutil.rmtree(setup.folder / "outbox", ignore_errors=True)


def ledger(setup: Setup) -> list[tuple[str, str, bool]]:
    """(address, state, handed) of every ledger row; the address stands for the subscriber."""
    from sqlalchemy import select

    from digest.storage.db import open_database
    from digest.storage.schema import deliveries as d
    from digest.storage.schema import subscribers as s

    engine = open_database(setup.url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.c.email, d.c.state, d.c.handed_at.is_not(None)).join(
                s, s.c.id == d.c.subscriber_id
            )
        ).all()
    engine.dispose()
    return [(str(e).lower(), str(st), bool(h)) for e, st, h in rows]


def received(setup: Setup, provider: str) -> Counter[str]:
    """Copies per address as the receiving side saw them."""
    if provider != "outbox":
        with setup.inbox.lock:
            return Counter(setup.inbox.counts)
    # One file per (edition, subscriber): `E-S.eml`; the subscriber ids are the audience's.
    from sqlalchemy import select

    from digest.storage.db import open_database
    from digest.storage.schema import subscribers as s

    engine = open_database(setup.url)
    with engine.connect() as conn:
        emails = {int(i): str(e).lower() for i, e in conn.execute(select(s.c.id, s.c.email))}
    engine.dispose()
    return Counter(
        emails[int(path.stem.split("-")[1])] for path in (setup.folder / "outbox").rglob("*.eml")
    )


# --- one trial ----------------------------------------------------------------------------------


@dataclass
class Trial:
    provider: str
    killed_after: float
    killed: bool
    in_flight: int
    uncertain: int
    problems: list[str]


def audit(
    setup: Setup,
    provider: str,
    in_flight: set[str],
    rows: list[tuple[str, str, bool]],
    senders: int = 1,
) -> list[str]:
    """Every way the trial broke exactly-once, as readable lines ([] when none); `senders` is
    how many processes were sending at the kill (each may have its own in flight)."""
    copies = received(setup, provider)
    problems = []
    if len(rows) != setup.audience:
        problems.append(f"{len(rows)} ledger rows for {setup.audience} subscribers")
    for address, state, _handed in rows:
        n = copies.get(address, 0)
        if n > 1:
            problems.append(f"{address}: {n} copies")
        if state == "accepted" and n != 1:
            problems.append(f"{address}: accepted with {n} copies")
        if state == "uncertain" and address not in in_flight:
            problems.append(f"{address}: uncertain but not in flight at the kill")
        if state not in ("accepted", "uncertain"):
            problems.append(f"{address}: left {state}")
    if provider == "outbox":
        uncertain = [a for a, st, _ in rows if st == "uncertain"]
        if uncertain:
            problems.append(f"outbox: {len(uncertain)} uncertain, the files prove every fate")
        strays = list((setup.folder / "outbox").rglob("*.tmp"))
        if strays:
            problems.append(f"outbox: {len(strays)} temporary files left")
    bound = senders * IN_FLIGHT_BOUND[provider]
    if len(in_flight) > bound:
        problems.append(f"{len(in_flight)} in flight; at most {bound}")
    return problems


def trial(setup: Setup, provider: str, kill_after: float) -> Trial:
    reset(setup)
    child = setup.send(provider)
    time.sleep(kill_after)
    killed = child.poll() is None
    if killed:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    in_flight = {a for a, state, handed in ledger(setup) if state == "sending" and handed}
    resume = setup.send(provider)
    code = resume.wait(300)
    rows = ledger(setup)
    uncertain = sum(1 for _, st, _ in rows if st == "uncertain")
    problems = audit(setup, provider, in_flight, rows)
    if code not in (0, 3):
        error = (setup.folder / "send.err").read_text(errors="replace").strip().splitlines()
        problems.insert(0, f"the resumed send exited {code}: {error[-1] if error else ''}")
    return Trial(provider, kill_after, killed, len(in_flight), uncertain, problems)


def clean_duration(setup: Setup, provider: str) -> float:
    """How long an uninterrupted `digest send` takes, start-up included: the kill window."""
    reset(setup)
    start = time.monotonic()
    setup.send(provider).wait(300)
    return time.monotonic() - start


@contextmanager
def deployment(audience: int, url: str | None = None, extra: str = "") -> Iterator[Setup]:
    """A folder, a database with the built week and the audience, both sinks, a config."""
    inbox = Inbox()
    with tempfile.TemporaryDirectory(prefix="digest-kill-") as tmp:
        folder = Path(tmp)
        url = url or f"sqlite:///{folder / 'digest.db'}"
        period = prepare(folder, url, audience)
        with smtp_sink(inbox, 0.002) as smtp_port, sendgrid_sink(inbox, 0.05) as http_port:
            config = write_config(folder, url, smtp_port, http_port, extra)
            env = {**os.environ, "SENDGRID_API_KEY": "SG.kill-trials", "PYTHONPATH": str(REPO)}
            yield Setup(folder, url, period, config, env, inbox, audience)


def run_trials(
    setup: Setup, provider: str, count: int, rng: random.Random, report: Callable[[Trial], None]
) -> list[Trial]:
    window = clean_duration(setup, provider)
    results = []
    for _ in range(count):
        result = trial(setup, provider, rng.uniform(0.0, window))
        report(result)
        results.append(result)
    return results


# --- Celery worker-kill trials ------------------------------------------------------------------


@contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """A fresh schema of its own on `server` (dropped afterwards); its URL."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"kill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="digest-kill-redis-")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def start_worker(setup: Setup, name: str) -> subprocess.Popen[bytes]:
    """`digest worker` as if on machine `name` (a UTS namespace of its own, when allowed)."""
    command = setup.command("worker", "--pool", "solo", "--concurrency", "1")
    if os.geteuid() == 0 and shutil.which("unshare"):
        quoted = " ".join(f"'{part}'" for part in command)
        command = ["unshare", "--uts", "sh", "-c", f"hostname {name} && exec {quoted}"]
    log = (setup.folder / f"{name}.log").open("wb")
    worker = subprocess.Popen(
        command,
        cwd=setup.folder,
        env=setup.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while b" ready." not in (setup.folder / f"{name}.log").read_bytes():
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker {name} did not start")
        time.sleep(0.05)
    return worker


def claims_of(setup: Setup, pid: int) -> list[int]:
    """Delivery ids the worker process `pid` holds in `sending`."""
    from sqlalchemy import select

    from digest.storage.db import open_database
    from digest.storage.schema import deliveries as d

    engine = open_database(setup.url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.c.id).where(d.c.state == "sending", d.c.claimed_by.like(f"%:{pid}:%"))
        ).all()
    engine.dispose()
    return [int(i) for (i,) in rows]


def settled(setup: Setup, ids: list[int]) -> bool:
    from sqlalchemy import func, select

    from digest.storage.db import open_database
    from digest.storage.schema import deliveries as d

    engine = open_database(setup.url)
    with engine.connect() as conn:
        still = conn.execute(
            select(func.count()).where(d.c.id.in_(ids), d.c.state.not_in(["accepted", "uncertain"]))
        ).scalar_one()
    engine.dispose()
    return int(still) == 0


def worker_kill_trial(setup: Setup, rng: random.Random) -> tuple[Trial, float]:
    """Two workers, one killed holding a batch; (the trial, seconds from kill to its rows sent)."""
    reset(setup)
    workers = [start_worker(setup, f"machine-{i}") for i in (1, 2)]
    try:
        sender = setup.send("smtp", "--executor", "celery")
        victim = workers[0]
        time.sleep(rng.uniform(0.0, 1.0))
        deadline = time.monotonic() + 60
        while not claims_of(setup, victim.pid):
            if time.monotonic() > deadline or sender.poll() is not None:
                break
            time.sleep(0.01)
        held = claims_of(setup, victim.pid)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        in_flight = {a for a, state, handed in ledger(setup) if state == "sending" and handed}
        while not settled(setup, held) and time.monotonic() - killed_at < 600:
            time.sleep(0.1)
        reassigned_after = time.monotonic() - killed_at
        sender.wait(600)
        rows = ledger(setup)
        uncertain = sum(1 for _, st, _ in rows if st == "uncertain")
        problems = audit(setup, "smtp", in_flight, rows, senders=len(workers))
        return Trial("celery", 0.0, bool(held), len(in_flight), uncertain, problems), (
            reassigned_after
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)


# --- main ---------------------------------------------------------------------------------------


def celery_trials(count: int, audience: int, postgres: str, rng: random.Random) -> int:
    """`count` worker-kill trials on PostgreSQL (SQLite when `postgres` is ''); failures."""
    failed, times = 0, []
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(redis_server())
        url = stack.enter_context(postgres_schema(postgres)) if postgres else None
        extra = f'[celery]\nbroker_url = "{broker}"\npoll_seconds = 0.2\n'
        setup = stack.enter_context(deployment(audience, url, extra))
        print(f"celery: {count} worker-kill trials (2 workers, lease default)")
        for _ in range(count):
            result, seconds = worker_kill_trial(setup, rng)
            print_trial(result)
            print(f"    kill → the dead worker's rows sent by the other: {seconds:.1f} s")
            failed += bool(result.problems)
            times.append(seconds)
    print(f"  → kill to reassigned and sent: max {max(times):.1f} s (goal ≤ 90 s)")
    return failed


def print_trial(t: Trial) -> None:
    state = "killed" if t.killed else "finished first"
    verdict = "ok" if not t.problems else "FAIL: " + "; ".join(t.problems[:3])
    print(
        f"  {t.provider:8} {state:14} at {t.killed_after:5.2f} s: in flight {t.in_flight:4}, "
        f"uncertain {t.uncertain:4}  {verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--providers", default="smtp,outbox,sendgrid")
    parser.add_argument("--audience", type=int, default=600)
    parser.add_argument("--celery", type=int, default=0, help="worker-kill trials to run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="server for the Celery trials (a schema of their own); '' for SQLite",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failed = 0
    if args.trials:
        with deployment(args.audience) as setup:
            for provider in args.providers.split(","):
                print(f"{provider}: {args.trials} SIGKILL trials, {args.audience} recipients")
                results = run_trials(setup, provider, args.trials, rng, print_trial)
                failed += sum(1 for r in results if r.problems)
                killed = sum(1 for r in results if r.killed)
                worst = max((r.uncertain for r in results), default=0)
                print(f"  → {killed} killed mid-send, most uncertain in one trial: {worst}")
    if args.celery:
        failed += celery_trials(args.celery, args.audience, args.postgres, rng)
    print("all trials passed" if not failed else f"{failed} trials FAILED")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
