from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "SENDGRID_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.very-secret")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert "SG.very-secret" not in result.output
    assert "api_key" in result.output


def test_config_command_masks_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://digest:hunter2@db.internal/digest")
    for args in (["config"], ["config", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert "hunter2" not in result.output
        assert "db.internal" in result.output


def test_config_command_masks_the_broker_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_CELERY_BROKER_URL", "amqp://digest:s3cr3t@mq.internal:5672//")
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0
    assert "s3cr3t" not in result.output and "mq.internal" in result.output
