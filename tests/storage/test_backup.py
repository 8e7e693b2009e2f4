"""Backups of the SQLite database taken while digest writes, and restores that refuse a
database in use or a file that is not digest's."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

from digest.storage import schema
from digest.storage.backup import BackupError, backup, restore
from digest.storage.db import open_database

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


def _populate(engine: Engine, subscribers: int = 300) -> None:
    """An audience, some opt-outs and an issue whose ledger a writer can fill."""
    with engine.begin() as conn:
        conn.execute(
            insert(schema.subscribers),
            [
                {
                    "email": f"reader{i}@example.com",
                    "email_hash": f"{i:064x}",
                    "name": f"Reader {i}",
                    "tier": "open",
                    "locale": "en",
                    "timezone": "Europe/London",
                    "interests": "",
                    "status": "unsubscribed" if i % 10 == 0 else "active",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(1, subscribers + 1)
            ],
        )
        conn.execute(
            insert(schema.suppressions),
            [
                {"email_hash": f"{i:064x}", "reason": "unsubscribed", "created_at": NOW}
                for i in range(10, subscribers + 1, 10)
            ],
        )
        conn.execute(
            insert(schema.issues).values(
                id=1,
                period_key="2026-W47",
                period_start=dt.date(2026, 11, 16),
                period_end=dt.date(2026, 11, 22),
                status="sending",
                created_at=NOW,
            )
        )


# A send's ledger writes, from a process of its own: one committed row at a time, forever.
WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA busy_timeout=30000")
print("ready", flush=True)
i = 0
while True:
    i += 1
    conn.execute(
        "insert into deliveries (issue_id, subscriber_id, state, attempts, updated_at) "
        "values (1, ?, 'accepted', 1, '2026-11-23 07:00:00')",
        (i,),
    )
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Path]:
    """A populated database a separate process keeps writing ledger rows to."""
    db = tmp_path / "live.db"
    engine = open_database(f"sqlite:///{db}")
    _populate(engine)
    engine.dispose()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        yield db
    finally:
        writer.kill()
        writer.wait()


def _ledger_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return [r[0] for r in conn.execute("select id from deliveries order by id")]
    finally:
        conn.close()


def _wait_for_rows(db: Path, at_least: int) -> int:
    deadline = time.monotonic() + 30
    while (count := len(_ledger_ids(db))) < at_least:
        assert time.monotonic() < deadline, "the writer wrote nothing"
        time.sleep(0.01)
    return count


def test_a_backup_during_a_send_restores_every_row_present_when_it_began(
    live: Path, tmp_path: Path
) -> None:
    before = _wait_for_rows(live, 200)
    backup(live, tmp_path / "copy.db")
    after = len(_ledger_ids(live))
    restored = tmp_path / "restored" / "digest.db"
    restore(tmp_path / "copy.db", restored)

    engine = open_database(f"sqlite:///{restored}")  # opens and migrates
    with engine.connect() as conn:
        emails = conn.execute(select(schema.subscribers.c.email)).scalars().all()
        opt_outs = conn.execute(select(schema.suppressions.c.email_hash)).scalars().all()
        ids = conn.execute(select(schema.deliveries.c.id).order_by("id")).scalars().all()
        check = conn.execute(text("PRAGMA integrity_check")).scalar()
    engine.dispose()
    assert check == "ok"
    assert len(emails) == 300 and len(opt_outs) == 30
    # One snapshot: every row committed before the backup began, then a gapless run of rows
    # the writer committed meanwhile, never a row it had not finished.
    assert before <= len(ids) <= after
    assert ids == list(range(1, len(ids) + 1))


def test_a_backup_never_overwrites_a_file(live: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.db"
    target.write_text("someone's file")
    with pytest.raises(BackupError, match="exists"):
        backup(live, target)
    assert target.read_text() == "someone's file"


def test_a_backup_that_runs_out_of_disk_says_so_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    """A real write failure: the copying process may write no file above 64 KiB (RLIMIT_FSIZE,
    as a full disk fails SQLite's writes), on a database far larger."""
    db = tmp_path / "big.db"
    engine = open_database(f"sqlite:///{db}")
    _populate(engine, subscribers=3000)
    engine.dispose()
    out = tmp_path / "backups"
    out.mkdir()
    limited = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "from pathlib import Path\n"
        "from digest.storage.backup import BackupError, backup\n"
        "try:\n"
        "    backup(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "except BackupError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", limited, str(db), str(out / "copy.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "the disk is full or refused the write" in done.stdout, done.stderr
    assert "partial copy was removed" in done.stdout
    assert list(out.iterdir()) == []


def test_a_restore_refuses_a_database_another_process_has_open(live: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    backup(live, copy)
    with pytest.raises(BackupError, match="in use"):
        restore(copy, live)


def test_a_restore_goes_ahead_once_nobody_has_it_open(tmp_path: Path) -> None:
    db = tmp_path / "digest.db"
    engine = open_database(f"sqlite:///{db}")
    _populate(engine)
    engine.dispose()
    copy = tmp_path / "copy.db"
    backup(db, copy)
    done = restore(copy, db)
    assert done.counts["subscribers"] == 300
    assert done.replaced is not None and done.replaced.is_file()


def test_a_restore_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("not a database\n" * 20)
    with pytest.raises(BackupError, match="not a digest database"):
        restore(bogus, tmp_path / "digest.db")
    assert not (tmp_path / "digest.db").exists()


def test_a_restore_refuses_another_applications_database(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table notes (body text)")
    conn.commit()
    conn.close()
    with pytest.raises(BackupError, match="no alembic_version, install_meta"):
        restore(other, tmp_path / "digest.db")


def test_a_restore_refuses_a_schema_newer_than_this_digest(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    open_database(f"sqlite:///{db}").dispose()
    conn = sqlite3.connect(db)
    conn.execute("update alembic_version set version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(BackupError, match="unknown to this digest"):
        restore(db, tmp_path / "digest.db")
