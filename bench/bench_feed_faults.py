"""Figures: a large feed whose every entry carries an undefined HTML entity (`&nbsp;`).

Each entity is a warning located in its entry; locating them must stay linear in the feed's size
(one lookup walked every entry before, so a 10 MB feed of this kind took minutes). Prints, per
size: entries, bytes, seconds for feedparser alone, for the fault mapper, and for the importer as
a whole. Nothing is fetched.

Run: python bench/bench_feed_faults.py [ENTRIES ...]   (default: 5000 20000 80000)
"""

from __future__ import annotations

import sys
import time

from digest.signals.readers.feedfaults import faults
from digest.signals.readers.feeds import _parse, parse_feed


def feed(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://desk.example.com/{i}</link>"
        f"<guid>urn:desk:{i}</guid><description>Prices&nbsp;rise {i}</description></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        f"{items}</channel></rss>"
    ).encode()


def main(sizes: list[int]) -> None:
    print(f"{'entries':>8} {'bytes':>11} {'feedparser s':>13} {'faults s':>9} {'importer s':>11}")
    for entries in sizes:
        data = feed(entries)
        start = time.perf_counter()
        parsed_feed = _parse(data, None, None)
        parsed_at = time.perf_counter()
        found = faults(parsed_feed, data)
        faults_at = time.perf_counter()
        parsed = parse_feed("bench.xml", data, {})
        done = time.perf_counter()
        assert len(found) == entries and len(parsed.warnings) == entries
        print(
            f"{entries:>8} {len(data):>11,} {parsed_at - start:>13.2f} "
            f"{faults_at - parsed_at:>9.2f} {done - faults_at:>11.2f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [5000, 20000, 80000])
