"""`digest init`: a publication's own folder, ready for `digest run` with no edits.

Everything is written into a temporary folder first and moved into place at the end, so a
failure leaves nothing half-written; nothing that exists is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path

from digest.audience.csvio import import_file
from digest.cli.settings_file import settings_toml
from digest.config import Settings
from digest.model import Signal
from digest.resources import bundled, example_signals
from digest.signals.ingest import load_signals
from digest.storage.db import open_database

CONFIG_MODE = 0o600
SUBSCRIBERS_CSV = "subscribers/subscribers.csv"
EXAMPLE_SUBSCRIBER = "reader@example.com"
# One example per input format, from the bundled week 2026-W47 (so `digest run` builds it).
EXAMPLE_PAGE = "pages/2026-w47-korea-chip-tax-credit.txt"
EXAMPLE_MARKDOWN = "markdown/2026-w47-eu-edge-ai-funding.md"
EXAMPLE_FOR_JSON = "markdown/2026-w47-smr-offtake.md"
EXAMPLE_FOR_FEED = "markdown/2026-w47-vietnam-osat-permits.md"
FEED_CATEGORY = "supply-chain"
TEMPLATES = ("layout.mjml.j2", "partials")


class ScaffoldError(Exception):
    """The folder cannot be created: the message says why; nothing was written."""


@dataclass(frozen=True)
class Scaffold:
    """What `digest init` created, for its report."""

    folder: Path
    files: list[str]


def create(folder: Path) -> Scaffold:
    """Create the publication folder `folder` (new, or an existing empty folder)."""
    _check_target(folder)
    parent = folder.parent if not folder.is_dir() else folder
    try:
        staging = Path(tempfile.mkdtemp(prefix=".digest-init-", dir=parent))
    except OSError as exc:
        raise ScaffoldError(f"cannot write in {parent}: {exc.strerror}") from None
    try:
        _write_all(staging)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        _move_into_place(staging, folder)
    except OSError as exc:
        raise ScaffoldError(f"cannot create {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Scaffold(folder, files)


def _check_target(folder: Path) -> None:
    if folder.is_symlink() and not folder.exists():
        raise ScaffoldError(f"{folder} is a broken symbolic link")
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder} is a file, not a folder: name a new folder")
    if folder.is_dir():
        inside = sorted(p.name for p in folder.iterdir())
        if inside:
            shown = ", ".join(inside[:5]) + (", …" if len(inside) > 5 else "")
            raise ScaffoldError(
                f"{folder} is not empty ({shown}): digest init never overwrites anything; "
                "name a new folder or move those files"
            )
    elif not folder.parent.is_dir():
        raise ScaffoldError(f"{folder.parent}: no such folder")


def _move_into_place(staging: Path, folder: Path) -> None:
    """A new folder is one rename; an existing empty one receives each top-level entry."""
    if not folder.exists():
        staging.chmod(0o777 & ~_umask())
        os.rename(staging, folder)
        return
    for entry in sorted(staging.iterdir()):
        target = folder / entry.name
        if target.exists():  # someone wrote there meanwhile
            raise ScaffoldError(f"{target} appeared while digest init ran: nothing was moved")
    for entry in sorted(staging.iterdir()):
        os.rename(entry, folder / entry.name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_all(root: Path) -> None:
    """The scaffold's files, in `root`; the database last (it imports the example audience)."""
    _write_config(root)
    _copy_templates(root / "templates")
    _write_signals(root / "signals")
    _write_subscribers(root / SUBSCRIBERS_CSV)
    (root / "NEXT-STEPS.md").write_text(NEXT_STEPS, encoding="utf-8")
    _create_database(root)


def scaffold_settings() -> dict[str, object]:
    """The settings the scaffold sets (all others stay commented at their defaults)."""
    return {
        "sources.paths": ["signals"],
        "sources.category_map": {FEED_CATEGORY: "Supply Chain"},
        "security.secret_keys": [secrets.token_urlsafe(32)],
    }


