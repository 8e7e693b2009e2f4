"""Benchmark: the SMTP provider against an aiosmtpd sink in another process, vs the sink's ceiling.

The ceiling is a bare smtplib loop on one connection sending one prebuilt message (the same
edition, already personalized and serialized) over and over: the most the sink can take from a
Python client. The provider then sends the same edition to N distinct recipients, building and
personalizing each message itself, on one reused connection. Goal (issue 5): ≥ 80 % of the
ceiling. A third figure is the whole `send_period` (ledger on SQLite, claims, tokens) through
the provider.

Run: python bench/bench_smtp.py [--messages N]
"""

from __future__ import annotations

import argparse
import html
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

READY = "smtp sink ready"


class _Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _sink(port: int) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    print(READY, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _edition() -> Any:
    """The examples' week, Leadership Alliance in English: the largest edition."""
    from digest.config import Settings
    from digest.issues.build import build
    from digest.period import parse_period
    from digest.resources import example_signals

    settings = Settings()
    result = build(settings, parse_period("2026-W47"), signal_paths=[str(example_signals())])
    return next(e for e in result.editions if (e.tier, e.locale) == ("leadership_alliance", "en"))


def _message(edition: Any) -> Any:
    from digest.delivery import EditionMessage

    return EditionMessage(
        issue_id=1,
        edition_id=1,
        period_key="2026-W47",
        tier=edition.tier,
        locale=edition.locale,
        subject=edition.subject,
        html=edition.html,
        text=edition.text,
        from_email="digest@news.signal-weekly.net",
        from_name="Signal Weekly",
        reply_to=None,
        categories=(),
    )


def _recipient(n: int) -> Any:
    from digest.delivery import Recipient
    from digest.issues.render import placeholders as ph

    url = f"https://news.signal-weekly.net/u/token{n}"
    prefs = f"https://news.signal-weekly.net/p/token{n}"
    name = f"Reader {n}"
    return Recipient(
        n,
        f"reader{n}@example.com",
        name,
        {
            ph.NAME_HTML: html.escape(name),
            ph.UNSUBSCRIBE_URL_HTML: url,
            ph.PREFERENCES_URL_HTML: prefs,
        },
        {ph.NAME_TEXT: name, ph.UNSUBSCRIBE_URL_TEXT: url, ph.PREFERENCES_URL_TEXT: prefs},
        url,
    )


def ceiling(port: int, message: Any, count: int) -> float:
    from digest.delivery.mime import PreparedEdition

    data, _ = PreparedEdition(message).render(_recipient(0))
    with smtplib.SMTP("127.0.0.1", port) as client:
        start = time.perf_counter()
        for _ in range(count):
            client.sendmail("digest@news.signal-weekly.net", ["reader0@example.com"], data)
        return count / (time.perf_counter() - start)


def provider_rate(port: int, message: Any, count: int) -> float:
    from digest.delivery.providers.smtp import SmtpProvider

    provider = SmtpProvider(f"smtp://127.0.0.1:{port}")
    recipients = [_recipient(n) for n in range(1, count + 1)]
    start = time.perf_counter()
    for i in range(0, count, 1000):
        results = provider.send(message, recipients[i : i + 1000])
        assert all(r.outcome.value == "accepted" for r in results), results[:3]
    rate = count / (time.perf_counter() - start)
    provider.close()
    return rate


def full_send_rate(port: int, count: int) -> tuple[float, int]:
    """`send_period` end to end: ledger, claims, signed links, the SMTP provider."""
    from digest.audience.csvio import driver_insert
    from digest.audience.suppression import email_hash, installation_salt
    from digest.config import Settings
    from digest.delivery.providers.smtp import SmtpProvider
    from digest.delivery.run import send_period
    from digest.issues.build import build
    from digest.period import parse_period
    from digest.resources import example_signals
    from digest.signals.ingest import ingest
    from digest.storage.db import open_database

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'smtp.db'}"
        settings = Settings.model_validate(
            {
                "database": {"url": url},
                "publication": {
                    "base_url": "https://news.signal-weekly.net",
                    "from_email": "digest@news.signal-weekly.net",
                },
                "security": {"secret_keys": ["bench"]},
            }
        )
        engine = open_database(url)
        ingest(engine, [str(example_signals())], settings.sources)
        period = parse_period("2026-W47")
        build(settings, period, engine=engine)
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            salt = installation_salt(conn)
            driver_insert(
                conn,
                [
                    {
                        "email": f"reader{n}@example.com",
                        "email_hash": email_hash(salt, f"reader{n}@example.com"),
                        "name": f"Reader {n}",
                        "tier": "leadership_alliance",
                        "locale": "en",
                        "timezone": "UTC",
                        "interests": "",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(count)
                ],
            )
        start = time.perf_counter()
        report = send_period(settings, engine, period, SmtpProvider(f"smtp://127.0.0.1:{port}"))
        rate = count / (time.perf_counter() - start)
        engine.dispose()
        return rate, report.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        _sink(args.sink)
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == READY
        message = _message(_edition())
        size = len(message.html.encode()) + len(message.text.encode())
        ceiling(port, message, 200)  # warm up both ends
        top = ceiling(port, message, args.messages)
        mine = provider_rate(port, message, args.messages)
        full, accepted = full_send_rate(port, args.messages)
        print(
            f"smtp: message ~{size / 1000:.0f} KB; sink ceiling (bare smtplib, one prebuilt "
            f"message) {top:,.0f} msg/s; SmtpProvider {mine:,.0f} msg/s = {mine / top:.0%} of "
            f"the ceiling (goal ≥ 80 %); whole send_period with the ledger {full:,.0f} msg/s "
            f"= {full / top:.0%} ({accepted:,} accepted)"
        )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
