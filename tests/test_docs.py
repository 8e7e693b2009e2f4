"""The documentation in docs/ is part of the product: these tests fail when it drifts from the
code. Each command and setting is its own test case, so a failure names exactly what is missing
(`test_every_command_is_documented[digest issue build]`)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main

from digest.cli import app
from digest.cli.settings_file import settings_toml, with_reference
from digest.config import ENV_OVERRIDES, documented_keys

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
GUIDE = DOCS / "guide.md"
CONFIGURATION = DOCS / "configuration.md"
NOT_RUN = "# not run by the docs test"
SERVICE = "# runs until stopped"


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def command_paths() -> list[str]:
    """`digest X` and `digest X Y` for every command and subcommand of the CLI."""

    def walk(command: click.Command, path: str) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield path
            return
        for name, sub in subcommands.items():
            yield from walk(sub, f"{path} {name}")

    return list(walk(typer.main.get_command(app), "digest"))


@pytest.mark.parametrize("command", command_paths())
def test_every_command_is_documented(command: str) -> None:
    found = re.search(rf"`{re.escape(command)}(?![\w-])", docs_text())
    assert found, f"`{command}` is in no page of docs/: add its row to docs/commands.md"


@pytest.mark.parametrize("key", [key for key, _, _ in documented_keys()])
def test_every_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in docs_text(), (
        f"setting `{key}` is in no page of docs/: run `python -m digest.cli.regenerate_docs`"
    )


@pytest.mark.parametrize("variable", list(ENV_OVERRIDES))
def test_every_environment_override_is_documented(variable: str) -> None:
    assert variable in docs_text(), f"{variable} is in no page of docs/"


def test_the_settings_reference_is_generated_from_the_declarations() -> None:
    page = CONFIGURATION.read_text(encoding="utf-8")
    assert page == with_reference(page), (
        "docs/configuration.md's settings table is stale: "
        "run `python -m digest.cli.regenerate_docs`"
    )


def test_every_page_is_in_the_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert [p.name for p in DOCS.glob("*.md") if f": {p.name}" not in nav] == []


# The guide, run: each ```sh line in order (`cd` and `export` kept between lines), each ```toml
# block applied to the scaffold's digest.toml, services started and checked to keep running.


def guide_blocks() -> list[tuple[str, str]]:
    """(language, body) of each fenced block of the guide, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)]


def _flat(table: dict[str, Any], known: set[str], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if dotted not in known and isinstance(value, dict):
            out.update(_flat(value, known, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def _apply_toml(config: Path, snippet: str) -> None:
    """Set the snippet's keys in `config`, as a reader editing it would (the rest kept)."""
    known = {key for key, _, _ in documented_keys()}
    merged = _flat(tomllib.loads(config.read_text(encoding="utf-8")), known)
    merged.update(_flat(tomllib.loads(snippet), known))
    config.write_text(settings_toml(merged), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_service(line: str, cwd: Path, env: dict[str, str]) -> None:
    """Start a long-running command, require it to keep running for a few seconds, stop it."""
    line = line.replace("--port 8000", f"--port {_free_port()}")  # the machine's 8000 may be taken
    service = subprocess.Popen(
        shlex.split(line), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(6)
        running = service.poll() is None
    finally:
        service.terminate()
        output, _ = service.communicate(timeout=30)
    assert running, f"{line!r} stopped at once:\n{output.decode(errors='replace')}"


def test_every_command_in_the_guide_runs_on_the_scaffold(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cwd, ran = tmp_path, 0
    for language, body in guide_blocks():
        if language == "toml":
            _apply_toml(cwd / "digest.toml", body)
            continue
        assert language == "sh", f"guide block of unknown language {language!r}"
        lines = body.splitlines()
        if lines[0].startswith(NOT_RUN):
            continue
        if lines[0].startswith(SERVICE):
            _check_service(lines[1], cwd, env)
            ran += 1
            continue
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            ran += 1
            if line.startswith("cd "):
                cwd = cwd / line[3:].strip()
                continue
            done = subprocess.run(
                line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, f"guide: {line!r} failed:\n{done.stdout}{done.stderr}"
    assert ran >= 20  # the guide's commands, not an empty page
    assert list((cwd / "outbox").rglob("*.eml"))
    assert (cwd / "backups" / "digest-first-week.db").is_file()
