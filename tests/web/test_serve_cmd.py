"""`digest serve`: refuses to expose the editor pages without credentials or with weak secrets,
and on localhost with nothing configured serves them (the Quickstart's way)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from digest.cli import app
from digest.web.demo import free_socket


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


def serve_with(tmp_path: Path, env: dict[str, str]) -> Result:
    """`digest serve` on a port already taken: a serve that got past its checks fails fast."""
    config = tmp_path / "digest.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "digest.db"}"\n')
    with free_socket() as taken:
        taken.listen()
        port = str(taken.getsockname()[1])
        return CliRunner().invoke(app, ["--config", str(config), "serve", "--port", port], env=env)


def test_serve_refuses_a_weak_editor_password_even_on_localhost(tmp_path: Path) -> None:
    result = serve_with(tmp_path, {"DIGEST_EDITOR_PASSWORD": "a"})
    assert result.exit_code == 2
    assert "web.editor_password: shorter than 12 characters" in result.output
    assert "secrets.token_urlsafe(32)" in result.output


def test_serve_refuses_a_weak_secret_key(tmp_path: Path) -> None:
    result = serve_with(tmp_path, {"DIGEST_SECRET_KEY": "x"})
    assert result.exit_code == 2
    assert "security.secret_keys" in result.output and "32 random bytes" in result.output


def test_serve_behind_a_tls_proxy_without_trusted_proxies_warns(tmp_path: Path) -> None:
    """`digest serve` speaks plain HTTP, so an https base URL means a proxy in front; without
    web.trusted_proxies every client is that proxy, and five failed logins anywhere lock every
    editor out."""
    result = serve_with(tmp_path, {"DIGEST_BASE_URL": "https://news.example.com"})
    assert "web.trusted_proxies" in result.output and "every editor" in result.output


def test_serve_with_trusted_proxies_set_does_not_warn(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "digest.db"}"\n'
        '[web]\ntrusted_proxies = ["127.0.0.1"]\n'
    )
    with free_socket() as taken:
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(
            app,
            ["--config", str(config), "serve", "--port", port],
            env={"DIGEST_BASE_URL": "https://news.example.com"},
        )
    assert "serving on" in result.output and "trusted_proxies" not in result.output


def test_serve_on_localhost_with_nothing_configured_still_serves(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    config = tmp_path / "digest.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "digest.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    command = [sys.executable, "-m", "digest", "--config", str(config), "serve"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=tmp_path)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/editor/") == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(url: str, tries: int = 300) -> int:
    """The status of `url` once the server answers (it needs a few seconds to import)."""
    for _ in range(tries):
        try:
            return httpx.get(url, timeout=5).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")
