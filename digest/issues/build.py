"""The build workflow behind `digest build`, `digest preview` and the main job.

Collect the period (from files, or from the store only: no source is read), reuse the frozen
editions when there are some, else build, freeze (unless a check failed) and write the files.
Every step is a library call; the CLI only prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import orjson
from sqlalchemy import Engine

from digest.audience.model import interests_key
from digest.audience.selection import audience_interest_readers
from digest.config import Settings
from digest.issues import collect
from digest.issues.accounting import Accounting
from digest.issues.continuity import history
from digest.issues.editions import (
    ALL_CLASSES,
    Edition,
    Issue,
    build_issue,
    edition_files,
    manifest,
)
from digest.issues.files import private_dir, write_private
from digest.issues.render.i18n import translations
from digest.issues.render.placeholders import Recipient, personalize
from digest.issues.store import (
    FrozenError,
    add_editions,
    find_issue,
    freeze,
    issue_classes,
    issue_row,
    load_accounting,
    load_controls,
    stored_editions,
)
from digest.issues.store import load_editions as load_frozen
from digest.model import Signal
from digest.period import Period
from digest.signals.readers.base import SourceError
from digest.signals.store import ids_between

MANIFEST = "manifest.json"


@dataclass
class BuildResult:
    period: Period
    editions: list[Edition]
    out_dir: Path | None = None
    signals: list[Signal] = field(default_factory=list)  # the period's, internal ones included
    errors: list[SourceError] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    accounting: Accounting | None = None
    """Every signal of the period (shown where, merged, suggested merges, excluded)."""
    reused: bool = False
    frozen: bool = False

    @property
    def failed(self) -> bool:
        return any(e.failures for e in self.editions)

    def path(self, edition: Edition, kind: str = "html") -> Path:
        assert self.out_dir is not None
        return self.out_dir / edition_files(edition)[kind]


def preview_copy(edition: Edition, base_url: str, view_url: str | None = None) -> tuple[str, str]:
    """The edition as a sample reader gets it: the files are for looking at, so their
    placeholders are filled (the frozen editions in the database keep them for sending).

    A sample reader has no signed view link: "View in browser" and members' item links go to
    `view_url` (a page of the issue when the caller knows one, else the public archive)."""
    base = base_url.rstrip("/")
    reader = Recipient(
        name="",
        unsubscribe_url=f"{base}/unsubscribe?preview=1",
        preferences_url=f"{base}/preferences?preview=1",
        view_url=view_url or f"{base}/archive/",
    )
    fallback = translations(edition.locale).gettext("reader")
    return personalize(edition.html, edition.text, reader, fallback)


def write_editions(
    result: BuildResult, out_dir: Path, editions: Sequence[Edition], base_url: str
) -> Path:
    """Write each all-classes edition's HTML and text (filled for a sample reader) and a
    manifest listing every edition, interest-set ones included."""
    private_dir(out_dir)  # member-only text: files 0600, a new folder 0700
    for edition in editions:
        if edition.interests:  # per-interest-set editions live in the database only
            continue
        names = edition_files(edition)
        view_url = f"{base_url.rstrip('/')}/issues/{quote(result.period.key, safe='')}"
        html, text = preview_copy(edition, base_url, view_url)
        write_private(out_dir / names["html"], html.encode("utf-8"))
        write_private(out_dir / names["text"], text.encode("utf-8"))
    data = manifest(
        result.period,
        editions,
        duplicates=result.duplicates,
        internal_ids=[s.id for s in result.signals if s.internal],
        reused=result.reused,
        accounting=result.accounting,
    )
    path = out_dir / MANIFEST
    write_private(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    result.out_dir = out_dir
    return path


def build(
    settings: Settings,
    period: Period,
    *,
    engine: Engine | None = None,
    signal_paths: Sequence[str] | None = None,
    force: bool = False,
    store: bool = True,
) -> BuildResult:
    """Build a period's editions, or reuse the frozen ones.

    With `signal_paths` only those inputs are read and no database is touched. Otherwise the
    store (only: sources are ingest's) is collected and, when `store` is set and every check
    passed, the editions are frozen. `force` rebuilds frozen editions, unless sending began
    (FrozenError).
    """
    if signal_paths:
        found = collect.from_files(signal_paths, settings.sources, period)
        issue = build_issue(found.signals, settings, period)
        return BuildResult(
            period,
            issue.editions,
            signals=found.signals,
            errors=found.errors,
            duplicates=issue.grouped.duplicates,
            accounting=issue.accounting,
        )
    if engine is None:
        raise ValueError("build needs a database engine or signal paths")
    row = find_issue(engine, period)
    if force and row is not None and row.send_started_at is not None:
        raise FrozenError(f"{period.key}: sending has begun; its editions are final")
    found = collect.from_store(engine, period)
    stale = row is not None and row.stale_at is not None
    if not force and not stale:  # stale: an editor changed the controls since the freeze
        frozen = load_frozen(engine, period)
        if frozen:
            return _reused(engine, period, found, frozen)
    issue = _issue_from_store(
        settings,
        engine,
        period,
        found,
        audience_interest_readers(engine, _classes(engine, period, found)),
    )
    result = BuildResult(
        period,
        issue.editions,
        signals=found.signals,
        errors=found.errors,
        duplicates=issue.grouped.duplicates,
        accounting=issue.accounting,
    )
    if store and not issue.failed:
        result.frozen = freeze(engine, issue, force=force)
        if not result.frozen:  # another build froze this period first: theirs is the truth
            return _reused(engine, period, found, load_frozen(engine, period))
    return result


def _classes(engine: Engine, period: Period, found: collect.Collection) -> set[str]:
    """The market classes the issue can show: those of its publishable signals that no editor
    excluded. A reader who follows only classes left empty is then skipped at send, as one
    whose classes have no signal at all, instead of getting an edition with nothing in it."""
    excluded = load_controls(engine, period).excluded
    return {s.market_class for s in found.publishable if s.market_class and s.id not in excluded}


def _issue_from_store(
    settings: Settings,
    engine: Engine,
    period: Period,
    found: collect.Collection,
    readers: Mapping[frozenset[str], Collection[tuple[str, str]]],
) -> Issue:
    """An issue of stored signals, with the editor's controls and earlier readings applied:
    the all-classes editions, and each interest set's for the tiers and languages that read it."""
    with engine.connect() as conn:
        continuity = history(conn, found.publishable, period)
    return build_issue(
        found.signals,
        settings,
        period,
        [ALL_CLASSES, *readers],
        controls=load_controls(engine, period),
        continuity=continuity,
        readers=readers,
    )


def _reused(
    engine: Engine, period: Period, found: collect.Collection, frozen: list[Edition]
) -> BuildResult:
    """The frozen editions and the accounting frozen with them."""
    accounting = load_accounting(engine, period)
    return BuildResult(
        period,
        frozen,
        signals=found.signals,
        errors=found.errors,
        duplicates=dict(accounting.duplicates) if accounting else {},
        accounting=accounting,
        reused=True,
        frozen=True,
    )


def period_accounting(
    settings: Settings, engine: Engine, period: Period
) -> tuple[Accounting | None, bool]:
    """What happens to each signal of the period, and whether that is the frozen issue's.

    The frozen accounting when the issue is built and current; otherwise (no build yet, editions
    made stale by an editor's change since, or an issue frozen before accounting was recorded,
    until its sending begins) a trial build's with the controls as they are now, which freezes
    nothing. What `digest issue show` prints.
    """
    row = find_issue(engine, period)
    stale = row is not None and row.stale_at is not None and row.send_started_at is None
    frozen = None if stale else load_accounting(engine, period)
    if frozen is not None:
        return frozen, True
    try:
        result = build(settings, period, engine=engine, store=False, force=True)
    except FrozenError:  # sent before accounting existed: nothing honest to show
        return None, False
    return result.accounting, False


class EditionsUnavailable(Exception):
    """A send asked for a period's editions and they cannot be built (failing inbox checks), or
    they are stale (an editor changed the issue since they were built)."""


def stale_message(period: Period, since: dt.datetime) -> str:
    """What a send refusing stale editions says: the one command that fixes it."""
    return (
        f"{period.key}: the editions are stale: an editor changed the issue at "
        f"{since:%Y-%m-%d %H:%M} UTC, after they were built; run `digest build --period "
        f"{period.key}` to rebuild them, then send"
    )


def frozen_editions(
    settings: Settings, engine: Engine, period: Period
) -> tuple[int, list[Edition]]:
    """The period's frozen editions with ids, for a send; built and frozen first when there are
    none, plus an edition for each interest set that appeared since the build (rendered now).

    This is the build's job, done before a send hands its plan to the delivery core, which
    never builds.
    """
    row = find_issue(engine, period)
    with engine.connect() as conn:
        found = stored_editions(conn, row.id) if row is not None else []
    if row is not None and found and row.stale_at is not None and row.send_started_at is None:
        raise EditionsUnavailable(stale_message(period, row.stale_at))
    if row is not None and found:
        return row.id, _with_new_interest_sets(settings, engine, period, row.id, found)
    result = build(settings, period, engine=engine)
    if result.failed or not result.frozen:
        problems = "; ".join(
            f"{e.tier}.{e.locale}: {c.name}: {c.message}"
            for e in result.editions
            for c in e.failures
        )
        raise EditionsUnavailable(f"{period.key}: the editions fail the inbox checks ({problems})")
    row = find_issue(engine, period)
    assert row is not None  # just frozen
    with engine.connect() as conn:
        return row.id, stored_editions(conn, row.id)


def _with_new_interest_sets(
    settings: Settings, engine: Engine, period: Period, issue_id: int, found: list[Edition]
) -> list[Edition]:
    """The frozen editions plus any interest set that appeared since the build, rendered now.

    Without this, someone who chose some classes after the build would silently get the
    all-classes edition. New sets are rendered from the store's signals of the period that the
    build saw: one first stored after it is in no frozen edition (the editor is told so,
    `store.stored_since_build`), so it is in none made now either. The frozen editions
    themselves never change.
    """
    with engine.connect() as conn:
        classes = issue_classes(conn, found)
        row = issue_row(conn, period.key)
        built_at = row.built_at if row is not None else None
        late = (
            ids_between(conn, period.start, period.end, stored_after=built_at)
            if built_at
            else set()
        )
    have = {(e.interests_key, e.tier, e.locale) for e in found}
    missing = {
        interests: pairs
        for interests, pairs in audience_interest_readers(engine, classes).items()
        if interests and any((interests_key(interests), *pair) not in have for pair in pairs)
    }
    if not missing:
        return found
    stored = collect.from_store(engine, period)
    seen = [s for s in stored.signals if s.id not in late]
    issue = _issue_from_store(settings, engine, period, replace(stored, signals=seen), missing)
    new = [e for e in issue.editions if e.interests and not e.failures]
    add_editions(engine, period, new)  # a pair already frozen is kept as it is
    with engine.connect() as conn:
        return stored_editions(conn, issue_id)
