"""A `digest schedule run` in a child process, on a travelled clock, with counting steps.

Usage: python scheduler_proc.py CONFIG START_ISO. The clock starts at START_ISO and ticks, so a
test can start a scheduler two seconds before a Monday 07:00 fire instead of waiting for one.
Prints ACTIVE once it holds the lock and PROCESSED after its first pass over the due jobs.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import time_machine

sys.path.insert(0, str(Path(__file__).parent))

from apscheduler.schedulers.base import BaseScheduler
from fake_steps import counting_steps

from digest.config import load_settings
from digest.jobs.process import run_forever


def processed() -> None:
    print("PROCESSED", flush=True)


def on_active(scheduler: BaseScheduler) -> None:
    print("ACTIVE", flush=True)
    scheduler.add_job(processed, "date", run_date=dt.datetime.now(dt.UTC), jobstore="memory")


def main() -> int:
    config, start = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    with time_machine.travel(start, tick=True):
        settings = load_settings(config)
        return run_forever(settings, config, steps=counting_steps(), on_active=on_active)


if __name__ == "__main__":
    sys.exit(main())
