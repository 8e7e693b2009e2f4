"""Run records: `schedule_runs`, the scheduler's visible memory (`digest schedule list`).

Every fire, skip, approval decision and pipeline result is one appended row; nothing here reads
the clock or the scheduler, so the pipeline, the jobs and the listener all record the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, insert, select

from digest.storage.schema import schedule_runs


def record_run(
    engine: Engine,
    *,
    job_id: str,
    kind: str,
    event: str,
    now: dt.datetime,
    period_key: str | None = None,
    zone: str | None = None,
    outcome: str | None = None,
    scheduled_for: dt.datetime | None = None,
    detail: str = "",
    holder: str = "",
) -> None:
    """Append one row to `schedule_runs` (the scheduler's visible memory)."""
    with engine.begin() as conn:
        conn.execute(
            insert(schedule_runs).values(
                job_id=job_id,
                kind=kind,
                event=event,
                period_key=period_key,
                zone=zone,
                outcome=outcome,
                scheduled_for=scheduled_for,
                recorded_at=now,
                detail=detail[:4000],
                holder=holder,
            )
        )


def approval_resolved(engine: Engine, period_key: str) -> bool:
    """Whether the period's approval gate has been decided (a `resolved` row)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(schedule_runs.c.id)
            .where(schedule_runs.c.period_key == period_key)
            .where(schedule_runs.c.kind == "approval")
            .where(schedule_runs.c.event == "resolved")
            .limit(1)
        ).first()
    return found is not None


def recent_runs(engine: Engine, limit: int, *, skipped_only: bool = False) -> list[Any]:
    """The newest rows first; only skips when `skipped_only`."""
    query = select(schedule_runs).order_by(schedule_runs.c.id.desc()).limit(limit)
    if skipped_only:
        query = query.where(schedule_runs.c.outcome == "skipped")
    with engine.connect() as conn:
        return list(conn.execute(query).all())
