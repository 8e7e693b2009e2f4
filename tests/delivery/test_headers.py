"""One recipient's message as a mail client parses it: structure, headers, and no injection."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from digest.delivery.headers import build_email, clean_header_text
from digest.delivery.provider import EditionMessage, Recipient

MessageFactory = Callable[..., EditionMessage]


def parsed(message: EditionMessage, recipient: Recipient) -> EmailMessage:
    """Serialize as SMTP would and parse back, as a mail client does."""
    raw = build_email(message, recipient).as_bytes(policy=policy.SMTP)
    result = message_from_bytes(raw, policy=policy.default)
    assert isinstance(result, EmailMessage)
    return result


def test_message_is_multipart_alternative_with_text_before_html(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert email.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in email.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_each_part_gets_its_own_personalized_values(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1, name="Ann & <Bo>"))
    text, html = (p.get_content() for p in email.iter_parts())
    assert "Hello Ann & <Bo> #1" in text
    assert "Hello Ann &amp; &lt;Bo&gt; #1" in html
    assert "%%" not in text + html


def test_one_click_unsubscribe_headers_are_set(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert email["List-Unsubscribe"] == "<https://news.example.org/u/1?t=abc&x=1>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_transactional_message_has_no_list_headers(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(transactional=True), sample.recipient(1))
    assert email["List-Unsubscribe"] is None and email["List-Unsubscribe-Post"] is None


def test_message_id_is_under_the_from_domain_and_date_is_set(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert email["Message-ID"].endswith("@news.example.org>")
    assert email["Date"].datetime is not None


def test_digest_ids_and_reply_to_are_set(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert (email["X-Digest-Issue"], email["X-Digest-Edition"]) == ("7", "21")
    assert email["Reply-To"] == "editor@news.example.org"


def test_hostile_names_and_subject_inject_no_header(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert email.get_all("Bcc") is None
    assert email.get_all("X-Injected") is None
    assert [a.addr_spec for a in email["To"].addresses] == ["reader1@example.com"]
    assert [a.addr_spec for a in email["From"].addresses] == ["digest@news.example.org"]


def test_hostile_values_survive_as_readable_text(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(), sample.recipient(1))
    assert email["Subject"] == "Weekly 47 Bcc: victim@evil.example X-Injected: yes é"
    assert email["To"].addresses[0].display_name.endswith("Zoë 名")


def test_test_sends_are_marked_in_the_subject(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    email = parsed(make_message(subject="Week 47", test=True), sample.recipient(1))
    assert email["Subject"] == "[TEST] Week 47"


@pytest.mark.parametrize(
    "url", ["https://x.example/u>\r\nBcc: a@b.c", "javascript:alert(1)", "https://x/ u", ""]
)
def test_an_unsafe_unsubscribe_url_is_refused(
    make_message: MessageFactory, sample: SimpleNamespace, url: str
) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError):
        build_email(make_message(), replace(sample.recipient(1), unsubscribe_url=url))


def test_an_address_with_line_breaks_is_refused(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    from dataclasses import replace

    bad = replace(sample.recipient(1), email="a@b.com\r\nBcc: c@d.com")
    with pytest.raises(ValueError):
        build_email(make_message(), bad)


def test_clean_header_text_turns_every_control_character_into_one_space() -> None:
    assert clean_header_text("a\r\n\tb\x00c\x7fd\u2028e\x85f") == "a b c d e f"
