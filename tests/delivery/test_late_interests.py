"""A subscriber who picks classes after the issue was built still gets only those classes."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_OUTBOX_DIR", "DIGEST_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)


def text_part_for(outbox: Path, address: str) -> str:
    for path in outbox.glob("*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if str(mail["To"]).endswith(f"<{address}>") or str(mail["To"]) == address:
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no email to {address}")


def test_a_late_interest_set_gets_its_own_edition(tmp_path: Path) -> None:
    assert runner.invoke(app, ["run"], env={"COLUMNS": "200"}).exit_code == 0
    added = runner.invoke(
        app, ["subscribers", "add", "late@example.org", "--interests", "Supply Chain"]
    )
    assert added.exit_code == 0, added.output
    sent = runner.invoke(app, ["send", "--period", "2026-W47"])
    assert sent.exit_code == 0, sent.output
    text = text_part_for(tmp_path / "outbox" / "2026-W47", "late@example.org")
    assert "SUPPLY CHAIN" in text.upper()
    for other in ("POLICY TRACK", "CASE FILE", "CAPITAL FLOWS", "INFRASTRUCTURE"):
        assert other not in text.upper()
