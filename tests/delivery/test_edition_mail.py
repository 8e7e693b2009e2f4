"""The examples' week built, sent through the outbox, and read as each subscriber receives it:
headers of the list, their own tier's view link, and a text part that fits 76 columns."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import Engine

from digest.audience.tokens import LinkSigner, verify_view_token
from digest.config import Settings
from digest.delivery import OutboxProvider
from digest.delivery.run import send_period
from digest.issues.build import build
from digest.issues.render.subject import SUBJECT_COLUMNS
from digest.issues.render.widths import width
from digest.period import parse_period
from digest.resources import example_signals
from digest.signals.ingest import ingest

BASE = "https://news.example.org"
WEEK = parse_period("2026-W47")
KEYS = ["test-secret-key"]
READERS = {
    "open.en": ("open", "en"),
    "circle.en": ("strategy_circle", "en"),
    "alliance.zh": ("leadership_alliance", "zh"),
}


def send_examples(
    engine: Engine, settings: Settings, seeded: SimpleNamespace, outbox: Path
) -> dict[str, tuple[int, EmailMessage]]:
    """Build the bundled week, add one reader per entry of READERS, send; their messages."""
    ingest(engine, [str(example_signals())], settings.sources)
    assert build(settings, WEEK, engine=engine).frozen
    ids = {}
    for n, (who, (tier, locale)) in enumerate(READERS.items(), 1):
        (ids[who],) = seeded.subscribers(engine, 1, start=n, tier=tier, locale=locale)
    send_period(settings, engine, WEEK, OutboxProvider(outbox))
    by_id = {}
    for path in outbox.rglob("*.eml"):
        sid = int(path.stem.split("-")[1])
        by_id[sid] = message_from_bytes(path.read_bytes(), policy=policy.default)
    return {who: (sid, by_id[sid]) for who, sid in ids.items()}  # type: ignore[misc]


@pytest.fixture
def mailed(
    db_url: str, engine: Engine, tmp_path: Path, seeded: SimpleNamespace
) -> dict[str, tuple[int, EmailMessage]]:
    settings = seeded.settings(db_url, tmp_path / "outbox")
    return send_examples(engine, settings, seeded, tmp_path / "outbox")


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())


def test_every_copy_names_its_list_and_feedback_loop(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    for who, (_sid, message) in mailed.items():
        tier = READERS[who][0]
        assert message["List-Id"] == "Signal Weekly <signal-weekly.news.example.org>"
        assert message["Feedback-ID"] == f"digest:{tier}:2026-W47:signal-weekly"
        assert message["Reply-To"] is None  # not configured


def test_reply_to_and_its_invitation_come_with_the_setting(
    db_url: str, engine: Engine, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    settings = seeded.settings(db_url, tmp_path / "outbox", reply_to="editors@news.example.org")
    mailed = send_examples(engine, settings, seeded, tmp_path / "outbox")
    _sid, message = mailed["circle.en"]
    assert message["Reply-To"] == "editors@news.example.org"
    assert "Reply to this email to reach the editors" in part(message, "plain")


def test_subjects_fit_sixty_columns_in_the_readers_language(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    for who, (_sid, message) in mailed.items():
        subject = str(message["Subject"])
        assert 0 < width(subject) <= SUBJECT_COLUMNS, subject
        assert not subject.startswith("Signal Weekly")
        has_cjk = re.search(r"[\u4e00-\u9fff]", subject) is not None
        assert has_cjk == (READERS[who][1] == "zh"), subject


def links(message: EmailMessage) -> list[str]:
    tree = LexborHTMLParser(part(message, "html"))
    return [a.attributes.get("href") or "" for a in tree.css("a")]


def view_grant(url: str) -> Any:
    match = re.fullmatch(rf"{re.escape(BASE)}/view/([^#/?]+)(#[\w-]+)?", url)
    assert match, url
    return verify_view_token(KEYS, match.group(1))


def test_member_headlines_open_the_readers_own_tier_view(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    for who in ("circle.en", "alliance.zh"):
        sid, message = mailed[who]
        tier, locale = READERS[who]
        hrefs = links(message)
        assert not [u for u in hrefs if "/signals/" in u]
        items = [u for u in hrefs if "/view/" in u and "#" in u]
        assert len(items) >= 10
        for url in items:
            grant = view_grant(url)
            assert (grant.subscriber_id, grant.period_key, grant.tier, grant.locale) == (
                sid,
                "2026-W47",
                tier,
                locale,
            )
            assert LinkSigner(KEYS).binds(grant.claims, f"reader{sid}@example.com")
        assert len({u.split("#")[0] for u in items}) == 1  # one signed link, items by anchor


def test_open_headlines_stay_on_the_public_pages(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    _sid, message = mailed["open.en"]
    hrefs = links(message)
    assert len([u for u in hrefs if u.startswith(f"{BASE}/signals/")]) >= 10
    assert not [u for u in hrefs if "/view/" in u and "#" in u]


def test_the_text_part_offers_the_readers_view_and_a_subscribe_link(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    sid, message = mailed["open.en"]
    lines = part(message, "plain").splitlines()
    view = lines[lines.index("View in browser:") + 1]
    grant = view_grant(view)
    assert (grant.subscriber_id, grant.tier, grant.locale) == (sid, "open", "en")
    # In the reader's language (the web branch of issue 14: a page with no token reads ?lang=).
    assert lines[lines.index("Forwarded this? Subscribe:") + 1] == f"{BASE}/subscribe?lang=en"


def test_text_lines_fit_76_columns_but_for_a_lone_url(
    mailed: dict[str, tuple[int, EmailMessage]],
) -> None:
    for _sid, message in mailed.values():
        text = part(message, "plain")
        wide = [
            line
            for line in text.splitlines()
            if width(line) > 76 and not re.fullmatch(r"https?://\S+", line)
        ]
        assert wide == []
        assert "%%" not in text and "\r" not in text.replace("\r\n", "\n")
