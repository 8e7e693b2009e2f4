from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.delivery.memory import MemoryProvider
from digest.delivery.notify import NoticeError, notify_editors
from digest.delivery.provider import Outcome
from digest.jobs.pipeline import default_steps


def test_each_editor_gets_the_notice_in_the_outbox(tmp_path: Path) -> None:
    settings = load_settings(environ={"DIGEST_OUTBOX_DIR": str(tmp_path)})
    notify_editors(settings, ["ed@example.org", "chief@example.org"], "W47 was not sent", "Why.")
    mails = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted((tmp_path / "notices").glob("*.eml"))
    ]
    assert sorted(str(m["To"]) for m in mails) == ["chief@example.org", "ed@example.org"]
    assert all(str(m["Subject"]) == "W47 was not sent" for m in mails)
    body = mails[0].get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Why."


def test_a_refused_editor_is_named_in_the_error(tmp_path: Path) -> None:
    settings = load_settings(environ={"DIGEST_OUTBOX_DIR": str(tmp_path)})
    provider = MemoryProvider(outcomes={"chief@example.org": Outcome.FAILED})
    with pytest.raises(NoticeError, match=r"chief@example\.org"):
        notify_editors(settings, ["ed@example.org", "chief@example.org"], "S", "B", provider)


def test_the_notice_body_is_escaped_in_the_html_part(tmp_path: Path) -> None:
    settings = load_settings(environ={"DIGEST_OUTBOX_DIR": str(tmp_path)})
    provider = MemoryProvider()
    notify_editors(settings, ["ed@example.org"], "S", "<script>x</script>", provider)
    (call,) = provider.calls
    assert "<script>" not in call.message.html and "&lt;script&gt;" in call.message.html


def test_a_notice_offers_no_one_click_unsubscribe(tmp_path: Path) -> None:
    """Editors are on no list: a one-click header would POST to a page that refuses it."""
    settings = load_settings(environ={"DIGEST_OUTBOX_DIR": str(tmp_path)})
    notify_editors(settings, ["ed@example.org"], "W47 was not sent", "Why.")
    (path,) = (tmp_path / "notices").glob("*.eml")
    raw = path.read_bytes()
    assert b"List-Unsubscribe" not in raw


def test_the_scheduler_notifies_editors_through_this_function() -> None:
    assert default_steps().notify is notify_editors
