"""Owner-only files and folders, set exactly whatever the umask."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.issues.files import private_dir, write_private
from tests.conftest import mode, umask


@pytest.mark.usefixtures("umask_022")
def test_every_missing_folder_on_the_way_is_created_0700(tmp_path: Path) -> None:
    private_dir(tmp_path / "a" / "b")
    assert [mode(tmp_path / "a"), mode(tmp_path / "a" / "b")] == [0o700, 0o700]


@pytest.mark.usefixtures("umask_022")
def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir(mode=0o755)
    write_private(tmp_path / "mine" / "x.html", b"member-only")
    assert (mode(tmp_path / "mine"), mode(tmp_path / "mine" / "x.html")) == (0o755, 0o600)


def test_modes_are_exact_under_any_umask(tmp_path: Path) -> None:
    with umask(0o277):  # would leave even the owner without write access
        write_private(tmp_path / "new" / "x.eml", b"message")
    assert (mode(tmp_path / "new"), mode(tmp_path / "new" / "x.eml")) == (0o700, 0o600)


def test_rewriting_replaces_a_wider_earlier_copy(tmp_path: Path) -> None:
    target = tmp_path / "x.html"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"new")
    assert (target.read_bytes(), mode(target)) == (b"new", 0o600)
