"""The README is part of the product: these tests fail when it drifts from the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import typer.main

from digest.cli import app
from digest.config import ENV_OVERRIDES, documented_keys

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip() and not line.startswith("#")]


def test_quickstart_is_exactly_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "digest run" in commands[0]
    assert "pytest" in commands[1]
    assert "lint-imports" in commands[1]  # the layering is part of the test command


def test_ci_runs_the_readme_test_command_exactly() -> None:
    script = REPO / ".ci" / "run"
    extracted = subprocess.run(
        ["bash", "-c", re.search(r"TEST_COMMAND=\$\((.*)\)\n", script.read_text())[1]],  # type: ignore[index]
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == quickstart_commands()[1]


def test_every_setting_is_documented() -> None:
    missing = [key for key, _, _ in documented_keys() if f"`{key}`" not in README]
    assert missing == []


def test_every_environment_override_is_documented() -> None:
    assert [var for var in ENV_OVERRIDES if var not in README] == []


def test_every_command_is_documented() -> None:
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert [n for n in names if f"digest {n}" not in README] == []
