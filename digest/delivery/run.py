"""Sending a period's issue: the one function behind `digest send`, the scheduler and the web app.

`send_period` gets the frozen editions from the build (which builds them when there are none),
makes the plan, recovers what dead senders left, queues one ledger row per eligible recipient
before anything leaves, and hands the plan to an executor — in this process, or Celery workers.
Both run the same batch function (`digest.delivery.batch.run_batch`), and the report is read
back from the ledger. Because every step goes through the ledger (see `digest.delivery.ledger`),
running it again — after success, a crash or a kill -9 — sends only what no run has sent, and
never guesses: unknown fates are `uncertain`, and only what was in flight can be.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from digest.audience.tokens import MissingSecretKey
from digest.config import Settings
from digest.delivery import ledger
from digest.delivery.batch import recover
from digest.delivery.check import failures, run_checks
from digest.delivery.distributed import Celery
from digest.delivery.executors import Executor, InProcess, lease_of
from digest.delivery.headers import TEST_PREFIX
from digest.delivery.heap import quiet_collector
from digest.delivery.links import FastTokens, LinkValues, signing_keys
from digest.delivery.plan import dry_run as what_would_send
from digest.delivery.plan import finish, make_plan, open_send, stored_message
from digest.delivery.provider import MAX_BATCH, Outcome, Provider, Recipient
from digest.delivery.providers import spec
from digest.delivery.report import Progress, SendError, SendReport
from digest.issues.build import EditionsUnavailable, frozen_editions
from digest.issues.editions import Edition
from digest.issues.render.i18n import translations
from digest.period import Period

EXECUTORS = ("inprocess", "celery")

__all__ = ["EXECUTORS", "Progress", "SendError", "SendReport", "send_period"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def send_period(
    settings: Settings,
    engine: Engine,
    period: Period,
    provider: Provider,
    *,
    executor: str = "inprocess",
    tiers: Collection[str] | None = None,
    timezones: Collection[str] | None = None,
    dry_run: bool = False,
    test_to: str | None = None,
    resend_uncertain: bool = False,
    batch_size: int = MAX_BATCH,
    max_attempts: int = 3,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    worker: str | None = None,
    celery_app: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> SendReport:
    """Send `period`'s issue through `provider`, with `executor` ("inprocess" or "celery"); see
    the module docstring. Raises SendError (before anything is sent) when there are no editions,
    they fail the checks, or a real provider has no signing key. Dry runs and test sends touch
    no ledger rows and run here whatever the executor. With Celery the workers make their own
    provider of the same name; `provider` serves for its name, properties and proof."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}")
    report = SendReport(period.key, provider.name, dry_run=dry_run, test_to=test_to)
    report.outbox_dir = provider.folder(period.key)
    try:
        issue_id, editions = frozen_editions(settings, engine, period)
    except EditionsUnavailable as exc:
        raise SendError(str(exc)) from None
    report.issue_id = issue_id
    links = _links(settings, engine, provider, report)
    if test_to is not None:
        chosen = [e for e in editions if tiers is None or e.tier in tiers]
        return _send_test(settings, period, issue_id, chosen, provider, links, test_to, report)
    plan = make_plan(engine, period, issue_id, editions, tiers=tiers, timezones=timezones)
    if dry_run:
        return what_would_send(engine, plan, report)
    recovered = recover(engine, issue_id, period.key, provider, lease_of(settings))
    report.recovered = {str(k): v for k, v in recovered.moved.items()}
    with engine.begin() as conn:
        before = open_send(conn, plan, _now(), resend_uncertain=resend_uncertain)
    report.skipped = sum(before.get(str(st), 0) for st in ledger.FINAL)
    runner: Executor
    if executor == "celery":
        provider.close()  # the workers make their own
        runner = Celery(settings, engine, provider.name, app=celery_app, sleep=sleep, clock=clock)
    else:
        runner = InProcess(
            settings,
            engine,
            provider,
            links,
            batch_size,
            max_attempts,
            sleep,
            worker=worker or ledger.worker_id(),
        )
    with quiet_collector():  # the collector was a fifth of a send's CPU
        runner.run(plan, report, progress)
    finish(engine, plan, report, _now())
    if executor == "celery":
        report.sent_now = max(0, report.accepted - before.get(ledger.State.ACCEPTED.value, 0))
    return report


def _links(
    settings: Settings, engine: Engine, provider: Provider, report: SendReport
) -> LinkValues:
    """Signed-link values; only a provider whose mail stays here may use a generated key."""
    try:
        keys, note = signing_keys(settings, engine, allow_local=not provider.leaves_machine)
    except MissingSecretKey as exc:
        raise SendError(str(exc)) from None
    if note:
        report.notes.append(note)
    return LinkValues(FastTokens(keys), settings.publication.base_url)


def _send_test(
    settings: Settings,
    period: Period,
    issue_id: int,
    editions: Collection[Edition],
    provider: Provider,
    links: LinkValues,
    address: str,
    report: SendReport,
) -> SendReport:
    """Every all-classes edition to one address, subject marked as a test; no ledger rows."""
    try:
        for edition in editions:
            if edition.interests_key:
                continue
            message = stored_message(settings, period, issue_id, edition, test=True)
            fallback = translations(edition.locale).gettext("reader")
            html_values, text_values, unsubscribe = links.values(0, address, "", fallback, message)
            recipient = Recipient(0, address, "", html_values, text_values, unsubscribe)
            (result,) = provider.send(message, [recipient])
            if result.outcome is Outcome.ACCEPTED:
                report.accepted += 1
                report.sent_now += 1
            elif result.outcome is Outcome.UNCERTAIN:
                report.uncertain += 1
            else:
                report.failed += 1
                report.notes.append(f"{edition.tier}.{edition.locale}: {result.reason}")
    finally:
        provider.close()
    report.notes.append(f"test send: subjects start with {TEST_PREFIX.strip()}; ledger untouched")
    return report


def outbox_files(report: SendReport) -> list[Path]:
    """The .eml files in the report's outbox folder (for the main job's message)."""
    if report.outbox_dir is None:
        return []
    return sorted(Path(report.outbox_dir).glob("*.eml"))


# --- the scheduler's send step -----------------------------------------------------------------


def preflight(
    settings: Settings,
    engine: Engine,
    provider: str,
    period: Period,
    built: Sequence[Edition] | None = None,
) -> list[str]:
    """`digest check`'s blocking failures for a provider whose mail leaves the machine.

    `built`: the editions a build just made, whose check results are reused (no second build).
    """
    if not spec(provider).leaves_machine:
        return []
    found = run_checks(settings, engine, provider, period=period, built=built)
    return [str(p) for p in failures(found)]
