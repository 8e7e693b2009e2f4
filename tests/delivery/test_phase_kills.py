"""A sender killed with SIGKILL in each phase of a batch, deterministically, then resumed.

The sender is a real `digest send` process (through `pause_harness.py`, which stops it at the
chosen point: inside the claim's transaction, with SMTP's 250 received but not yet returned, or
inside the transaction recording a message and handing the next), the server a real aiosmtpd.
After the kill and a resume: every reader has exactly one copy or is `uncertain`, and uncertain
is only ever the message that was in flight (handed, not recorded) at the kill.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select

from digest.storage.schema import deliveries, subscribers
from tests.delivery.test_faults import Server, smtp  # noqa: F401 (the server fixture)

HARNESS = Path(__file__).with_name("pause_harness.py")
REPO = Path(__file__).resolve().parents[2]
READERS = 5


def config(tmp_path: Path, db_url: str, port: int) -> Path:
    """A configuration `digest check` passes (a strong key, an owned domain), with the test's
    SMTP server."""
    path = tmp_path / "digest.toml"
    path.write_text(
        f"[database]\nurl = {db_url!r}\n"
        "[publication]\nbase_url = 'https://news.signal-weekly.net'\n"
        "from_email = 'digest@news.signal-weekly.net'\n"
        f"[security]\nsecret_keys = [{secrets.token_urlsafe(32)!r}]\n"  # check refuses weak ones
        f"[smtp]\nurl = 'smtp://127.0.0.1:{port}'\ntimeout = 5\n"
    )
    return path


def sender(cfg: Path, period: str, tmp_path: Path, **pause: str) -> subprocess.Popen[bytes]:
    args = ["--config", str(cfg), "send", "--period", period, "--provider", "smtp", "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO), **pause}
    err = (tmp_path / f"send-{len(list(tmp_path.glob('send-*')))}.err").open("wb")
    return subprocess.Popen(
        [sys.executable, str(HARNESS), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
    )


def rows(engine: Engine) -> list[tuple[str, str, bool]]:
    """(address, state, handed) of every ledger row."""
    query = select(
        subscribers.c.email, deliveries.c.state, deliveries.c.handed_at.is_not(None)
    ).join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
    with engine.connect() as conn:
        return [(str(e), str(s), bool(h)) for e, s, h in conn.execute(query)]


def kill_when_paused(child: subprocess.Popen[bytes], marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, "the sender ended before it reached the pause point"
        assert time.monotonic() < deadline, "the sender never reached the pause point"
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize(
    ("phase", "at", "in_flight"),
    [("claiming", "1", set()), ("sending", "3", {3}), ("recording", "3", {3})],
)
def test_a_sender_killed_in_each_phase_then_resumed_is_exactly_once(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    seeded: SimpleNamespace,
    smtp: tuple[Server, int],  # noqa: F811
    phase: str,
    at: str,
    in_flight: set[int],
) -> None:
    server, port = smtp
    seeded.issue(engine)
    seeded.subscribers(engine, READERS)
    cfg, marker = config(tmp_path, db_url, port), tmp_path / "paused"
    pause = {"PAUSE_PHASE": phase, "PAUSE_AT": at, "PAUSE_MARKER": str(marker)}
    kill_when_paused(sender(cfg, seeded.PERIOD, tmp_path, **pause), marker)
    flying = {a for a, state, handed in rows(engine) if state == "sending" and handed}
    assert flying == {f"reader{n}@example.com" for n in in_flight}
    exit_status = sender(cfg, seeded.PERIOD, tmp_path).wait(120)
    assert exit_status == (3 if flying else 0)  # 3: the only shortfall is uncertain
    found = rows(engine)
    assert len(found) == READERS
    assert {a for a, state, _ in found if state == "uncertain"} == flying
    assert all(server.copies[a] == 1 for a, _, _ in found)  # in flight meant: it did go out
    assert {state for a, state, _ in found if a not in flying} == {"accepted"}
