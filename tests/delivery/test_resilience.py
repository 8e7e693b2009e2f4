"""Crash and resume, and two senders at once: real processes, real SIGKILLs, both engines.

The provider is a sink that appends one line per message to a file with O_APPEND (one write per
line, so lines never interleave), which is what "sent" means here: the file is the inbox.
Exactly once means every subscriber is either `accepted` with exactly one line, or reported
`uncertain` with at most one — never two lines, never accepted without one, never left out.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.delivery import EditionMessage, Outcome, Recipient, Result
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.db import open_database
from digest.storage.schema import deliveries

FORK = multiprocessing.get_context("fork")
TRIALS = 25
AUDIENCE = 90


class FileSink:
    """A provider whose inbox is a file: one line `edition subscriber` per message."""

    name = "sink"
    leaves_machine = False
    per_message = True  # like SMTP: one answer per message
    parallel = 1

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path, self.delay = path, delay

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for r in recipients:
                os.write(fd, f"{message.edition_id} {r.subscriber_id}\n".encode())
                if self.delay:
                    time.sleep(self.delay)
        finally:
            os.close(fd)
        return [Result(r.subscriber_id, Outcome.ACCEPTED, message_id="sink") for r in recipients]

    def close(self) -> None:
        """Nothing to release."""

    def delivered(self, period_key: str, edition_id: int, subscriber_id: int) -> bool | None:
        return None  # like a network: a line cannot be read back as proof

    def folder(self, period_key: str) -> str | None:
        return None


def _sender(url: str, settings: dict[str, Any], period: str, sink: str, start: Any) -> None:
    """A child process's whole life: its own engine, one send, then exit without cleanup."""
    try:
        if start is not None:
            start.wait(10)
        engine = open_database(url)
        send_period(
            Settings.model_validate(settings),
            engine,
            parse_period(period),
            FileSink(Path(sink), delay=0.0005),
            batch_size=7,
        )
    finally:
        os._exit(0)  # no finalizers: the parent's inherited connections stay untouched


def _spawn(url: str, settings: Settings, period: str, sink: Path, start: Any = None) -> Any:
    args = (url, settings.model_dump(mode="json"), period, str(sink), start)
    process = FORK.Process(target=_sender, args=args)
    process.start()
    return process


def _lines(sink: Path) -> Counter[str]:
    if not sink.exists():
        return Counter()
    return Counter(line.split()[1] for line in sink.read_text().splitlines())


def _states(engine: Engine, issue_id: int) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.state).where(
                deliveries.c.issue_id == issue_id
            )
        )
        return {str(sid): state for sid, state in rows}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": db_url},
            "publication": {
                "base_url": "https://news.example.org",
                "from_email": "digest@news.example.org",
            },
            "outbox": {"dir": str(tmp_path / "outbox")},
        }
    )


def _violations(states: dict[str, str], lines: Counter[str], audience: list[int]) -> list[str]:
    problems = []
    for sid in map(str, audience):
        state, copies = states.get(sid), lines.get(sid, 0)
        if copies > 1:
            problems.append(f"{sid}: {copies} copies")
        if state == "accepted" and copies != 1:
            problems.append(f"{sid}: accepted with {copies} copies")
        if state not in ("accepted", "uncertain"):
            problems.append(f"{sid}: left {state}")
    return problems


def test_sigkill_at_random_points_then_resume_sends_each_reader_once_or_reports_uncertain(
    settings: Settings, engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    audience = seeded.subscribers(engine, AUDIENCE)
    rng = random.Random(20261124)
    interrupted = 0
    for trial in range(1, TRIALS + 1):
        period = f"2025-W{trial:02d}"
        issue_id = seeded.issue(engine, period)
        sink = tmp_path / f"sink-{trial}.txt"
        child = _spawn(db_url, settings, period, sink)
        time.sleep(rng.uniform(0.0, 0.35))
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
            interrupted += 1
        child.join()
        send_period(settings, engine, parse_period(period), FileSink(sink), batch_size=7)
        states = _states(engine, issue_id)
        problems = _violations(states, _lines(sink), audience)
        assert problems == [], f"trial {trial}: {problems[:5]}"
        uncertain = [sid for sid, state in states.items() if state == "uncertain"]
        assert len(uncertain) <= 1, f"trial {trial}: {uncertain} uncertain; 1 was in flight"
    assert interrupted > 0  # the trials exercised kills, not only clean runs


def test_two_senders_at_once_never_send_twice(
    settings: Settings, engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    audience = seeded.subscribers(engine, 300)
    issue_id = seeded.issue(engine)
    sink = tmp_path / "sink.txt"
    start = FORK.Event()
    senders = [_spawn(db_url, settings, "2026-W47", sink, start) for _ in range(2)]
    start.set()
    for sender in senders:
        sender.join(120)
    lines = _lines(sink)
    assert sorted(lines.values()) == [1] * len(audience)
    assert set(_states(engine, issue_id).values()) == {"accepted"}
