"""The outbox provider: one parseable `.eml` per recipient, named so re-sends replace."""

from __future__ import annotations

import re
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.delivery import OutboxProvider, Outcome
from digest.delivery.provider import EditionMessage, Recipient
from tests.conftest import mode

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]


def eml_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.eml"))


def test_one_file_per_recipient_under_the_period_folder(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    OutboxProvider(tmp_path).send(make_message(), make_recipients(3))
    names = [p.relative_to(tmp_path).as_posix() for p in eml_files(tmp_path)]
    assert names == ["2026-W47/21-1.eml", "2026-W47/21-2.eml", "2026-W47/21-3.eml"]


def test_every_recipient_is_accepted_with_its_message_id(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    results = OutboxProvider(tmp_path).send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert all(r.message_id and r.message_id.startswith("<") for r in results)


def test_files_parse_as_the_recipients_email(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    OutboxProvider(tmp_path).send(make_message(), make_recipients(1, start=5))
    email = message_from_bytes(
        (tmp_path / "2026-W47" / "21-5.eml").read_bytes(), policy=policy.default
    )
    assert email["To"].addresses[0].addr_spec == "reader5@example.com"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sending_again_replaces_instead_of_duplicating(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    provider = OutboxProvider(tmp_path)
    provider.send(make_message(), make_recipients(2))
    provider.send(make_message(), make_recipients(2))
    assert len(eml_files(tmp_path)) == 2
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_hostile_period_key_stays_inside_the_outbox(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    OutboxProvider(tmp_path / "box").send(make_message(period_key="../../etc"), make_recipients(1))
    (written,) = eml_files(tmp_path)
    assert written.parent.parent == tmp_path / "box"


def test_an_unusable_address_fails_only_that_recipient(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    from dataclasses import replace

    good, bad = make_recipients(2)
    bad = replace(bad, email="no-at-sign")
    results = OutboxProvider(tmp_path).send(make_message(), [good, bad])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FAILED]


def test_list_unsubscribe_is_written_as_a_plain_url_a_mail_client_can_use(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    (recipient,) = make_recipients(1)
    long_url = "https://news.example.org/u/" + "WzEsImZrREhZcTlEYk5RIl0" * 6 + ".sig"
    recipient = Recipient(
        recipient.subscriber_id,
        recipient.email,
        recipient.name,
        recipient.html_values,
        recipient.text_values,
        long_url,
    )
    OutboxProvider(tmp_path).send(make_message(), [recipient])
    raw = eml_files(tmp_path)[0].read_bytes()
    assert f"\r\nList-Unsubscribe: <{long_url}>\r\n".encode() in raw


def test_a_chinese_subject_is_written_as_encoded_words_of_at_most_75_characters(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    subject = "本周情报：亚太市场与供应链风险的全面评估，以及对下一季度的影响"
    OutboxProvider(tmp_path).send(make_message(subject=subject), make_recipients(1))
    raw = (tmp_path / "2026-W47" / "21-1.eml").read_bytes()
    words = re.findall(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=", raw.split(b"\r\n\r\n", 1)[0])
    assert words and max(len(w) for w in words) <= 75
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject


@pytest.mark.usefixtures("umask_022")
def test_messages_and_their_folders_are_owner_only(
    tmp_path: Path, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    root = tmp_path / "outbox"
    OutboxProvider(root).send(make_message(), make_recipients(2))
    assert [mode(root), mode(root / "2026-W47")] == [0o700, 0o700]
    assert {mode(p) for p in eml_files(root)} == {0o600}


def test_a_write_killed_half_way_is_not_delivered_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    provider = OutboxProvider(tmp_path / "box")
    folder = tmp_path / "box" / "2026-W47"
    folder.mkdir(parents=True)
    stray = folder / ".21-5.eml.abc123.tmp"
    stray.write_bytes(b"half a mess")
    assert provider.delivered("2026-W47", 21, 5) is False
    assert not stray.exists()


def test_a_written_file_proves_delivery(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "box")
    (tmp_path / "box" / "2026-W47").mkdir(parents=True)
    (tmp_path / "box" / "2026-W47" / "21-5.eml").write_bytes(b"From: a\r\n\r\nhello")
    assert provider.delivered("2026-W47", 21, 5) is True
