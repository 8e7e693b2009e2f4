from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from digest.config import Sources
from digest.model import Signal
from digest.signals.ingest import discover, ingest, load_signals
from digest.signals.store import StoreCounts, count_signals, get_signal

PAGE = """Lead sentence about grid balancing.
Signal Brief
- Signal: Grid operators sign balancing pact
- Market Class: Infrastructure
- Confidence: 0.8
- Published: 2026-11-17
"""
MARKDOWN = """---
title: Grid operators sign balancing pact
trend_context: Members see the cross-border angle.
---
Body paragraph.
"""


def make_tree(root: Path) -> Path:
    (root / "pages" / "deep").mkdir(parents=True)
    (root / "pages" / "deep" / "grid.txt").write_text(PAGE, encoding="utf-8")
    (root / "edits").mkdir()
    (root / "edits" / "grid.md").write_text(MARKDOWN, encoding="utf-8")
    (root / "notes.pdf").write_bytes(b"%PDF")
    return root


def test_folders_are_searched_recursively_by_extension(tmp_path: Path) -> None:
    found = list(discover([str(make_tree(tmp_path))]))
    assert sorted(Path(str(f)).name for f in found) == ["grid.md", "grid.txt"]


def test_missing_path_and_unknown_type_are_reported(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = list(discover([str(tmp_path / "nope"), str(tmp_path / "notes.pdf")]))
    assert [str(e).split(": ", 1)[1] for e in found] == [
        "no such file, folder or feed URL",
        "unknown file type '.pdf' (known: .txt, .json, .jsonl, .md, .markdown, .xml, .rss, .atom)",
    ]


def test_same_signal_from_two_sources_is_stored_once(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, [str(make_tree(tmp_path))], Sources())
    with engine.connect() as conn:
        assert count_signals(conn) == 1
        stored = get_signal(conn, _only_id(engine))
    assert stored is not None
    assert stored.market_class == "Infrastructure"
    assert stored.trend_context == "Members see the cross-border angle."


def _only_id(engine: Engine) -> str:
    from sqlalchemy import select

    from digest.storage.schema import signals

    with engine.connect() as conn:
        return str(conn.execute(select(signals.c.id)).scalar_one())


def test_a_bad_file_does_not_stop_the_others(engine: Engine, tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "broken.md").write_text("---\ntitle: T\nconfidence: 7\n---\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Signal Brief\n- Signal: Caf\xe9\n".encode("latin-1"))
    report = ingest(engine, [str(tmp_path)], Sources())
    messages = sorted(str(e) for e in report.errors)
    assert messages[0].startswith(f"{tmp_path / 'broken.md'}:3: field 'confidence'")
    assert messages[1].startswith(f"{tmp_path / 'latin1.txt'}:2: not UTF-8 text")
    with engine.connect() as conn:
        assert count_signals(conn) == 1


def test_a_source_with_a_bad_record_keeps_its_good_ones(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text('{"title": "A"}\n{"title": "B", "tier": "Z"}\n{"title": "C"}\n')
    report = ingest(engine, [str(path)], Sources())
    assert [e.line for e in report.errors] == [2]
    with engine.connect() as conn:
        assert count_signals(conn) == 2


def test_a_nul_character_costs_only_its_record(engine: Engine, tmp_path: Path) -> None:
    """Review finding: PostgreSQL cannot store U+0000, and one such character in one record
    refused its whole source ("database refused it"), every good record with it."""
    path = tmp_path / "batch.jsonl"
    path.write_text('{"title": "A"}\n{"title": "B\\u0000"}\n{"title": "C"}\n')
    report = ingest(engine, [str(path)], Sources())
    assert [(e.line, "NUL character" in e.reason) for e in report.errors] == [(2, True)]
    with engine.connect() as conn:
        assert count_signals(conn) == 2


def test_default_date_fills_only_undated_signals(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "s.jsonl"
    path.write_text('{"title": "A"}\n{"title": "B", "published": "2026-11-01"}\n')
    signals, _ = load_signals([str(path)], Sources(), dt.date(2026, 11, 20))
    assert [s.published for s in signals] == [dt.date(2026, 11, 20), dt.date(2026, 11, 1)]


def test_a_source_the_database_refuses_is_reported_and_the_rest_stored(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.signals.ingest as ingest_module
    from digest.signals.store import store_signals

    def refuse_title_a(conn: Connection, batch: list[Signal]) -> StoreCounts:
        if any(s.title == "A" for s in batch):
            raise DBAPIError("INSERT …", {}, Exception("value too long for type"))
        return store_signals(conn, batch)

    monkeypatch.setattr(ingest_module, "store_signals", refuse_title_a)
    (tmp_path / "a.jsonl").write_text('{"title": "A"}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"title": "B"}\n', encoding="utf-8")
    report = ingest(engine, [str(tmp_path)], Sources())
    assert [str(e) for e in report.errors] == [
        f"{tmp_path / 'a.jsonl'}: database refused it: value too long for type"
    ]
    with engine.connect() as conn:
        assert count_signals(conn) == 1


def test_sources_feed_max_bytes_caps_a_feed_file(tmp_path: Path) -> None:
    feed = tmp_path / "desk.rss"
    feed.write_bytes(b'<rss version="2.0"><channel><item><title>A</title></item></channel></rss>')
    _, small = load_signals([str(feed)], Sources(feed_max_bytes=20))
    signals, default = load_signals([str(feed)], Sources())
    assert [e.reason for e in small] == [
        "feed too large: more than 20 bytes (sources.feed_max_bytes)"
    ]
    assert (len(signals), default) == (1, [])
