"""`digest send`, `digest check`, `digest stats` and the main job's send, through the CLI."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from digest.cli import app

runner = CliRunner()
PERIOD = "2026-W47"
GOOD = {
    "DIGEST_BASE_URL": "https://news.example.org",
    "DIGEST_SECRET_KEY": "cli-test-key-Xq2l0b9mS3vT_c8rWk1YzP4nJ6hG7dFa5eR",
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (
        "DIGEST_CONFIG",
        "DIGEST_DATABASE_URL",
        "DIGEST_OUTBOX_DIR",
        "DIGEST_SECRET_KEY",
        "DIGEST_BASE_URL",
        "DIGEST_SMTP_URL",
        "SENDGRID_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """The examples ingested, the example audience imported and the week built; nothing sent."""
    from digest.resources import example_signals

    (tmp_path / "digest.toml").write_text(
        '[publication]\nfrom_email = "digest@news.signal-weekly.net"\n', "utf-8"
    )
    assert invoke("ingest", str(example_signals())).exit_code == 0
    assert invoke("subscribers", "import", str(_example_csv())).exit_code == 0
    built = invoke("build", "--period", PERIOD)
    assert built.exit_code == 0, built.output
    return tmp_path


def test_the_main_job_ends_by_sending_to_the_outbox(tmp_path: Path) -> None:
    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert "16 .eml files in" in result.output
    assert len(list((tmp_path / "outbox" / PERIOD).glob("*.eml"))) == 16
    assert "local key" in result.output


def test_the_main_job_twice_sends_nothing_new() -> None:
    invoke("run")
    result = invoke("run")
    assert "0 sent now (nothing new to send)" in result.output


def test_send_json_reports_the_counts(prepared: Path) -> None:
    result = invoke("send", "--period", PERIOD, "--json")
    data = orjson.loads(result.stdout)
    assert result.exit_code == 0
    assert {k: data[k] for k in ("accepted", "failed", "uncertain", "suppressed")} == {
        "accepted": 16,
        "failed": 0,
        "uncertain": 0,
        "suppressed": 0,
    }


def test_send_after_an_unsubscribe_counts_it_suppressed(prepared: Path) -> None:
    from digest.audience import store
    from digest.audience.model import Status
    from digest.storage.db import open_database

    engine = open_database(f"sqlite:///{prepared / 'digest.db'}")
    with engine.begin() as conn:
        store.set_status(conn, "amelia.hart@example.com", Status.UNSUBSCRIBED, "link")
    engine.dispose()
    result = invoke("send", "--period", PERIOD, "--json")
    data = orjson.loads(result.stdout)
    assert (data["accepted"], data["suppressed"]) == (15, 1)


def _example_csv() -> Path:
    from digest.resources import bundled

    return bundled("subscribers") / "example.csv"


def test_dry_run_sends_nothing(prepared: Path) -> None:
    result = invoke("send", "--period", PERIOD, "--dry-run", "--json")
    assert orjson.loads(result.stdout)["would_send"] == 16
    assert not (prepared / "outbox").exists()


def test_test_to_marks_subjects_and_leaves_the_ledger(prepared: Path) -> None:
    result = invoke("send", "--period", PERIOD, "--test-to", "me@news.signal-weekly.net")
    assert result.exit_code == 0, result.output
    files = list((prepared / "outbox" / PERIOD).glob("*.eml"))
    assert len(files) == 6 and all("[TEST]" in f.read_text() for f in files)
    dry = invoke("send", "--period", PERIOD, "--dry-run", "--json")
    assert orjson.loads(dry.stdout)["would_send"] == 16


def test_an_unknown_provider_is_a_usage_error(prepared: Path) -> None:
    assert invoke("send", "--provider", "carrier-pigeon").exit_code == 2


def test_a_real_send_is_refused_when_check_fails(prepared: Path) -> None:
    result = invoke("send", "--period", PERIOD, "--provider", "smtp")
    assert result.exit_code == 1
    assert "publication.base_url" in result.output and "smtp.url" in result.output


def test_check_names_each_setting_and_fails(tmp_path: Path) -> None:
    result = invoke("check")
    assert result.exit_code == 1
    for setting in ("publication.from_email", "publication.base_url", "security.secret_keys"):
        assert setting in result.output


def test_check_flags_a_weak_key_and_a_weak_editor_password(prepared: Path) -> None:
    env = {**GOOD, "DIGEST_SMTP_URL": "smtp://127.0.0.1:2525"}
    env |= {"DIGEST_SECRET_KEY": "x", "DIGEST_EDITOR_PASSWORD": "a"}
    result = invoke("check", "--period", PERIOD, env=env)
    assert result.exit_code == 1
    assert "security.secret_keys" in result.output and "web.editor_password" in result.output
    assert "secrets.token_urlsafe(32)" in result.output


def test_check_names_the_missing_sendgrid_key(prepared: Path) -> None:
    result = invoke("check", "--provider", "sendgrid", env=GOOD)
    assert result.exit_code == 1 and "SENDGRID_API_KEY" in result.output


def test_check_passes_when_everything_is_set(prepared: Path) -> None:
    env = {**GOOD, "DIGEST_SMTP_URL": "smtp://127.0.0.1:2525"}
    result = invoke("check", "--period", PERIOD, env=env)
    assert result.exit_code == 0, result.output
    assert "All checks passed for smtp" in result.output


def test_stats_json_lists_each_edition(prepared: Path) -> None:
    invoke("send", "--period", PERIOD)
    result = invoke("stats", "--period", PERIOD, "--json")
    data = orjson.loads(result.stdout)
    assert sum(e["sent"] for e in data["editions"]) == 16


def test_stats_table(prepared: Path) -> None:
    result = invoke("stats", "--period", PERIOD)
    assert result.exit_code == 0 and "open.en" in result.output and "clicks" in result.output


def test_stats_show_rejected_webhook_events(prepared: Path) -> None:
    from digest.delivery.events import apply_events
    from digest.storage.db import open_database

    engine = open_database("sqlite:///digest.db")
    bad = {"event": "open", "sg_event_id": "ev-9", "subscriber_id": "99999999999999999999"}
    apply_events(engine, [bad], dt.datetime.now(dt.UTC))
    engine.dispose()
    table = invoke("stats", "--period", PERIOD).output
    data = orjson.loads(invoke("stats", "--period", PERIOD, "--json").stdout)
    assert "Rejected webhook events: 1" in table and "ev-9  subscriber_id:" in table
    assert data["rejected_events"]["total"] == 1


# --- SMTP end to end: `digest send --provider smtp` into aiosmtpd ------------------------------


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Sink]]:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    sink = _Sink()
    controller = controller_mod.Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def test_send_through_smtp_delivers_each_reader_once(
    prepared: Path, smtp_server: tuple[int, _Sink]
) -> None:
    port, sink = smtp_server
    env = {**GOOD, "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    result = invoke("send", "--period", PERIOD, "--provider", "smtp", "--json", env=env)
    assert result.exit_code == 0, result.output
    recipients = [r for rcpt, _ in sink.messages for r in rcpt]
    assert len(recipients) == 16 and len(set(recipients)) == 16
    again = invoke("send", "--period", PERIOD, "--provider", "smtp", env=env)
    assert again.exit_code == 0 and len(sink.messages) == 16


def test_smtp_messages_carry_one_click_unsubscribe_under_the_base_url(
    prepared: Path, smtp_server: tuple[int, _Sink]
) -> None:
    port, sink = smtp_server
    env = {**GOOD, "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    invoke("send", "--period", PERIOD, "--provider", "smtp", "--tier", "open", env=env)
    parsed = email.message_from_bytes(sink.messages[0][1], policy=email.policy.default)
    assert parsed["List-Unsubscribe"].startswith("<https://news.example.org/u/")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parsed.get_body(("html",))
    assert body is not None and "https://news.example.org/p/" in body.get_content()
