"""One recipient's message as a mail client parses it: structure, headers, and no injection."""

from __future__ import annotations

import base64
from collections.abc import Callable
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from digest.delivery.headers import (
    clean_header_text,
    edition_headers,
    encoded_words,
    feedback_id_value,
    header_line,
    list_id_value,
    mailbox_line,
)
from digest.delivery.mime import PreparedEdition
from digest.delivery.provider import EditionMessage, Recipient
from digest.delivery.providers.sendgrid import base_body

MessageFactory = Callable[..., EditionMessage]


def parsed(message: EditionMessage, recipient: Recipient) -> EmailMessage:
    """Render as SMTP and the outbox do and parse back, as a mail client does."""
    raw, _ = PreparedEdition(message).render(recipient)
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
        PreparedEdition(make_message()).render(replace(sample.recipient(1), unsubscribe_url=url))


def test_an_address_with_line_breaks_is_refused(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    from dataclasses import replace

    bad = replace(sample.recipient(1), email="a@b.com\r\nBcc: c@d.com")
    with pytest.raises(ValueError):
        PreparedEdition(make_message()).render(bad)


def test_clean_header_text_turns_every_control_character_into_one_space() -> None:
    assert clean_header_text("a\r\n\tb\x00c\x7fd\u2028e\x85f") == "a b c d e f"


# --- RFC 2047: encoded-words of at most 75 characters, on lines of at most 76 (issue 11) ------

LONG_CHINESE = "本周情报：" + "亚太市场与供应链风险的全面评估" * 6


def test_encoded_words_are_at_most_75_characters_and_well_filled() -> None:
    words = encoded_words(LONG_CHINESE)
    assert len(words) > 1
    assert all(len(w) <= 75 for w in words)
    assert all(len(w) >= 70 for w in words[:-1])  # split only where the next character won't fit


@pytest.mark.parametrize("text", [LONG_CHINESE, "é" * 200, "Zoë 名" * 30, "a" * 300 + "é"])
def test_encoded_words_keep_whole_characters_and_decode_to_the_text(text: str) -> None:
    words = encoded_words(text)
    assert all(len(w) <= 75 for w in words)
    decoded = [base64.b64decode(w[10:-2]).decode("utf-8") for w in words]  # each on its own
    assert "".join(decoded) == text


@pytest.mark.parametrize("name", ["Subject", "X-A-Much-Longer-Header-Name"])
def test_a_header_line_with_encoded_words_is_at_most_76_characters(name: str) -> None:
    lines = header_line(name, LONG_CHINESE).split("\r\n")
    assert len(lines) > 1
    assert all(len(line) <= 76 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])  # continuation lines


def test_an_ascii_name_that_looks_encoded_is_encoded_so_it_reads_literally() -> None:
    line = mailbox_line("To", "a@example.com", "=?utf-8?q?Admin?=")
    parsed = message_from_bytes(f"{line}\r\n\r\n".encode(), policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "=?utf-8?q?Admin?="


def test_plain_ascii_is_written_as_is() -> None:
    assert header_line("Subject", "Week 47: markets") == "Subject: Week 47: markets"
    assert mailbox_line("To", "a@example.com", "Ann Lee") == "To: Ann Lee <a@example.com>"
    assert mailbox_line("To", "a@example.com", "Lee, Ann") == 'To: "Lee, Ann" <a@example.com>'


def _decoded(line: str) -> str:
    return str(make_header(decode_header(line.split(": ", 1)[1].replace("\r\n ", " "))))


@pytest.mark.parametrize(
    "text", ["[TEST] " + LONG_CHINESE, "Zoë and 名 week 47 é", "é  two spaces", " é", "=?x?= ok"]
)
def test_a_subject_decodes_to_exactly_its_text(text: str) -> None:
    assert _decoded(header_line("Subject", text)) == text


def test_plain_words_of_a_subject_stay_readable_in_the_raw_message() -> None:
    assert header_line("Subject", "[TEST] Week 47 本周").startswith("Subject: [TEST] Week 47 =?")


# --- the list's identity (issue 14) ---------------------------------------------------------------


def test_list_id_carries_a_plain_name_and_refuses_a_broken_id() -> None:
    assert list_id_value("Signal Weekly", "sw.example.org") == "Signal Weekly <sw.example.org>"
    assert list_id_value("信号周报", "sw.example.org") == "<sw.example.org>"
    assert list_id_value('Weekly "A", <B>', "sw.example.org") == "<sw.example.org>"
    with pytest.raises(ValueError):
        list_id_value("Weekly", "sw.example.org>\r\nBcc: x@evil.example")


def test_feedback_id_has_four_fields_whatever_they_hold() -> None:
    value = feedback_id_value("digest", "open", "2026-11-01..2026-11-30", "a:b c")
    assert value == "digest:open:2026-11-01..2026-11-30:a-b-c"
    assert value.count(":") == 3


def test_the_sendgrid_request_carries_the_lists_headers_and_reply_to_only_when_set(
    make_message: Callable[..., EditionMessage],
) -> None:
    body = base_body(make_message(list_id="<sw.example.org>", feedback_id="digest:open:w:sw"))
    assert body["headers"]["List-Id"] == "<sw.example.org>"
    assert body["headers"]["Feedback-ID"] == "digest:open:w:sw"
    assert body["reply_to"] == {"email": "editor@news.example.org"}
    bare = base_body(make_message(reply_to=None))
    assert "reply_to" not in bare and "List-Id" not in bare["headers"]


def test_a_transactional_message_names_no_list(make_message: Callable[..., EditionMessage]) -> None:
    message = make_message(list_id="<sw.example.org>", transactional=True)
    assert "List-Id" not in edition_headers(message)
