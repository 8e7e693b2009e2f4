"""Benchmark: parse + validate 10,000 generated signal pages, then store them in SQLite.

Goals (issue 2): parsing and validating ≤ 3 s on one core; storing ≤ 5 s on SQLite.
Run: python bench/bench_ingest.py [--pages N]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from digest.config import Sources
from digest.signals.ingest import ingest
from digest.signals.readers.pages import read_page
from digest.signals.store import store_signals
from digest.storage.db import open_database

SEED = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages" / "seed.txt"
).read_text(encoding="utf-8")
CLASSES = ["Case File", "Policy Track", "Supply Chain", "Capital Flows", "Infrastructure"]


def page(n: int, rng: random.Random) -> str:
    """The seed page with its own title, class, score and date, so each page is a new signal."""
    day = 1 + n % 28
    text = SEED.replace("- Signal: 美英签署AI安全测试备忘录", f"- Signal: Generated signal {n}")
    text = text.replace("- Market Class: Case File", f"- Market Class: {rng.choice(CLASSES)}")
    extra = f"- Confidence: {rng.random():.2f}\n- Published: 2026-11-{day:02d}\n"
    return text.replace("Operating Surface\n", extra + "Operating Surface\n", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(7)
    texts = [page(n, rng) for n in range(args.pages)]

    start = time.perf_counter()
    signals = [s for i, t in enumerate(texts) for s in read_page(f"gen/{i}.txt", t).signals]
    parse_s = time.perf_counter() - start
    assert len(signals) == args.pages

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{tmp}/bench.db")
        start = time.perf_counter()
        with engine.begin() as conn:
            store_signals(conn, signals)
        store_s = time.perf_counter() - start
        engine.dispose()

        folder = Path(tmp) / "pages"
        folder.mkdir()
        for i, text in enumerate(texts):
            (folder / f"{i:05d}.txt").write_text(text, encoding="utf-8")
        engine = open_database(f"sqlite:///{tmp}/cli.db")
        start = time.perf_counter()
        report = ingest(engine, [str(folder)], Sources())
        ingest_s = time.perf_counter() - start
        assert report.counts.new == args.pages and not report.errors
        engine.dispose()

    print(f"pages: {args.pages}")
    print(
        f"parse + validate: {parse_s:.2f} s ({parse_s / args.pages * 1e6:.0f} µs/page; goal ≤ 3 s)"
    )
    print(f"store on SQLite, one batch: {store_s:.2f} s (goal ≤ 5 s)")
    print(f"`digest ingest` of a folder of files (read, parse, store): {ingest_s:.2f} s")


if __name__ == "__main__":
    main()
