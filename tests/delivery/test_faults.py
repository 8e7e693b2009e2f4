"""Faults during a send, with real parts: an SMTP server that refuses, drops and hangs; a
provider that hangs past its lease; PostgreSQL cut off for 5 s through a TCP proxy.

Exactly once, as everywhere: every reader gets one copy or is reported `uncertain`, and only a
message that was in flight when the fault struck may be uncertain.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.delivery import MemoryProvider
from digest.delivery.batch import recover
from digest.delivery.providers.smtp import SmtpProvider
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.db import open_database
from digest.storage.schema import deliveries, subscribers

controller = pytest.importorskip("aiosmtpd.controller", reason="pip install -e '.[test]'")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """aiosmtpd handler: counts accepted copies; refuses, drops or hangs for chosen addresses."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self.refuse: set[str] = set()
        self.drop: set[str] = set()
        self.hang: set[str] = set()
        self.each: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        (rcpt,) = envelope.rcpt_tos
        if self.each:
            await asyncio.sleep(self.each)
        if rcpt in self.refuse:
            return "554 5.7.1 refused by policy"
        if rcpt in self.drop:
            server.transport.close()  # the connection dies before the 250: fate unknown
            return "250 never sent"
        if rcpt in self.hang:
            await asyncio.sleep(3)  # past the client's timeout
        self.copies[rcpt] += 1
        return "250 2.0.0 queued"


@pytest.fixture
def smtp() -> Iterator[tuple[Server, int]]:
    handler, port = Server(), free_port()
    running = controller.Controller(handler, hostname="127.0.0.1", port=port)
    running.start()
    try:
        yield handler, port
    finally:
        running.stop()


def with_lease(settings: Settings, seconds: float) -> Settings:
    celery = settings.celery.model_copy(update={"lease_seconds": seconds})
    return settings.model_copy(update={"celery": celery})


def states(engine: Engine) -> dict[str, str]:
    query = select(subscribers.c.email, deliveries.c.state).join(
        subscribers, subscribers.c.id == deliveries.c.subscriber_id
    )
    with engine.connect() as conn:
        return {str(email): str(state) for email, state in conn.execute(query)}


def test_a_refusal_fails_one_reader_and_a_drop_or_hang_makes_only_that_one_uncertain(
    engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace, smtp: tuple[Server, int]
) -> None:
    server, port = smtp
    seeded.issue(engine)
    seeded.subscribers(engine, 8)
    server.refuse, server.drop, server.hang = (
        {"reader2@example.com"},
        {"reader4@example.com"},
        {"reader6@example.com"},
    )
    settings = seeded.settings(db_url, tmp_path / "outbox")
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=1.0)
    send_period(settings, engine, parse_period(seeded.PERIOD), provider)
    found = states(engine)
    assert {a for a, s in found.items() if s == "uncertain"} == {
        "reader4@example.com",
        "reader6@example.com",
    }
    assert found["reader2@example.com"] == "failed"
    accepted = {a for a, s in found.items() if s == "accepted"}
    assert len(accepted) == 5 and all(server.copies[a] == 1 for a in accepted)


def test_a_provider_that_hangs_past_the_lease_keeps_its_claim(
    engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    """The heartbeat renews the lease while the provider hangs: no one else takes the rows."""
    issue_id = seeded.issue(engine)
    seeded.subscribers(engine, 3)
    settings = with_lease(seeded.settings(db_url, tmp_path / "outbox"), 0.6)
    hanging = threading.Event()

    def hang(message: Any, recipient: Any) -> None:
        hanging.set()
        time.sleep(2.0)

    provider = MemoryProvider(script=hang)
    sender = threading.Thread(
        target=send_period, args=(settings, engine, parse_period(seeded.PERIOD), provider)
    )
    sender.start()
    assert hanging.wait(10)
    time.sleep(1.2)  # two leases without the heartbeat
    found = recover(engine, issue_id, seeded.PERIOD, MemoryProvider(), dt.timedelta(seconds=0.6))
    sender.join(30)
    assert found.moved == {}
    assert set(states(engine).values()) == {"accepted"}
    assert len(provider.sent) == 3


class Proxy:
    """A TCP proxy to PostgreSQL that can cut every connection and refuse new ones for a while."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open: list[socket.socket] = []
        self.down_until = 0.0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.down_until:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for `seconds`."""
        self.down_until = time.monotonic() + seconds
        with self.lock:
            dropped, self.open = self.open, []
        for s in dropped:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut(0)


def test_postgresql_cut_off_for_five_seconds_mid_send_delays_it_and_loses_nothing(
    postgres_url: str, tmp_path: Path, seeded: SimpleNamespace, smtp: tuple[Server, int]
) -> None:
    server, port = smtp
    server.each = 0.02  # about three seconds for the whole send
    direct = open_database(postgres_url)
    seeded.issue(direct)
    seeded.subscribers(direct, 150)
    proxy = Proxy(("127.0.0.1", 5432))
    through = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    engine = open_database(through)
    settings = seeded.settings(through, tmp_path / "outbox")
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=5.0)
    result: list[Any] = []
    sender = threading.Thread(
        target=lambda: result.append(
            send_period(settings, engine, parse_period(seeded.PERIOD), provider)
        )
    )
    try:
        sender.start()
        deadline = time.monotonic() + 30
        while sum(server.copies.values()) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        proxy.cut(5.0)
        sender.join(120)
    finally:
        proxy.close()
    (report,) = result
    assert (report.accepted, report.uncertain, report.pending) == (150, 0, 0)
    assert sorted(server.copies.values()) == [1] * 150
    engine.dispose()
    direct.dispose()


def test_a_sender_on_another_machine_that_dies_has_its_rows_taken_over(
    engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    """Rows another machine's sender claimed (and never handed) are sent by this one once that
    sender's lease lapses, and the report says they were reassigned."""
    from sqlalchemy import update

    seeded.issue(engine)
    seeded.subscribers(engine, 6)
    settings = with_lease(seeded.settings(db_url, tmp_path / "outbox"), 0.5)
    first = MemoryProvider()
    send_period(settings, engine, parse_period(seeded.PERIOD), first)
    with engine.begin() as conn:  # two rows as if claimed just now by a sender elsewhere
        conn.execute(
            update(deliveries)
            .where(deliveries.c.subscriber_id <= 2)
            .values(
                state="sending",
                claimed_by="elsewhere:42:x",
                handed_at=None,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
    provider = MemoryProvider()
    report = send_period(settings, engine, parse_period(seeded.PERIOD), provider)
    assert sorted(r.subscriber_id for _, r in provider.sent) == [1, 2]
    assert (report.accepted, report.pending) == (6, 0)
    assert any(n.startswith("reassigned 2 rows of dead worker elsewhere:42") for n in report.notes)
