"""Shared values for the provider tests: one edition and recipients with hostile names.

The tokens are the tests' own: providers treat placeholder tokens as opaque keys, so these
tests do not depend on the renderer's choice of tokens.
"""

from __future__ import annotations

import contextlib
import html
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from digest.delivery import EditionMessage, Recipient

NAME_HTML = "%%t_name_html%%"
NAME_TEXT = "%%t_name_text%%"
UNSUB_HTML = "%%t_unsub_html%%"
UNSUB_TEXT = "%%t_unsub_text%%"

HOSTILE_NAME = 'Eve "Ops", <Ltd>\r\nBcc: victim@evil.example\x00\x1b[31m Zoë 名'
HOSTILE_SUBJECT = "Weekly 47\r\nBcc: victim@evil.example\nX-Injected: yes\u2028é"
HOSTILE_FROM_NAME = "Signal\r\nX-Injected: from"

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]


@pytest.fixture
def make_message() -> MessageFactory:
    """An edition whose parts use every token, with a hostile subject and From name."""

    def make(**overrides: object) -> EditionMessage:
        fields: dict[str, object] = {
            "issue_id": 7,
            "edition_id": 21,
            "period_key": "2026-W47",
            "tier": "open",
            "locale": "en",
            "subject": HOSTILE_SUBJECT,
            "html": f'<p>Hello {NAME_HTML}</p><p><a href="{UNSUB_HTML}">Unsubscribe</a></p>',
            "text": f"Hello {NAME_TEXT}\n\nUnsubscribe: {UNSUB_TEXT}\n",
            "from_email": "digest@news.example.org",
            "from_name": HOSTILE_FROM_NAME,
            "reply_to": "editor@news.example.org",
            "categories": ("digest", "2026-W47", "tier:open"),
        }
        fields.update(overrides)
        return EditionMessage(**fields)  # type: ignore[arg-type]

    return make


def recipient(subscriber_id: int, name: str = HOSTILE_NAME) -> Recipient:
    """Recipient `subscriber_id` with a hostile name and its escaped placeholder values."""
    url = f"https://news.example.org/u/{subscriber_id}?t=abc&x=1"
    return Recipient(
        subscriber_id=subscriber_id,
        email=f"reader{subscriber_id}@example.com",
        name=name,
        html_values={
            NAME_HTML: html.escape(f"{name} #{subscriber_id}"),
            UNSUB_HTML: html.escape(url),
        },
        text_values={NAME_TEXT: " ".join(f"{name} #{subscriber_id}".split()), UNSUB_TEXT: url},
        unsubscribe_url=url,
    )


@pytest.fixture
def make_recipients() -> RecipientsFactory:
    """`count` recipients with ids from `start`."""

    def make(count: int, start: int = 1) -> list[Recipient]:
        return [recipient(i) for i in range(start, start + count)]

    return make


def free_port() -> int:
    """A TCP port nothing listens on right now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    """A free loopback port."""
    return free_port()


@pytest.fixture
def sample() -> SimpleNamespace:
    """The tokens and hostile values above, for assertions (test modules cannot import conftest)."""
    return SimpleNamespace(
        NAME_HTML=NAME_HTML,
        NAME_TEXT=NAME_TEXT,
        UNSUB_HTML=UNSUB_HTML,
        UNSUB_TEXT=UNSUB_TEXT,
        HOSTILE_NAME=HOSTILE_NAME,
        HOSTILE_SUBJECT=HOSTILE_SUBJECT,
        HOSTILE_FROM_NAME=HOSTILE_FROM_NAME,
        recipient=recipient,
    )


# --- the delivery ledger and the orchestrator: a seeded issue and audience ---------------------

SEND_PERIOD = "2026-W47"


def seed_issue(engine: object, period_key: str = SEND_PERIOD) -> int:
    """A frozen issue with one all-classes edition per tier × language, using every token.

    Written straight into the tables, so ledger and orchestrator tests need no build.
    """
    import datetime as dt

    from sqlalchemy import Engine, insert

    from digest.issues.render import placeholders as ph
    from digest.period import parse_period
    from digest.storage.schema import editions, issues

    assert isinstance(engine, Engine)
    period = parse_period(period_key)
    now = dt.datetime.now(dt.UTC)
    html = (
        f"<p>Hello {ph.NAME_HTML}</p><a href='{ph.UNSUBSCRIBE_URL_HTML}'>Unsubscribe</a>"
        f"<a href='{ph.PREFERENCES_URL_HTML}'>Preferences</a>"
    )
    text = f"Hello {ph.NAME_TEXT}\nUnsubscribe: {ph.UNSUBSCRIBE_URL_TEXT}\n"
    with engine.begin() as conn:
        issue_id = conn.execute(
            insert(issues)
            .values(
                period_key=period.key,
                period_start=period.start,
                period_end=period.end,
                status="awaiting_approval",
                created_at=now,
                built_at=now,
            )
            .returning(issues.c.id)
        ).scalar_one()
        for tier in ("open", "strategy_circle", "leadership_alliance"):
            for locale in ("en", "zh"):
                conn.execute(
                    insert(editions).values(
                        issue_id=issue_id,
                        tier=tier,
                        locale=locale,
                        interests_key="",
                        subject=f"Week 47 {tier} {locale}",
                        preheader="The week",
                        html=html,
                        text=text,
                        signal_ids=[],
                        checks=[],
                        created_at=now,
                    )
                )
    return int(issue_id)


def add_subscribers(
    engine: object, count: int, *, start: int = 1, tier: str = "open", locale: str = "en"
) -> list[int]:
    """`count` active subscribers reader{n}@example.com; their ids."""
    from sqlalchemy import Engine

    from digest.audience import store
    from digest.audience.model import Locale, Profile, Tier

    assert isinstance(engine, Engine)
    ids = []
    with engine.begin() as conn:
        for n in range(start, start + count):
            profile = Profile(f"reader{n}@example.com", f"Reader {n}", Tier(tier), Locale(locale))
            ids.append(store.add(conn, profile, "test")[1].id)
    return ids


def send_settings_for(db_url: str, outbox: object, **publication: str) -> object:
    from digest.config import Settings

    return Settings.model_validate(
        {
            "database": {"url": db_url},
            "publication": {
                "base_url": "https://news.example.org",
                "from_email": "digest@news.example.org",
                **publication,
            },
            "security": {"secret_keys": ["test-secret-key"]},
            "outbox": {"dir": str(outbox)},
        }
    )


@pytest.fixture
def seeded() -> SimpleNamespace:
    """The seeding helpers above (test modules cannot import conftest)."""
    return SimpleNamespace(
        issue=seed_issue,
        subscribers=add_subscribers,
        settings=send_settings_for,
        PERIOD=SEND_PERIOD,
    )


# --- a local HTTP server playing SendGrid's Mail Send ------------------------------------------


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and tolerates a connection it reset itself (`reset`)."""

    protocol_version = "HTTP/1.1"

    def reset(self) -> None:
        """Drop the connection with a TCP reset instead of answering: the answer is lost."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # `reset` closed the socket already
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(srv: ThreadingHTTPServer, release: threading.Event) -> Iterator[None]:
    """Serve `srv` on a thread; on exit, `release` what it stalls on and shut it down."""
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()
