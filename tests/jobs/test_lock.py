"""The SQLite scheduler lock file."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.jobs.lock import FileLock
from tests.conftest import mode


@pytest.mark.usefixtures("umask_022")
def test_the_lock_file_is_owner_only(tmp_path: Path) -> None:
    """Review finding: 0644 under umask 022, so any local user could open it and hold the
    flock, keeping every scheduler of this database a standby."""
    lock = FileLock(tmp_path / "digest.db.scheduler.lock")
    assert lock.try_acquire()
    lock.release()
    assert mode(tmp_path / "digest.db.scheduler.lock") == 0o600


def test_a_wider_lock_file_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "digest.db.scheduler.lock"
    path.write_text("")
    path.chmod(0o644)
    lock = FileLock(path)
    assert lock.try_acquire()
    lock.release()
    assert mode(path) == 0o600
