"""The prepared (encode-once) message equals `build_email`'s, as a mail client reads it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest

from digest.delivery.headers import build_email, serialize
from digest.delivery.mime import PreparedEdition

HEADERS = ("From", "Reply-To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post")


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    """Both parts' text; line ends as LF (quoted-printable decodes to CRLF, base64 to LF)."""
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return tuple(p.get_content().replace("\r\n", "\n") for p in (text, html))  # type: ignore[return-value]


@pytest.fixture
def pair(make_message: Any, sample: SimpleNamespace) -> tuple[EmailMessage, EmailMessage]:
    message = make_message(html="<p>" + "x" * 300 + sample.NAME_HTML + "é" * 100 + "</p>" * 50)
    recipient = sample.recipient(5)
    fast, _ = PreparedEdition(message).render(recipient)
    return parse(fast), parse(serialize(build_email(message, recipient)))


def test_the_bodies_decode_the_same(pair: tuple[EmailMessage, EmailMessage]) -> None:
    fast, reference = pair
    assert parts(fast) == parts(reference)


@pytest.mark.parametrize("name", HEADERS)
def test_the_headers_read_the_same(pair: tuple[EmailMessage, EmailMessage], name: str) -> None:
    fast, reference = pair
    assert str(fast[name]) == str(reference[name])


def test_the_recipient_reads_the_same(pair: tuple[EmailMessage, EmailMessage]) -> None:
    fast, reference = pair
    ((mine,), (theirs,)) = fast["To"].addresses, reference["To"].addresses
    assert mine.addr_spec == theirs.addr_spec
    # The email package's folding can put a space inside an encoded word's text; compare
    # the name without spaces.
    assert mine.display_name.replace(" ", "") == theirs.display_name.replace(" ", "")


def test_a_transactional_message_has_no_list_headers(make_message: Any, sample: Any) -> None:
    fast, _ = PreparedEdition(make_message(transactional=True)).render(sample.recipient(5))
    assert b"\r\nList-Unsubscribe" not in fast
    assert parse(fast)["X-Digest-Issue"] == "7"  # the rest of the header block is intact


def test_no_line_is_longer_than_the_rfc_allows(make_message: Any, sample: Any) -> None:
    message = make_message(text="y" * 5000 + sample.NAME_TEXT * 40)
    data, _ = PreparedEdition(message).render(sample.recipient(1, name="Z" * 500))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_a_hostile_name_cannot_add_a_header(make_message: Any, sample: Any) -> None:
    data, _ = PreparedEdition(make_message()).render(sample.recipient(1))
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Injected:" not in head


def test_an_unusable_unsubscribe_url_is_refused(make_message: Any, sample: Any) -> None:
    from dataclasses import replace

    bad = replace(sample.recipient(1), unsubscribe_url="https://x/u/1>\r\nBcc: a@b")
    with pytest.raises(ValueError):
        PreparedEdition(make_message()).render(bad)
