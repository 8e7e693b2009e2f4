"""send_period: exactly once over re-runs, suppression at send time, uncertain held back, retries,
test sends and dry runs — on SQLite and PostgreSQL, with the in-memory provider injected."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from digest.audience import store
from digest.audience.model import Status
from digest.audience.suppression import suppression_reason
from digest.audience.tokens import LinkSigner, Purpose
from digest.config import Settings
from digest.delivery import BOUNCE_PREFIX, MemoryProvider, OutboxProvider, Outcome, Result
from digest.delivery.headers import TEST_PREFIX
from digest.delivery.heap import GEN0
from digest.delivery.run import SendError, SendReport, send_period
from digest.issues.render import placeholders as ph
from digest.period import parse_period
from digest.storage.schema import deliveries, issues


@pytest.fixture
def settings(db_url: str, tmp_path: Path, seeded: SimpleNamespace) -> Settings:
    made: Settings = seeded.settings(db_url, tmp_path / "outbox")
    return made


@pytest.fixture
def issue(engine: Engine, seeded: SimpleNamespace) -> int:
    issue_id: int = seeded.issue(engine)
    return issue_id


def send(settings: Settings, engine: Engine, provider: Any, **options: Any) -> SendReport:
    return send_period(settings, engine, parse_period("2026-W47"), provider, **options)


def sent_ids(provider: MemoryProvider) -> list[int]:
    return [r.subscriber_id for _, r in provider.sent]


def states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries.c.subscriber_id, deliveries.c.state))
        return {sid: state for sid, state in rows}


def test_every_eligible_subscriber_is_sent_once(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    ids = seeded.subscribers(engine, 5)
    provider = MemoryProvider()
    report = send(settings, engine, provider)
    assert sorted(sent_ids(provider)) == sorted(ids)
    assert (report.accepted, report.failed, report.uncertain, report.exit_code) == (5, 0, 0, 0)


def test_a_second_run_sends_nothing_and_counts_them_skipped(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 5)
    send(settings, engine, MemoryProvider())
    again = MemoryProvider()
    report = send(settings, engine, again)
    assert again.sent == []
    assert (report.sent_now, report.skipped, report.accepted) == (0, 5, 5)


def test_a_subscriber_added_later_gets_only_their_copy_on_a_rerun(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 3)
    send(settings, engine, MemoryProvider())
    (late,) = seeded.subscribers(engine, 1, start=10)
    again = MemoryProvider()
    send(settings, engine, again)
    assert sent_ids(again) == [late]


def test_an_unsubscribe_during_the_send_is_honoured(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 3)

    def unsubscribe_the_others(message: Any, recipient: Any) -> None:
        if recipient.email != "reader3@example.com":
            with engine.begin() as conn:
                store.set_status(conn, "reader3@example.com", Status.UNSUBSCRIBED, "link")

    provider = MemoryProvider(script=unsubscribe_the_others)
    report = send(settings, engine, provider, batch_size=1)
    assert "reader3@example.com" not in [r.email for _, r in provider.sent]
    assert (report.accepted, report.suppressed, report.exit_code) == (2, 1, 0)


def test_batches_are_sent_with_the_quiet_collector_and_it_is_restored_after(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 2)
    seen: list[int] = []
    provider = MemoryProvider(script=lambda message, recipient: seen.append(gc.get_threshold()[0]))
    before = gc.get_threshold()
    send(settings, engine, provider)
    assert seen == [GEN0, GEN0]  # see digest.delivery.heap: full collections cost a third
    assert gc.get_threshold() == before


def test_suppressed_subscribers_get_no_ledger_row_but_are_counted(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 2)
    with engine.begin() as conn:
        store.set_status(conn, "reader2@example.com", Status.BOUNCED, "test")
    report = send(settings, engine, MemoryProvider())
    assert (report.accepted, report.suppressed) == (1, 1)
    assert len(states(engine)) == 1


def test_uncertain_batches_are_not_resent_without_the_flag(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    report = send(settings, engine, MemoryProvider(outcomes={sid: Outcome.UNCERTAIN}))
    assert (report.uncertain, report.exit_code) == (1, 3)
    again = MemoryProvider()
    send(settings, engine, again)
    assert again.sent == []


def test_resend_uncertain_sends_them_again(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    send(settings, engine, MemoryProvider(outcomes={sid: Outcome.UNCERTAIN}))
    again = MemoryProvider()
    report = send(settings, engine, again, resend_uncertain=True)
    assert sent_ids(again) == [sid] and report.accepted == 1 and report.exit_code == 0


def test_a_retryable_answer_is_retried_then_accepted(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    answers = iter([Outcome.RETRYABLE, Outcome.ACCEPTED])
    waits: list[float] = []
    provider = MemoryProvider(script=lambda m, r: next(answers))
    report = send(settings, engine, provider, sleep=waits.append)
    assert sent_ids(provider) == [sid, sid] and report.accepted == 1 and len(waits) == 1


def test_retries_are_bounded_then_failed(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    provider = MemoryProvider(outcomes={sid: Outcome.RETRYABLE})
    report = send(settings, engine, provider, max_attempts=3, sleep=lambda s: None)
    assert len(provider.sent) == 3 and report.failed == 1 and report.exit_code == 1


def test_a_hard_bounce_suppresses_the_address(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    bounce = Result(sid, Outcome.FAILED, f"{BOUNCE_PREFIX} 550 no such user")
    send(settings, engine, MemoryProvider(outcomes={sid: bounce}))
    with engine.connect() as conn:
        assert suppression_reason(conn, "reader1@example.com") == "bounced"


def test_test_to_sends_each_edition_once_and_leaves_the_ledger_alone(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 3)
    provider = MemoryProvider()
    report = send(settings, engine, provider, test_to="editor@news.example.org")
    assert len(provider.sent) == 6 and report.accepted == 6
    assert {r.email for _, r in provider.sent} == {"editor@news.example.org"}
    assert all(m.test for m, _ in provider.sent)
    assert states(engine) == {}


def test_test_subjects_are_marked(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace, tmp_path: Path
) -> None:
    outbox = OutboxProvider(tmp_path / "box")
    send(settings, engine, outbox, test_to="editor@news.example.org", tiers={"open"})
    files = sorted((tmp_path / "box").rglob("*.eml"))
    assert len(files) == 2
    assert all(f"Subject: {TEST_PREFIX}" in f.read_text() for f in files)


def test_dry_run_counts_and_sends_nothing(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 4)
    provider = MemoryProvider()
    report = send(settings, engine, provider, dry_run=True)
    assert report.would_send == 4 and provider.sent == [] and states(engine) == {}


def test_tier_limits_the_send(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 2)
    (member,) = seeded.subscribers(engine, 1, start=5, tier="strategy_circle")
    provider = MemoryProvider()
    send(settings, engine, provider, tiers={"strategy_circle"})
    assert sent_ids(provider) == [member]


def test_each_reader_gets_their_tier_and_language(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 1, tier="leadership_alliance", locale="zh")
    provider = MemoryProvider()
    send(settings, engine, provider)
    ((message, _),) = provider.sent
    assert (message.tier, message.locale) == ("leadership_alliance", "zh")


def test_links_are_signed_and_verify_with_the_web_apps_signer(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    (sid,) = seeded.subscribers(engine, 1)
    provider = MemoryProvider()
    send(settings, engine, provider)
    ((_, recipient),) = provider.sent
    assert recipient.unsubscribe_url.startswith("https://news.example.org/u/")
    token = recipient.unsubscribe_url.rsplit("/", 1)[1]
    signer = LinkSigner(["test-secret-key"])
    claims = signer.verify(Purpose.UNSUBSCRIBE, token)
    assert claims.subscriber_id == sid and signer.binds(claims, "reader1@example.com")
    preferences = recipient.text_values[ph.PREFERENCES_URL_TEXT]
    assert preferences.startswith("https://news.example.org/p/")


def test_names_are_html_escaped_in_the_html_part_only(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    from digest.audience.model import Profile

    with engine.begin() as conn:
        store.add(conn, Profile("x@example.com", "<b>Ann & Co</b>"), "test")
    provider = MemoryProvider()
    send(settings, engine, provider)
    ((_, r),) = provider.sent
    assert r.html_values[ph.NAME_HTML] == "&lt;b&gt;Ann &amp; Co&lt;/b&gt;"
    assert r.text_values[ph.NAME_TEXT] == "<b>Ann & Co</b>"


def test_the_issue_is_marked_sent_when_nothing_is_left(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    seeded.subscribers(engine, 2)
    send(settings, engine, MemoryProvider())
    with engine.connect() as conn:
        row = conn.execute(select(issues).where(issues.c.id == issue)).one()
    assert row.status == "sent" and row.send_started_at is not None and row.sent_at is not None


def test_a_real_provider_without_a_secret_key_is_refused(
    engine: Engine, issue: int, seeded: SimpleNamespace, db_url: str, tmp_path: Path
) -> None:
    settings = seeded.settings(db_url, tmp_path).model_copy(
        update={"security": Settings().security}
    )
    provider = MemoryProvider(name="sendgrid", leaves_machine=True)
    with pytest.raises(SendError, match="DIGEST_SECRET_KEY"):
        send(settings, engine, provider)
    assert provider.sent == []


def test_the_outbox_without_a_secret_key_uses_a_local_key_and_says_so(
    engine: Engine, issue: int, seeded: SimpleNamespace, db_url: str, tmp_path: Path
) -> None:
    seeded.subscribers(engine, 1)
    settings = seeded.settings(db_url, tmp_path).model_copy(
        update={"security": Settings().security}
    )
    report = send(settings, engine, OutboxProvider(tmp_path / "box"))
    assert report.accepted == 1
    assert any("local key" in n for n in report.notes)


def test_a_dead_outbox_senders_claim_without_a_file_is_sent_again(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace, tmp_path: Path
) -> None:
    from sqlalchemy import update

    seeded.subscribers(engine, 1)
    box = OutboxProvider(tmp_path / "box")
    send(settings, engine, MemoryProvider(outcomes={1: Outcome.UNCERTAIN}), max_attempts=1)
    with engine.begin() as conn:  # as if a sender on this host died holding the row
        conn.execute(update(deliveries).values(state="sending", claimed_by="nohost:1:x"))
        conn.execute(
            update(deliveries).values(
                updated_at=func.coalesce(deliveries.c.updated_at, deliveries.c.updated_at)
            )
        )
    import socket

    with engine.begin() as conn:
        conn.execute(update(deliveries).values(claimed_by=f"{socket.gethostname()}:999999999:dead"))
    report = send(settings, engine, box)
    assert report.accepted == 1 and report.recovered == {"queued": 1}
    assert len(list((tmp_path / "box").rglob("*.eml"))) == 1


def test_editions_are_built_and_frozen_when_there_are_none(
    settings: Settings, engine: Engine, seeded: SimpleNamespace
) -> None:
    from digest.resources import example_signals
    from digest.signals.ingest import ingest

    ingest(engine, [str(example_signals())], settings.sources)
    seeded.subscribers(engine, 1)
    provider = MemoryProvider()
    report = send(settings, engine, provider)
    assert report.accepted == 1
    ((message, _),) = provider.sent
    assert message.period_key == "2026-W47" and "%%" not in message.subject