def _write_config(root: Path) -> None:
    text = settings_toml(
        scaffold_settings(),
        header="digest.toml: every setting with its default and what it does. A commented "
        "setting keeps its default (and follows upgrades); uncomment a line to change it. "
        "Environment variables (named beside a setting) override this file. This file holds "
        "the secret key that signs unsubscribe links: keep it private (mode 0600) and out of "
        "version control.",
    )
    fd = os.open(root / "digest.toml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, CONFIG_MODE)
    os.fchmod(fd, CONFIG_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _copy_templates(folder: Path) -> None:
    shipped = bundled("templates")
    folder.mkdir()
    for name in TEMPLATES:
        source = shipped / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy2(source, folder / name)
    (folder / "README.md").write_text(TEMPLATES_NOTE, encoding="utf-8")


def _write_signals(folder: Path) -> None:
    examples = example_signals()
    folder.mkdir()
    shutil.copy2(examples / EXAMPLE_PAGE, folder / "example-page.txt")
    shutil.copy2(examples / EXAMPLE_MARKDOWN, folder / "example-markdown.md")
    record = _example_signal(examples / EXAMPLE_FOR_JSON).to_json_dict()
    record.pop("source", None)  # set on import, from the file's own path
    record["id"] = "example-json"
    (folder / "example-record.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (folder / "example-feed.xml").write_text(
        _feed(_example_signal(examples / EXAMPLE_FOR_FEED)), encoding="utf-8"
    )


def _example_signal(path: Path) -> Signal:
    found, errors = load_signals([str(path)], Settings().sources)
    if errors or len(found) != 1:
        raise ScaffoldError(f"the bundled example {path.name} did not read: {errors}")
    return found[0]


def _feed(signal: Signal) -> str:
    """An RSS 2.0 feed with one entry: what a site's feed gives (title, summary, date, category,
    no member-only text), its category mapped to a market class by `sources.category_map`."""
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = "Example desk feed"
    ET.SubElement(channel, "link").text = "https://news.example.com/"
    ET.SubElement(channel, "description").text = "One entry, to show how feeds import."
    item = ET.SubElement(channel, "item")
    ET.SubElement(item, "title").text = signal.titles.get("en") or signal.title
    ET.SubElement(item, "description").text = " ".join(signal.summary.get("en", []))
    assert signal.published is not None  # every bundled example is dated
    when = dt.datetime.combine(signal.published, dt.time(9), tzinfo=dt.UTC)
    ET.SubElement(item, "pubDate").text = format_datetime(when)
    ET.SubElement(item, "category").text = FEED_CATEGORY
    ET.SubElement(item, "guid", isPermaLink="false").text = "example-feed-entry"
    ET.indent(rss)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, "unicode") + "\n"


def _write_subscribers(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(
        "email,name,tier,locale,timezone,interests\n"
        f"{EXAMPLE_SUBSCRIBER},Example Reader,open,en,Europe/London,\n",
        encoding="utf-8",
    )


def _create_database(root: Path) -> None:
    """`digest.db` with the example subscriber, so `digest run` has someone to send to (the
    main job imports an audience only on the bundled examples)."""
    engine = open_database(f"sqlite:///{root / 'digest.db'}")
    try:
        defaults = Settings()
        report = import_file(
            engine,
            root / SUBSCRIBERS_CSV,
            default_zone=defaults.publication.timezone,
            class_order=defaults.editions.class_order,
        )
        if not report.ok:
            raise ScaffoldError("the example subscriber did not import")
    finally:
        engine.dispose()  # closes the last connection: no -wal or -shm left to move


TEMPLATES_NOTE = """\
# Your templates

These are copies of digest's email layout (`layout.mjml.j2`) and its partials (`partials/`), for
restyling. digest looks for a template here first (when you run it in this folder, or set
`editions.templates_dir`), then uses its own bundled copy.

**Delete every file you leave untouched**: the bundled copy then applies, and you follow
upgrades of it. Keep only the files you change.
"""

NEXT_STEPS = f"""\
# Next steps

This folder is a digest publication. It runs as it is:

```sh
digest run
```

ingests `signals/`, builds the newest complete week into six editions in `out/` (open one in a
browser) and sends them through the outbox to the example subscriber: `.eml` files in `outbox/`.
Nothing leaves this machine.

What is here:

- `digest.toml`: every setting, commented, with its default. It holds a fresh secret key: keep
  the file private and out of version control.
- `signals/`: one example in each input format (a published page `.txt`, Markdown `.md`, a JSON
  record `.json`, an RSS feed `.xml`). Replace them with your own.
- `subscribers/subscribers.csv`: the CSV columns and one example row, already imported into
  `digest.db`. Remove the example (`digest subscribers remove {EXAMPLE_SUBSCRIBER}`) and import
  your audience (`digest subscribers import FILE`).
- `templates/`: the email layout and partials, to restyle. Delete the files you do not change.

Then follow the guide "From the demo to your first real send" (`docs/guide.md` in digest's
source, or the built documentation): your From domain (SPF, DKIM, DMARC), SendGrid,
`digest check`, the web app, the scheduler, backups (`digest backup FILE`).
"""
