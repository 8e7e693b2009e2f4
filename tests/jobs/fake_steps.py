"""Pipeline stages that count instead of working, importable by name from scheduler processes.

The send step appends one line per call to the file named by $DIGEST_TEST_SEND_LOG, so a test
(or a parent process) sees exactly how many sends happened, for which period and zones.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from digest.config import Settings
from digest.jobs.pipeline import BuiltIssue, PipelineSteps, SendSummary
from digest.period import Period
from digest.storage.schema import issues

LOG_ENV = "DIGEST_TEST_SEND_LOG"


def _log(line: str) -> None:
    with Path(os.environ[LOG_ENV]).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def ensure_issue_row(conn: Connection, period: Period, now: dt.datetime) -> int:
    """The period's `issues` row, as a real build would leave it (built, awaiting approval)."""
    found = conn.execute(select(issues.c.id).where(issues.c.period_key == period.key)).scalar()
    if found is not None:
        return int(found)
    values = {
        "period_key": period.key,
        "period_start": period.start,
        "period_end": period.end,
        "status": "awaiting_approval",
        "created_at": now,
        "built_at": now,
    }
    key = conn.execute(insert(issues).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def ingest(settings: Settings, engine: Engine) -> str:
    return "fake ingest"


def build(settings: Settings, engine: Engine, period: Period, now: dt.datetime) -> BuiltIssue:
    with engine.begin() as conn:
        issue_id = ensure_issue_row(conn, period, now)
    return BuiltIssue(period, issue_id, 6, 3)


def check(settings: Settings, engine: Engine, built: BuiltIssue) -> list[str]:
    return []


def send(
    settings: Settings, engine: Engine, built: BuiltIssue, zones: frozenset[str] | None
) -> SendSummary:
    _log(f"send {built.period.key} {','.join(sorted(zones)) if zones else '*'}")
    return SendSummary(accepted=1)


def notify(settings: Settings, to: list[str], subject: str, body: str) -> None:
    _log(f"notify {','.join(to)} {subject}")


def counting_steps() -> PipelineSteps:
    return PipelineSteps(ingest=ingest, build=build, check=check, send=send, notify=notify)


def sent_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
