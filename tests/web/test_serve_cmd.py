"""`digest serve`: refuses to expose the editor pages without credentials (never starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app


def test_serve_refuses_a_public_bind_without_editor_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_EDITOR_PASSWORD", raising=False)
    monkeypatch.delenv("DIGEST_EDITOR_TOKEN", raising=False)
    config = tmp_path / "digest.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "digest.db"}"\n')
    result = CliRunner().invoke(app, ["--config", str(config), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve the editor pages on 0.0.0.0" in result.output
