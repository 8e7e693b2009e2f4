"""Real scheduler processes: one active per database, a standby that takes over, exactly once.

Each process runs `run_forever` on a clock started two seconds before Monday 07:00, so the
weekly fire happens for real (APScheduler's own loop, job store and lock) within seconds.
Waits are bounded waits for a line or a file, never sleeps followed by assertions.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import write_config
from .fake_steps import sent_lines

HERE = Path(__file__).parent
BEFORE_FIRE = "2026-11-23T06:59:58+00:00"  # Monday 06:59:58 in London (GMT in November)
AFTER_FIRE = "2026-11-23T07:00:30+00:00"
LIMIT = 20.0  # seconds: a bound on waiting, far above the ~2 s these take


class Proc:
    """A scheduler child process whose output lines are read as they come."""

    def __init__(self, config: Path, start: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, str(HERE / "scheduler_proc.py"), str(config), start],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {LIMIT}s; output:\n" + "\n".join(self.seen))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout=LIMIT)

    def stopped_cleanly(self) -> bool:
        """SIGTERM, then True for exit status 0; the output is printed for a failing test."""
        code = self.stop(signal.SIGTERM)
        time.sleep(0.1)  # let the reader thread drain the pipe (output only, not asserted)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        print("\n".join(self.seen))
        return code == 0


@pytest.fixture
def spawn(tmp_path: Path, send_log: Path) -> Iterator[object]:
    procs: list[Proc] = []
    env = {**os.environ, "DIGEST_TEST_SEND_LOG": str(send_log)}
    env.pop("DIGEST_CONFIG", None)

    def make(db_url: str, start: str = BEFORE_FIRE) -> Proc:
        config = write_config(tmp_path / "digest.toml", db_url, standby_poll_seconds=0.1)
        proc = Proc(config, start, env)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop(signal.SIGKILL)


def wait_for_sends(log: Path, count: int) -> None:
    deadline = time.monotonic() + LIMIT
    while len(sent_lines(log)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_second_scheduler_waits_as_standby(spawn, db_url: str) -> None:  # type: ignore[no-untyped-def]
    first = spawn(db_url)
    first.wait_for("ACTIVE")
    second = spawn(db_url)
    second.wait_for("standing by")


def test_standby_takes_over_when_the_active_one_is_killed(spawn, db_url: str) -> None:  # type: ignore[no-untyped-def]
    first = spawn(db_url)
    first.wait_for("ACTIVE")
    second = spawn(db_url)
    second.wait_for("standing by")
    first.stop(signal.SIGKILL)
    second.wait_for("ACTIVE")


def test_sigterm_stops_cleanly(spawn, db_url: str) -> None:  # type: ignore[no-untyped-def]
    proc = spawn(db_url)
    proc.wait_for("PROCESSED")
    assert proc.stopped_cleanly()


def test_fire_a_minute_ahead_sends_once_beside_a_standby_and_not_again_after_restart(  # type: ignore[no-untyped-def]
    spawn, db_url: str, send_log: Path
) -> None:
    first = spawn(db_url)
    first.wait_for("ACTIVE")
    second = spawn(db_url)
    second.wait_for("standing by")
    wait_for_sends(send_log, 1)
    first.wait_for("executed")  # the fire's result is recorded before we stop it
    assert first.stopped_cleanly()
    second.wait_for("PROCESSED")  # the standby took over and looked at the due jobs
    assert second.stopped_cleanly()
    restarted = spawn(db_url, AFTER_FIRE)
    restarted.wait_for("PROCESSED")
    assert restarted.stopped_cleanly()
    assert sent_lines(send_log) == ["send 2026-W47 *"]
