"""Benchmark: import 100,000 subscribers from CSV, then stream 1,000,000 recipients.

Goals (issue 4): the import ≤ 5 s on SQLite; streaming the selection query with peak memory
≤ 100 MB above the interpreter's baseline. The streaming half runs in a fresh interpreter so its
peak RSS is not the generator's (which holds a million rows while it fills the database); it
reports both RSS growth (ru_maxrss) and the tracemalloc peak of the loop.

Run: python bench/bench_audience.py [--import-rows N] [--stream-rows N] [--url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import Engine

from digest.audience.csvio import driver_insert, import_file
from digest.audience.selection import grouped, select_recipients
from digest.audience.suppression import email_hash, installation_salt
from digest.storage.db import open_database

CLASSES = ["Case File", "Policy Track", "Supply Chain", "Capital Flows", "Infrastructure"]
TIERS = ["open", "Strategy Circle", "leadership_alliance", "Strategic Circle", ""]
ZONES = ["Europe/London", "Asia/Shanghai", "America/New_York", "Asia/Tokyo", ""]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example.co.uk"]


def _interests(rng: random.Random) -> list[str]:
    return rng.sample(CLASSES, rng.choice([0, 0, 0, 1, 2]))


def write_csv(path: Path, rows: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,tier,locale,timezone,interests\n")
        for n in range(rows):
            out.write(
                f"Reader.{n}@{DOMAINS[n % len(DOMAINS)]},Reader {n},{rng.choice(TIERS)},"
                f"{rng.choice(['en', 'zh', 'EN'])},{rng.choice(ZONES)},"
                f"{';'.join(_interests(rng))}\n"
            )


def fill(engine: Engine, rows: int, rng: random.Random) -> None:
    """Insert `rows` active subscribers directly (set-up for the streaming half, not timed)."""
    now = dt.datetime.now(dt.UTC)
    tiers = ["open", "strategy_circle", "leadership_alliance"]
    with engine.begin() as conn:
        salt = installation_salt(conn)
        for start in range(0, rows, 20_000):
            batch = []
            for n in range(start, min(rows, start + 20_000)):
                email = f"r{n}@example.com"
                batch.append(
                    {
                        "email": email,
                        "email_hash": email_hash(salt, email),
                        "name": f"Reader {n}",
                        "tier": rng.choice(tiers),
                        "locale": rng.choice(["en", "zh"]),
                        "timezone": "Europe/London",
                        "interests": ";".join(sorted(_interests(rng))),
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            driver_insert(conn, batch)


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start VmHWM (peak RSS) afresh, so the peak measured is the streaming loop's own."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _drain(url: str, market_classes: list[str]) -> tuple[int, int]:
    """Stream every recipient through the grouping, counting: nothing is kept."""
    engine = open_database(url)
    recipients = groups = 0
    with engine.connect() as conn:
        for _key, members in grouped(select_recipients(conn, market_classes=market_classes)):
            groups += 1
            recipients += sum(1 for _ in members)
    engine.dispose()
    return recipients, groups


def stream(url: str, market_classes: list[str]) -> None:
    """The streaming half, in its own interpreter: one timed pass, one under tracemalloc."""
    engine = open_database(url)
    with engine.connect() as conn:  # warm up: connection, dialect, first query compiled
        next(select_recipients(conn), None)
    engine.dispose()
    reset_peak_rss()
    baseline = _status_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    recipients, groups = _drain(url, market_classes)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    grown = _status_mb("VmHWM") - baseline
    tracemalloc.start()
    _drain(url, market_classes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"stream: {recipients:,} recipients in {groups} groups in {seconds:.2f} s wall, "
        f"{cpu:.2f} s CPU ({recipients / seconds:,.0f}/s); peak RSS +{grown:.1f} MB above a "
        f"{baseline:.1f} MB baseline; tracemalloc peak {peak / 2**20:.2f} MB (goal ≤ 100 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--stream-rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="Stream from this database instead of a SQLite file.")
    parser.add_argument("--stream-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_only:
        stream(args.stream_only, CLASSES)
        return
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "subscribers.csv"
        write_csv(csv_path, args.import_rows, rng)
        engine = open_database(f"sqlite:///{tmp}/import.db")
        start, cpu = time.perf_counter(), time.process_time()
        report = import_file(engine, csv_path, default_zone="Europe/London")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        engine.dispose()
        assert report.added == args.import_rows and not report.problems, report.summary()
        size = csv_path.stat().st_size / 2**20
        print(
            f"import: {args.import_rows:,} rows ({size:.1f} MB CSV) into SQLite in "
            f"{seconds:.2f} s wall, {cpu:.2f} s CPU ({args.import_rows / seconds:,.0f} rows/s; "
            "goal ≤ 5 s)"
        )

        url = args.url or f"sqlite:///{tmp}/stream.db"
        engine = open_database(url)
        start = time.perf_counter()
        fill(engine, args.stream_rows, rng)
        engine.dispose()
        setup = time.perf_counter() - start
        print(f"set-up: {args.stream_rows:,} subscribers inserted in {setup:.1f} s")
        subprocess.run([sys.executable, __file__, "--stream-only", url], check=True)


if __name__ == "__main__":
    main()
