"""Schedule fixtures: a config file, counting steps, and a scheduler stepped by hand.

The stepping scheduler runs APScheduler's own job processing (`_process_jobs`) once per `step()`
with jobs executed in the calling thread, under a clock moved by time-machine: the real misfire,
coalescing and job store logic, with no sleeps and no threads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import BaseScheduler

from digest.config import Settings, load_settings
from digest.jobs import scheduler, weekly
from digest.storage.db import open_database

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # so the scheduler processes can import the fake steps

from fake_steps import counting_steps  # noqa: E402


class SteppingScheduler(BaseScheduler):  # type: ignore[misc]
    """Processes due jobs only when told to, in the calling thread."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass

    def step(self) -> Any:
        return self._process_jobs()


def write_config(path: Path, db_url: str, **schedule: Any) -> Path:
    lines = [f'[database]\nurl = "{db_url}"\n', "[schedule]"]
    for key, value in schedule.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v) for v in value)}]".replace("'", '"'))
        else:
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def send_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "sends.log"
    monkeypatch.setenv("DIGEST_TEST_SEND_LOG", str(log))
    return log


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'digest.db'}"


class Harness:
    """Start, step and stop stepping schedulers on one config, as restarts of one machine."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.current: SteppingScheduler | None = None

    @property
    def settings(self) -> Settings:
        return load_settings(self.config, environ={})

    def start(self) -> SteppingScheduler:
        settings = self.settings
        engine = open_database(settings.database.url)
        sched = scheduler.make_scheduler(settings, SteppingScheduler, DebugExecutor())
        assert isinstance(sched, SteppingScheduler)
        scheduler.prepare(sched, settings, engine, str(self.config))
        sched.start()
        weekly.set_handle(sched)
        weekly.use_steps(counting_steps())
        self.current = sched
        return sched

    def stop(self) -> None:
        if self.current is not None and self.current.running:
            self.current.shutdown(wait=True)
        weekly.set_handle(None)
        weekly.use_steps(None)
        self.current = None


@pytest.fixture
def harness_for(send_log: Path, tmp_path: Path) -> Iterator[Any]:
    made: list[Harness] = []

    def make(db_url: str, **schedule: Any) -> Harness:
        h = Harness(write_config(tmp_path / "digest.toml", db_url, **schedule))
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
