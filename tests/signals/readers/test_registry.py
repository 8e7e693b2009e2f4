from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.config import Sources
from digest.signals import readers
from digest.signals.ingest import discover, load_signals

SIGNALS_DOCS = Path(__file__).resolve().parents[3] / "docs" / "signals.md"


def readme_reader() -> str:
    """The example reader module docs/signals.md gives under "A new format is one new module"."""
    text = SIGNALS_DOCS.read_text(encoding="utf-8")
    after = text.split("**A new format is one new module**", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def extra_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder searched as part of the readers package, as if its modules were in it."""
    monkeypatch.setattr(readers, "__path__", [*readers.__path__, str(tmp_path)])
    readers.registry.cache_clear()
    yield tmp_path
    readers.registry.cache_clear()


def test_each_format_is_claimed_by_the_module_that_reads_it() -> None:
    claimed = {r.name: (r.extensions, r.schemes) for r in readers.registry().readers}
    assert claimed == {
        "pages": ((".txt",), ()),
        "json": ((".json",), ()),
        "jsonl": ((".jsonl",), ()),
        "markdown": ((".md", ".markdown"), ()),
        "feeds": ((".xml", ".rss", ".atom"), ("http", "https")),
    }


def test_urls_go_to_the_reader_of_their_scheme() -> None:
    found = readers.registry().reader_for("https://news.example.com/feed")
    assert found is not None and found.name == "feeds"


def test_a_new_format_is_one_new_module(extra_readers: Path, tmp_path: Path) -> None:
    """The docs example module, dropped into the package, is read with nothing else changed."""
    (extra_readers / "readme_titles.py").write_text(readme_reader(), encoding="utf-8")
    data = tmp_path / "in"
    data.mkdir()
    (data / "week.titles").write_text("Grid pact\n\nPort strike\n", encoding="utf-8")
    assert list(discover([str(data)])) == [str(data / "week.titles")]
    signals, errors = load_signals([str(data)], Sources())
    assert (errors, [s.title for s in signals]) == ([], ["Grid pact", "Port strike"])
