"""`digest init`: a folder `digest run` works in with no edits, and refusals that write nothing."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app, scaffold
from digest.config import load_settings
from digest.strength import weak_secrets

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "SENDGRID_API_KEY", "DIGEST_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_run_works_in_the_new_folder_with_no_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["init", "mypub"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "mypub")
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "4 signals from 4 sources" in result.output  # one per input format, none failed
    assert len(list(Path("out").glob("*.html"))) == 6
    assert [p.name for p in Path("outbox").rglob("*.eml")] == ["1-1.eml"]


def test_the_config_is_private_and_its_fresh_key_strong_and_never_printed(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["init", "mypub"])
    config = tmp_path / "mypub" / "digest.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = load_settings(config, environ={})
    [key] = [k.get_secret_value() for k in settings.security.secret_keys]
    assert weak_secrets(settings) == []
    assert key not in result.output
    other = runner.invoke(app, ["init", "second"])
    assert (
        load_settings(tmp_path / "second" / "digest.toml", environ={})
        .security.secret_keys[0]
        .get_secret_value()
        != key
    ), other.output


def test_the_scaffold_holds_each_part_the_issue_lists(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "mypub"]).exit_code == 0
    made = _everything_under(tmp_path / "mypub")
    for name in (
        "NEXT-STEPS.md",
        "templates/layout.mjml.j2",
        "templates/partials/_footer.mjml.j2",
        "templates/README.md",
        "signals/example-page.txt",
        "signals/example-markdown.md",
        "signals/example-record.json",
        "signals/example-feed.xml",
        "subscribers/subscribers.csv",
    ):
        assert name in made
    csv = (tmp_path / "mypub" / "subscribers" / "subscribers.csv").read_text().splitlines()
    assert csv[0] == "email,name,tier,locale,timezone,interests" and len(csv) == 2
    note = (tmp_path / "mypub" / "templates" / "README.md").read_text()
    assert "Delete every file you leave untouched" in note


def test_an_existing_empty_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["init", "empty"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "digest.toml").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".digest-init")]


def test_a_non_empty_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "mypub").mkdir()
    (tmp_path / "mypub" / "digest.toml").write_text("# mine\n")
    result = runner.invoke(app, ["init", "mypub"])
    assert result.exit_code == 1
    assert "mypub is not empty (digest.toml)" in result.output
    assert _everything_under(tmp_path / "mypub") == ["digest.toml"]
    assert (tmp_path / "mypub" / "digest.toml").read_text() == "# mine\n"


def test_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    Path("notes.txt").write_text("mine")
    result = runner.invoke(app, ["init", "notes.txt"])
    assert result.exit_code == 1
    assert "notes.txt is a file, not a folder" in result.output
    assert _everything_under(tmp_path) == ["notes.txt"]


def test_a_read_only_folder_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """Root writes through any mode bits, so as root the folder is a read-only tmpfs mounted in
    a mount namespace of the command's own (`unshare -m`); otherwise mode 0555 does."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    init = [sys.executable, "-m", "digest", "init", str(folder / "mypub")]
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare(1): no way to make a folder read-only")
        mount = f"mount -t tmpfs -o ro,size=64k none {folder} && exec {shlex.join(init)}"
        command = ["unshare", "-m", "sh", "-c", mount]
        expected = "Read-only file system"
    else:
        folder.chmod(0o555)
        command, expected = init, "Permission denied"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    if os.geteuid() == 0 and "mount:" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stderr
    assert f"digest: cannot write in {folder}: {expected}" in done.stderr
    assert list(folder.iterdir()) == []


def test_a_failure_part_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(_root: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scaffold, "_create_database", full_disk)
    result = runner.invoke(app, ["init", "mypub"])
    assert result.exit_code == 1
    assert "cannot create mypub: No space left on device" in result.output
    assert _everything_under(tmp_path) == []


def test_the_config_sets_only_what_the_scaffold_needs(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "mypub"]).exit_code == 0
    data = tomllib.loads((tmp_path / "mypub" / "digest.toml").read_text())

    def leaves(table: dict[str, object], prefix: str = "") -> list[str]:
        found = []
        for key, value in table.items():
            if isinstance(value, dict) and key not in ("category_map",):
                found += leaves(value, f"{prefix}{key}.")
            else:
                found.append(f"{prefix}{key}")
        return found

    assert sorted(leaves(data)) == [
        "security.secret_keys",
        "sources.category_map",
        "sources.paths",
    ]
