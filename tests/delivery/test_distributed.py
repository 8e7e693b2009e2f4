"""Celery as the executor, with real parts: PostgreSQL, a real broker, real worker processes.

Each test runs its own redis-server on a free port (never the machine's shared one), or uses the
machine's RabbitMQ with a queue of its own, and starts `python -m digest worker` processes (solo
pool: one process each, so the pid in a ledger claim names the worker). Mail goes over SMTP to
an aiosmtpd server in the test process that counts what arrives per address: that count is
what "sent" means. Exactly once: every subscriber `accepted` with one message, or `uncertain`
with at most one; never two, never left open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from digest.config import Settings, load_settings
from digest.delivery import MemoryProvider, Provider, make_provider
from digest.delivery.batch import BatchJob, BatchOutcome, recover, run_batch
from digest.delivery.links import FastTokens, LinkValues
from digest.delivery.plan import stored_message
from digest.delivery.report import SendReport
from digest.delivery.run import send_period
from digest.issues.store import stored_editions
from digest.period import parse_period
from digest.storage.db import open_database
from digest.storage.schema import deliveries

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="install the test extra: pip install -e '.[test]'"
)
pytest.importorskip("celery", reason="celery is a runtime dependency: pip install -e .")

REPO = Path(__file__).resolve().parents[2]
PERIOD = "2026-W47"
HOST = socket.gethostname()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


# --- the mail sink -------------------------------------------------------------------------------


@dataclass
class CountingSink:
    """aiosmtpd handler: counts messages per recipient; `delay` makes each batch take a while."""

    delay: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.counts.update(envelope.rcpt_tos)
        return "250 2.0.0 queued"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[CountingSink, int]]:
    sink, port = CountingSink(delay=0.004), _free_port()
    controller = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


# --- brokers -------------------------------------------------------------------------------------


@dataclass
class Redis:
    """A redis-server of the test's own, restartable on the same port."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(self.answers, 10, "redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """`SHUTDOWN NOSAVE`: every queued and unacknowledged task is lost."""
        if self.process is not None:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"SHUTDOWN NOSAVE\r\n")
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = Redis(_free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.kill()
            server.process.wait()


RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def rabbit_queue() -> Iterator[str]:
    """A queue of this test's own on the machine's RabbitMQ, deleted afterwards."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672 (start: rabbitmq-server -detached)")
    from kombu import Connection

    queue = f"digest-test-{uuid.uuid4().hex[:10]}"
    yield queue
    with Connection(RABBIT_URL) as conn:
        conn.default_channel.queue_delete(queue)


# --- the deployment: a config file, workers, a sender ---------------------------------------------


@dataclass
class Deployment:
    config: Path
    settings: Settings
    engine: Engine
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def start_worker(self, machine: str | None = None) -> subprocess.Popen[bytes]:
        """`digest worker` in a process (and session) of its own; returns once it consumes.

        With `machine`, in a UTS namespace named so: it looks like another host, where only
        the lease can tell that it died.
        """
        command = [sys.executable, "-m", "digest", "--config", str(self.config), "worker"]
        command += ["--pool", "solo", "--concurrency", "1", "--loglevel", "INFO"]
        if machine is not None:
            quoted = " ".join(f"'{part}'" for part in command)
            command = ["unshare", "--uts", "sh", "-c", f"hostname {machine} && exec {quoted}"]
        path = self.config.parent / f"worker-{uuid.uuid4().hex[:8]}.log"
        with path.open("wb") as log:
            worker = subprocess.Popen(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.workers.append(worker)
        _wait_for(lambda: b" ready." in path.read_bytes(), 30, f"worker {path.name} ready")
        return worker

    def start_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        """`count` workers started at once; returns once all consume."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda _: self.start_worker(), range(count)))

    def send(self, provider: str = "smtp") -> Future[SendReport]:
        """`digest send --executor celery`'s library call, in a thread of the test process."""
        return self.pool.submit(
            send_period,
            self.settings,
            self.engine,
            parse_period(PERIOD),
            make_provider(provider, self.settings),
            executor="celery",
        )

    def claims_of(self, worker: subprocess.Popen[bytes], state: str) -> int:
        prefix = f"{HOST}:{worker.pid}:%"
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.id).where(
                    deliveries.c.state == state, deliveries.c.claimed_by.like(prefix)
                )
            ).all()
        return len(rows)

    def states(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.subscriber_id, deliveries.c.state))
            return {f"reader{sid}@example.com": state for sid, state in rows}

    def accepted(self) -> int:
        return list(self.states().values()).count("accepted")

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.pool.shutdown(wait=True)
        self.engine.dispose()


