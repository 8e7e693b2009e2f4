"""The prepared (encode-once) message that SMTP sends and the outbox writes, read raw and parsed."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest

from digest.delivery.mime import PreparedEdition
from digest.delivery.provider import personalize

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
CHINESE_SUBJECT = "本周情报：亚太市场与供应链风险的全面评估，以及对下一季度的影响"


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def head(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def as_sent(text: str) -> str:
    """`text` with line breaks as LF and a final one, as a text part always carries."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def decoded(data: bytes, name: str) -> str:
    """Header `name` unfolded and its encoded-words decoded as RFC 2047 says (adjacent words
    join with no space: the email package's address parser adds one, mail clients do not)."""
    unfolded = head(data).decode("utf-8").replace("\r\n ", " ").split("\r\n")
    (value,) = [line.split(": ", 1)[1] for line in unfolded if line.startswith(f"{name}: ")]
    return str(make_header(decode_header(value)))


def parts(message: EmailMessage) -> tuple[str, str]:
    """Both parts' text; line ends as LF (quoted-printable decodes to CRLF, base64 to LF)."""
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return tuple(p.get_content().replace("\r\n", "\n") for p in (text, html))  # type: ignore[return-value]


def test_the_bodies_decode_to_the_filled_parts(make_message: Any, sample: SimpleNamespace) -> None:
    message = make_message(html="<p>" + "x" * 300 + sample.NAME_HTML + "é" * 100 + "</p>" * 50)
    recipient = sample.recipient(5)
    data, _ = PreparedEdition(message).render(recipient)
    assert parts(parse(data)) == (
        as_sent(personalize(message.text, recipient.text_values)),
        as_sent(personalize(message.html, recipient.html_values)),
    )


def test_a_chinese_subject_is_encoded_words_of_at_most_75_characters(
    make_message: Any, sample: SimpleNamespace
) -> None:
    data, _ = PreparedEdition(make_message(subject=CHINESE_SUBJECT)).render(sample.recipient(1))
    words = ENCODED_WORD.findall(head(data))
    assert words and all(len(w) <= 75 for w in words)
    assert parse(data)["Subject"] == CHINESE_SUBJECT


def test_header_lines_with_encoded_words_are_at_most_76_characters(
    make_message: Any, sample: SimpleNamespace
) -> None:
    message = make_message(subject=CHINESE_SUBJECT, from_name="情报周刊编辑部" * 4)
    data, _ = PreparedEdition(message).render(sample.recipient(1, name="张伟" * 30))
    lines = [line for line in head(data).split(b"\r\n") if ENCODED_WORD.search(line)]
    assert len(lines) > 3 and all(len(line) <= 76 for line in lines)


def test_a_name_that_looks_like_an_encoded_word_reads_literally(
    make_message: Any, sample: SimpleNamespace
) -> None:
    data, _ = PreparedEdition(make_message()).render(sample.recipient(1, name="=?utf-8?q?Admin?="))
    assert b"To: =?utf-8?q?Admin?=" not in head(data)
    assert parse(data)["To"].addresses[0].display_name == "=?utf-8?q?Admin?="


def test_the_recipient_reads_as_given(make_message: Any, sample: SimpleNamespace) -> None:
    data, _ = PreparedEdition(make_message()).render(sample.recipient(5))
    assert [a.addr_spec for a in parse(data)["To"].addresses] == ["reader5@example.com"]
    assert decoded(data, "To") == (
        'Eve "Ops", <Ltd> Bcc: victim@evil.example [31m Zoë 名 <reader5@example.com>'
    )


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
