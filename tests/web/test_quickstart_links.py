"""The Quickstart's own loop: `digest run` with no secret configured, then one-click unsubscribe
from an outbox email through `digest serve`'s app (the links are signed with the database's
local key, and the web app must verify them with the same key)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from digest.cli import app as cli
from digest.config import load_settings
from digest.storage.db import open_database
from digest.storage.schema import subscribers
from digest.web.app import create_app

from .conftest import Client

UNSUBSCRIBE = re.compile(rb"\r\nList-Unsubscribe: <http://127\.0\.0\.1:8000(/u/[^>]+)>\r\n")


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_SECRET_KEY", "DIGEST_OUTBOX_DIR"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(cli, ["run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "local key" in result.output
    return tmp_path


def test_one_click_unsubscribe_from_an_outbox_email_with_no_secret_configured(
    quickstart: Path,
) -> None:
    eml = sorted((quickstart / "outbox" / "2026-W47").glob("*.eml"))[0]
    found = UNSUBSCRIBE.search(eml.read_bytes())
    assert found, "no plain List-Unsubscribe header"
    settings = load_settings(environ={})
    engine = open_database(settings.database.url)
    client = Client(create_app(settings, engine))
    answer = client.post(found.group(1).decode(), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    with engine.connect() as conn:
        statuses = [s for (s,) in conn.execute(select(subscribers.c.status))]
    engine.dispose()
    assert statuses.count("unsubscribed") == 1


def test_a_one_click_unsubscribe_shows_in_the_editions_stats(quickstart: Path) -> None:
    eml = sorted((quickstart / "outbox" / "2026-W47").glob("*.eml"))[0]
    found = UNSUBSCRIBE.search(eml.read_bytes())
    assert found
    settings = load_settings(environ={})
    engine = open_database(settings.database.url)
    client = Client(create_app(settings, engine))
    client.post(found.group(1).decode(), data={"List-Unsubscribe": "One-Click"})
    client.post(found.group(1).decode(), data={"List-Unsubscribe": "One-Click"})  # idempotent
    engine.dispose()
    stats = CliRunner().invoke(cli, ["stats", "--period", "2026-W47", "--json"])
    assert stats.exit_code == 0, stats.output
    editions = json.loads(stats.output)["editions"]
    assert sum(e["unsubscribes"] for e in editions) == 1