def _deploy(
    tmp_path: Path, db_url: str, broker: str, smtp_port: int, **celery: Any
) -> Iterator[Deployment]:
    options = {"batch_size": 40, "poll_seconds": 0.1, "republish_after": 3.0}
    options.update({"give_up_after": 60.0, "visibility_timeout": 3, **celery})
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in options.items()]
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n'
        '[publication]\nbase_url = "https://news.example.org"\n'
        'from_email = "digest@news.example.org"\n'
        '[security]\nsecret_keys = ["test-secret-key"]\n'
        f'[smtp]\nurl = "smtp://127.0.0.1:{smtp_port}"\ntimeout = 5\n'
        f'[outbox]\ndir = "{tmp_path / "outbox"}"\n'
        f'[celery]\nbroker_url = "{broker}"\n' + "\n".join(lines) + "\n"
    )
    settings = load_settings(config, environ={})
    deployment = Deployment(config, settings, open_database(db_url))
    try:
        yield deployment
    finally:
        deployment.close()


def _violations(states: dict[str, str], counts: Counter[str], audience: int) -> list[str]:
    problems = []
    for n in range(1, audience + 1):
        address = f"reader{n}@example.com"
        state, copies = states.get(address), counts.get(address, 0)
        if copies > 1:
            problems.append(f"{address}: {copies} copies")
        if state == "accepted" and copies != 1:
            problems.append(f"{address}: accepted with {copies} copies")
        if state not in ("accepted", "uncertain"):
            problems.append(f"{address}: left {state}")
    return problems


AUDIENCE = 450


