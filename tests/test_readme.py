"""The README is part of the product: its Quickstart is what CI runs. (The reference it used to
hold moved to docs/, with its checks: tests/test_docs.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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
    assert "mkdocs build --strict" in commands[1]  # broken links and missing pages fail CI


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
