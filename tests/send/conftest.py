"""Shared values for the provider tests: one edition and recipients with hostile names.

The tokens are the tests' own: providers treat placeholder tokens as opaque keys, so these
tests do not depend on the renderer's choice of tokens.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from digest.send import EditionMessage, Recipient

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