def _bulk_subscribers(engine: Engine, count: int) -> None:
    """reader{n}@example.com with id n, spread over the three tiers, in one INSERT."""
    import datetime as dt
    import hashlib

    from digest.storage.schema import subscribers

    now = dt.datetime.now(dt.UTC)
    tiers = ("open", "strategy_circle", "leadership_alliance")
    rows = [
        {
            "id": n,
            "email": f"reader{n}@example.com",
            "email_hash": hashlib.sha256(f"reader{n}".encode()).hexdigest(),
            "name": f"Reader {n}",
            "tier": tiers[n % 3],
            "locale": "en",
            "timezone": "UTC",
            "interests": "",
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(1, count + 1)
    ]
    with engine.begin() as conn:
        conn.execute(subscribers.insert(), rows)


@pytest.fixture
def audience(postgres_url: str, seeded: SimpleNamespace) -> str:
    """An issue and AUDIENCE subscribers in a fresh PostgreSQL schema; its URL."""
    engine = open_database(postgres_url)
    seeded.issue(engine, PERIOD)
    _bulk_subscribers(engine, AUDIENCE)
    engine.dispose()
    return postgres_url


@pytest.fixture
def on_redis(
    tmp_path: Path, audience: str, redis: Redis, smtp_sink: tuple[CountingSink, int]
) -> Iterator[Deployment]:
    yield from _deploy(tmp_path, audience, redis.url, smtp_sink[1])


# --- the trials ----------------------------------------------------------------------------------


def _kill_mid_batch(deployment: Deployment, victim: subprocess.Popen[bytes]) -> None:
    """SIGKILL the victim while it holds a claimed batch (its rows `sending`)."""
    _wait_for(lambda: deployment.claims_of(victim, "sending") > 0, 20, "the victim to claim")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()


def test_a_worker_killed_mid_send_on_redis_leaves_no_duplicate_and_no_loss(
    on_redis: Deployment, smtp_sink: tuple[CountingSink, int]
) -> None:
    workers = on_redis.start_workers(3)
    sending = on_redis.send()
    _kill_mid_batch(on_redis, workers[0])
    sending.result(timeout=60)
    assert _violations(on_redis.states(), smtp_sink[0].counts, AUDIENCE) == []


def test_a_worker_killed_mid_send_on_rabbitmq_leaves_no_duplicate_and_no_loss(
    tmp_path: Path, audience: str, rabbit_queue: str, smtp_sink: tuple[CountingSink, int]
) -> None:
    for deployment in _deploy(tmp_path, audience, RABBIT_URL, smtp_sink[1], queue=rabbit_queue):
        workers = deployment.start_workers(3)
        sending = deployment.send()
        _kill_mid_batch(deployment, workers[1])
        sending.result(timeout=60)
        assert _violations(deployment.states(), smtp_sink[0].counts, AUDIENCE) == []


def test_the_killed_workers_batch_is_finished_by_another_through_the_outbox(
    on_redis: Deployment,
) -> None:
    """The outbox can prove which files were written: the dead batch is finished, not guessed."""
    victim, _other = on_redis.start_workers(2)
    sending = on_redis.send("outbox")
    _kill_mid_batch(on_redis, victim)
    report = sending.result(timeout=60)
    assert (report.accepted, report.uncertain, report.pending) == (AUDIENCE, 0, 0)


def test_a_broker_restart_mid_send_loses_nothing_and_sends_nothing_twice(
    on_redis: Deployment, redis: Redis, smtp_sink: tuple[CountingSink, int]
) -> None:
    on_redis.start_workers(2)
    sending = on_redis.send()
    _wait_for(lambda: on_redis.accepted() >= AUDIENCE // 5, 30, "a fifth of the send")
    redis.stop()  # every queued task is gone with it
    redis.start()
    report = sending.result(timeout=60)
    assert report.pending == 0
    assert _violations(on_redis.states(), smtp_sink[0].counts, AUDIENCE) == []


def test_a_worker_started_after_the_send_began_takes_batches(
    on_redis: Deployment, smtp_sink: tuple[CountingSink, int]
) -> None:
    smtp_sink[0].delay = 0.012  # one worker alone would need over 5 s
    on_redis.start_worker()
    sending = on_redis.send()
    _wait_for(lambda: on_redis.accepted() > 0, 30, "the first batch")
    late = on_redis.start_worker()
    sending.result(timeout=60)
    assert on_redis.claims_of(late, "accepted") > 0


# --- one batch, in-process: what makes a redelivered task harmless --------------------------------


@pytest.fixture
def local(engine: Engine, seeded: SimpleNamespace, tmp_path: Path) -> SimpleNamespace:
    settings: Settings = seeded.settings("sqlite://", tmp_path / "outbox")
    issue_id = seeded.issue(engine, PERIOD)
    ids = seeded.subscribers(engine, 5)
    with engine.connect() as conn:
        editions = stored_editions(conn, issue_id)
    edition = next(e for e in editions if (e.tier, e.locale) == ("open", "en"))
    links = LinkValues(FastTokens(["k"]), "https://news.example.org")
    job = BatchJob(issue_id, edition.id, PERIOD, "memory", batch_size=10)
    message = stored_message(settings, parse_period(PERIOD), issue_id, edition)
    return SimpleNamespace(settings=settings, job=job, links=links, ids=ids, message=message)


def send_batch(engine: Engine, local: SimpleNamespace, provider: Provider) -> BatchOutcome:
    """What a worker's task does: settle dead claims, then run one batch."""
    lease = dt.timedelta(seconds=30)
    recover(engine, local.job.issue_id, PERIOD, provider, lease)
    return run_batch(
        engine, local.job, provider, local.links, local.message, fallback_name="reader", lease=lease
    )


def _queue_all(engine: Engine, job: BatchJob) -> None:
    from digest.delivery import ledger

    with engine.begin() as conn:
        ledger.enqueue_group(
            conn,
            job.issue_id,
            job.edition_id,
            tier="open",
            locale="en",
            interests="",
            now=dt.datetime.now(dt.UTC),
        )


def test_the_same_batch_task_run_twice_sends_once(engine: Engine, local: SimpleNamespace) -> None:
    _queue_all(engine, local.job)
    provider = MemoryProvider()
    send_batch(engine, local, provider)
    send_batch(engine, local, provider)
    assert sorted(r.subscriber_id for _, r in provider.sent) == sorted(local.ids)


def _state_of(engine: Engine, subscriber_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(deliveries.c.state).where(deliveries.c.subscriber_id == subscriber_id)
            ).scalar_one()
        )


def _claimed_by_the_dead(engine: Engine, subscriber_id: int, *, handed: bool) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs: the claim's holder is dead
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == subscriber_id)
            .values(
                state="sending",
                claimed_by=f"{HOST}:{gone.pid}:dead",
                handed_at=now if handed else None,
            )
        )


def test_a_dead_workers_unhanded_rows_are_sent_by_the_next_batch(
    engine: Engine, local: SimpleNamespace
) -> None:
    _queue_all(engine, local.job)
    _claimed_by_the_dead(engine, local.ids[0], handed=False)
    provider = MemoryProvider()
    send_batch(engine, local, provider)
    assert local.ids[0] in [r.subscriber_id for _, r in provider.sent]
    assert _state_of(engine, local.ids[0]) == "accepted"


def test_a_dead_workers_in_flight_rows_become_uncertain_not_resent(
    engine: Engine, local: SimpleNamespace
) -> None:
    _queue_all(engine, local.job)
    _claimed_by_the_dead(engine, local.ids[0], handed=True)
    provider = MemoryProvider()
    send_batch(engine, local, provider)
    assert local.ids[0] not in [r.subscriber_id for _, r in provider.sent]
    assert _state_of(engine, local.ids[0]) == "uncertain"


