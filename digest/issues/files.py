"""Files that hold member-only text or secrets: owner-only, whatever the umask.

Built editions (`editions.out_dir`) carry member-only text and the outbox's `.eml` files carry
addresses and personal links, so under the common umask 022 they would be world-readable.
Here every file is written 0600 and every folder created 0700, set explicitly (a umask only
takes bits away). A folder that exists already keeps its mode: it may be the operator's own
(`digest build --out .`), and the files in it are 0600 regardless. A subscriber export
(every address) is opened 0600 the same way (`open_private`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TextIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """`path`, with each folder missing on the way to it created 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another process or worker
            continue
        os.chmod(folder, PRIVATE_DIR)
    return path


def write_private(target: Path, data: bytes) -> None:
    """Write `target` 0600: a temporary file beside it, renamed into place, so a crash never
    leaves half a file and an earlier copy's wider mode never survives."""
    private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_private(target: Path) -> TextIO:
    """`target` opened for writing UTF-8 text (CSV-ready: no newline translation), created 0600.

    An existing regular file is truncated and made 0600 too; anything else (`/dev/stdout`, a
    pipe) is written as it is, so an export can still go wherever the operator points it.
    """
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        with suppress(PermissionError):  # someone else's file: its owner decides
            os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")