def test_a_live_workers_claimed_rows_are_left_to_it(engine: Engine, local: SimpleNamespace) -> None:
    _queue_all(engine, local.job)
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == local.ids[0])
            .values(state="sending", claimed_by=f"{HOST}:{os.getpid()}:alive")
        )
    provider = MemoryProvider()
    send_batch(engine, local, provider)
    assert local.ids[0] not in [r.subscriber_id for _, r in provider.sent]
    assert _state_of(engine, local.ids[0]) == "sending"


def test_a_retryable_answer_requeues_the_row_and_asks_for_a_retry(
    engine: Engine, local: SimpleNamespace
) -> None:
    from digest.delivery import Outcome

    _queue_all(engine, local.job)
    provider = MemoryProvider(outcomes={local.ids[0]: Outcome.RETRYABLE})
    outcome = send_batch(engine, local, provider)
    assert (outcome.retry_after is not None, _state_of(engine, local.ids[0])) == (True, "queued")


def test_backoff_waits_at_least_what_the_provider_asked() -> None:
    from digest.delivery.distributed import backoff

    assert backoff(0, asked=30.0) >= 30.0


def test_backoff_never_waits_more_than_a_minute() -> None:
    from digest.delivery.distributed import backoff

    assert backoff(30) <= 60.0


def test_tasks_are_acknowledged_late_and_prefetched_one_at_a_time() -> None:
    from digest.delivery.distributed import celery_config

    conf = celery_config(Settings())
    assert (conf["task_acks_late"], conf["task_reject_on_worker_lost"]) == (True, True)
    assert conf["worker_prefetch_multiplier"] == 1


def test_the_redis_visibility_timeout_comes_from_the_config() -> None:
    from digest.delivery.distributed import celery_config

    settings = Settings.model_validate({"celery": {"visibility_timeout": 120}})
    assert celery_config(settings)["broker_transport_options"]["visibility_timeout"] == 120


def test_two_senders_and_three_workers_at_once_send_each_reader_once(
    on_redis: Deployment, smtp_sink: tuple[CountingSink, int]
) -> None:
    on_redis.start_workers(3)
    with ThreadPoolExecutor(2) as senders:
        reports = [
            senders.submit(
                send_period,
                on_redis.settings,
                on_redis.engine,
                parse_period(PERIOD),
                make_provider("smtp", on_redis.settings),
                executor="celery",
            )
            for _ in range(2)
        ]
        for report in reports:
            report.result(timeout=90)
    assert sorted(smtp_sink[0].counts.values()) == [1] * AUDIENCE
    assert set(on_redis.states().values()) == {"accepted"}


def _can_fake_a_machine() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.fixture(params=["redis", "rabbitmq"])
def short_lease(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    audience: str,
    smtp_sink: tuple[CountingSink, int],
) -> Iterator[Deployment]:
    """A deployment whose leases last 2 s, on each broker (RabbitMQ: a queue of its own)."""
    if request.param == "redis":
        redis: Redis = request.getfixturevalue("redis")
        yield from _deploy(tmp_path, audience, redis.url, smtp_sink[1], lease_seconds=2.0)
        return
    queue: str = request.getfixturevalue("rabbit_queue")
    yield from _deploy(tmp_path, audience, RABBIT_URL, smtp_sink[1], queue=queue, lease_seconds=2.0)


@pytest.mark.skipif(not _can_fake_a_machine(), reason="needs root and unshare for a UTS namespace")
def test_a_lost_machines_rows_move_on_when_its_lease_lapses(
    short_lease: Deployment, smtp_sink: tuple[CountingSink, int]
) -> None:
    """One of two workers, on "another machine", is killed holding a batch: after the lease its
    unsent rows go to the other worker, only its in-flight message may be uncertain, and the
    sender says it reassigned them."""
    smtp_sink[0].delay = 0.01
    victim = short_lease.start_worker("machine-a")
    short_lease.start_worker("machine-b")
    notes: list[str] = []

    def progress(done: int, total: int, note: str | None = None) -> None:
        if note:
            notes.append(note)

    sending = short_lease.pool.submit(
        send_period,
        short_lease.settings,
        short_lease.engine,
        parse_period(PERIOD),
        make_provider("smtp", short_lease.settings),
        executor="celery",
        progress=progress,
    )
    _wait_for(lambda: _held_by(short_lease, victim) > 1, 20, "the victim to claim")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    report = sending.result(timeout=90)
    assert _violations(short_lease.states(), smtp_sink[0].counts, AUDIENCE) == []
    assert report.uncertain <= 1
    assert any(n.startswith("reassigned") and "machine-a" in n for n in notes)


def _held_by(deployment: Deployment, worker: subprocess.Popen[bytes]) -> int:
    """Rows the worker (on its own "machine") holds: claims are `machine:pid:…`."""
    with deployment.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.id).where(
                deliveries.c.state == "sending",
                deliveries.c.claimed_by.like(f"%:{worker.pid}:%"),
            )
        ).all()
    return len(rows)
