"""Public pages in-process: the archive of sent issues, its Atom feed, signal and class pages."""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from typing import Any
from urllib.parse import quote

import feedparser
from markupsafe import escape as markup_escape
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import select, update

from digest.issues.build import build
from digest.issues.render.view import signal_anchor
from digest.issues.store import load_accounting, load_editions
from digest.model import Signal
from digest.period import parse_period
from digest.scale import METER_STEPS, meter_filled
from digest.signals.store import get_signal, signals_between, store_signals
from digest.storage.schema import issues, signals
from tests.web.conftest import BASE, Site

INTERNAL_ID = "s-1688dde9e176e644"


def mark_sent(site: Site, period_key: str, when: dt.datetime) -> None:
    with site.engine.begin() as conn:
        conn.execute(
            update(issues)
            .where(issues.c.period_key == period_key)
            .values(status="sent", send_started_at=when, sent_at=when)
        )


def test_the_archive_is_empty_until_an_issue_is_sent(site: Site) -> None:
    assert "No issue has been sent yet" in site.client.get("/archive/").text


def test_an_unsent_issue_is_not_public(site: Site) -> None:
    assert site.client.get(f"/archive/{site.period.key}").status_code == 404
    assert site.client.get(f"/archive/{site.period.key}/edition/en").status_code == 404


def test_sent_issues_are_listed_newest_first(site: Site) -> None:
    older = parse_period("2026-W46")
    build(site.settings, older, engine=site.engine)
    mark_sent(site, older.key, dt.datetime(2026, 11, 16, tzinfo=dt.UTC))
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get("/archive/").text
    assert page.index(f"/archive/{site.period.key}") < page.index(f"/archive/{older.key}")


def test_a_sent_issue_has_its_page_with_the_open_edition(site: Site) -> None:
    """Issue #14 item 9: the edition on the page itself (no iframe), the email one link away."""
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/archive/{site.period.key}").text
    assert "<iframe" not in page
    assert f'href="/archive/{site.period.key}/edition/en"' in page
    edition = site.client.get(f"/archive/{site.period.key}/edition/en")
    assert edition.headers["x-frame-options"] == "SAMEORIGIN" and "%%" not in edition.text


def test_the_archive_never_shows_a_member_field(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    html = site.client.get(f"/archive/{site.period.key}/edition/en").text
    assert "Trend context" not in html and "Failure paths" not in html


def test_the_atom_feed_lists_sent_issues(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    answer = site.client.get("/archive/feed.atom")
    feed = feedparser.parse(answer.content)
    assert answer.headers["content-type"].startswith("application/atom+xml")
    assert [e.link for e in feed.entries] == [f"http://127.0.0.1:8000/archive/{site.period.key}"]


def public_signal(site: Site) -> Signal:
    """A publishable signal of the example week (its issue is built, not sent)."""
    with site.engine.connect() as conn:
        return next(
            s
            for s in signals_between(conn, site.period.start, site.period.end)
            if not s.internal and s.trend_context
        )


def mark_sending(site: Site, period_key: str) -> None:
    with site.engine.begin() as conn:
        conn.execute(
            update(issues)
            .where(issues.c.period_key == period_key)
            .values(status="sending", send_started_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
        )


def test_a_signal_page_shows_the_open_view_and_an_invitation(site: Site) -> None:
    mark_sending(site, site.period.key)
    signal = public_signal(site)
    page = site.client.get(f"/signals/{signal.id}").text
    assert "/join/strategy_circle" in page
    assert signal.trend_context is not None and signal.trend_context[:30] not in page


def test_a_signal_of_an_unsent_issue_is_not_public(site: Site) -> None:
    answer = site.client.get(f"/signals/{public_signal(site).id}")
    assert answer.status_code == 404 and "/join/strategy_circle" not in answer.text


def test_a_signal_becomes_public_when_its_issue_starts_sending(site: Site) -> None:
    mark_sending(site, site.period.key)
    assert site.client.get(f"/signals/{public_signal(site).id}").status_code == 200


def test_editors_see_signals_of_unsent_issues(editor: Site) -> None:
    assert editor.client.get(f"/signals/{public_signal(editor).id}").status_code == 200


def test_a_signal_of_a_week_without_an_issue_is_not_public(site: Site) -> None:
    mark_sending(site, site.period.key)
    later = Signal(id="next-week/1", title="Embargoed", published=site.period.end + dt.timedelta(1))
    with site.engine.begin() as conn:
        store_signals(conn, [later])
    assert site.client.get("/signals/next-week/1").status_code == 404


def test_the_class_page_is_public_once_sending_begins(site: Site) -> None:
    mark_sending(site, site.period.key)
    assert site.client.get(f"/issues/{site.period.key}?class=Supply+Chain").status_code == 200


def test_an_internal_signal_has_no_public_page(site: Site) -> None:
    mark_sending(site, site.period.key)
    assert site.client.get(f"/signals/{INTERNAL_ID}").status_code == 404


def test_the_class_page_of_an_unsent_issue_is_for_editors_only(site: Site) -> None:
    url = f"/issues/{site.period.key}?class=Policy+Track"
    assert site.client.get(url).status_code == 404
    site.client.login()
    assert "Policy Track" in site.client.get(url).text


def test_the_class_page_of_a_sent_issue_is_public(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/issues/{site.period.key}?class=Supply+Chain")
    assert page.status_code == 200 and "<h2>Supply Chain</h2>" in page.text


def test_the_chinese_class_page_names_its_class_in_chinese_in_title_and_heading(
    site: Site,
) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/issues/{site.period.key}?class=Policy+Track&lang=zh").text
    assert "<h2>政策动向</h2>" in page
    assert "：政策动向</h1>" in page and "Policy Track" not in page


def test_a_signal_page_escapes_hostile_text(site: Site) -> None:
    hostile = Signal(
        id="hostile/2",
        title="<script>alert(1)</script>",
        summary={"en": ['<img src=x onerror="alert(2)">']},
        published=site.period.start,
        market_class="Case File",
        tier="B/C",
    )
    with site.engine.begin() as conn:
        store_signals(conn, [hostile])
    site.client.login()  # stored after the build: only editors see it
    page = site.client.get("/signals/hostile%2F2").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<script>alert" not in page


HOSTILE_CLASS = '50% <img src=x onerror="alert(3)">'
"""A market class is signal text: markup in it is printed, and a `%` in it formats nothing."""


def store_hostile_class(site: Site) -> None:
    """A signal whose class is hostile, stored after the build (so editors only see it)."""
    signal = Signal(
        id="hostile/3", title="Odd class", published=site.period.start, market_class=HOSTILE_CLASS
    )
    with site.engine.begin() as conn:
        store_signals(conn, [signal])


def test_a_signal_page_escapes_a_hostile_market_class(editor: Site) -> None:
    store_hostile_class(editor)
    page = editor.client.get("/signals/hostile%2F3")
    assert page.status_code == 200
    assert str(markup_escape(HOSTILE_CLASS)) in page.text and "<img src=x" not in page.text


def test_the_class_page_escapes_a_hostile_market_class(editor: Site) -> None:
    store_hostile_class(editor)
    page = editor.client.get(f"/issues/{editor.period.key}")
    assert page.status_code == 200
    assert f"<h2>{markup_escape(HOSTILE_CLASS)!s}</h2>" in page.text
    assert "<img src=x" not in page.text


def store_late_signal(site: Site) -> Signal:
    """A signal dated inside the week but stored after its issue was built: in no email."""
    late = Signal(
        id="late/1", title="Embargoed late arrival", published=site.period.start, market_class="X"
    )
    with site.engine.begin() as conn:
        store_signals(conn, [late])
    return late


def test_a_signal_stored_after_its_issue_was_built_is_not_public(site: Site) -> None:
    mark_sending(site, site.period.key)
    store_late_signal(site)
    assert site.client.get("/signals/late/1").status_code == 404


def test_the_class_page_leaves_out_signals_stored_after_the_build(site: Site) -> None:
    mark_sending(site, site.period.key)
    store_late_signal(site)
    assert "Embargoed late arrival" not in site.client.get(f"/issues/{site.period.key}").text


def test_editors_see_signals_stored_after_the_build(editor: Site) -> None:
    mark_sending(editor, editor.period.key)
    store_late_signal(editor)
    assert editor.client.get("/signals/late/1").status_code == 200


# --- the edition as a page (issue #14) ------------------------------------------------------------


def open_edition(site: Site, lang: str = "en") -> Any:
    (edition,) = [
        e
        for e in load_editions(site.engine, site.period)
        if (e.tier, e.locale, e.interests) == ("open", lang, frozenset())
    ]
    return edition


def test_the_issue_page_is_titled_by_its_lead_in_full(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = HTMLParser(site.client.get(f"/archive/{site.period.key}").text)
    with site.engine.connect() as conn:
        lead = get_signal(conn, open_edition(site).signal_ids[0])
    assert lead is not None
    assert page.css_first("h1").text() == lead.titles.get("en", lead.title)


def test_the_issue_page_holds_the_open_editions_items_anchored_by_id(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = HTMLParser(site.client.get(f"/archive/{site.period.key}").text)
    ids = [str(node.attributes["id"]) for node in page.css("article.item")]
    assert ids == [signal_anchor(i) for i in open_edition(site).signal_ids]


def test_the_issue_page_never_shows_a_member_field(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/archive/{site.period.key}").text
    assert "Member analysis" not in page
    assert public_signal(site).trend_context[:30] not in page  # type: ignore[index]


def test_the_chinese_issue_page_is_the_chinese_edition(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/archive/{site.period.key}", headers={"accept-language": "zh-CN"})
    ids = [str(n.attributes["id"]) for n in HTMLParser(page.text).css("article.item")]
    assert '<html lang="zh-Hans">' in page.text
    assert ids == [signal_anchor(i) for i in open_edition(site, "zh").signal_ids]


def test_a_signal_page_shows_the_confidence_meter_not_a_letter_badge(site: Site) -> None:
    mark_sending(site, site.period.key)
    signal = public_signal(site)
    page = HTMLParser(site.client.get(f"/signals/{signal.id}").text)
    assert len(page.css(".meter .pip.on")) == meter_filled(signal.tier)
    assert len(page.css(".meter .pip")) == METER_STEPS
    assert f"tier {signal.tier}" not in page.text()


def test_the_class_page_keeps_the_order_the_build_froze(site: Site) -> None:
    accounting = load_accounting(site.engine, site.period)
    assert accounting is not None
    name, ids = next((n, i) for n, i in accounting.sections if len(i) >= 2)
    with site.engine.connect() as conn:
        by_id = {s.id: s for s in signals_between(conn, site.period.start, site.period.end)}
    first, last = by_id[ids[0]], by_id[ids[-1]]
    with site.engine.begin() as conn:  # re-rated after the build: regrouping would move it up
        store_signals(conn, [last.model_copy(update={"confidence": 0.99, "tier": None})])
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/issues/{site.period.key}?class={quote(name)}").text
    assert page.index(escape(first.title)) < page.index(escape(last.title))


def test_editors_see_signals_stored_after_the_build_on_the_class_page(editor: Site) -> None:
    store_late_signal(editor)
    assert "Embargoed late arrival" in editor.client.get(f"/issues/{editor.period.key}").text


def test_the_archived_email_s_view_in_browser_link_opens_a_page(site: Site) -> None:
    # A sample reader has no signed view link; the archive's copy pointed at `/issues`, which
    # no route serves.
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    email = site.client.get(f"/archive/{site.period.key}/edition/en").text
    (href,) = re.findall(r'<a href="([^"]+)"[^>]*>View in browser</a>', email)
    assert href == f"{BASE}/archive/{site.period.key}"
    assert site.client.get(href.removeprefix(BASE)).status_code == 200


def test_the_class_page_anchors_items_as_the_emails_link_to_them(site: Site) -> None:
    # Preview copies link members' items to `/issues/<period>#<signal_anchor(id)>`: an id that
    # is not URL-safe is hashed there, so the page must carry the same anchor.
    mark_sending(site, site.period.key)
    old, new = public_signal(site).id, "desk/2026 w47 #1"
    with site.engine.begin() as conn:  # grouped on the fly: no frozen accounting to rename in
        data = conn.execute(select(signals.c.data).where(signals.c.id == old)).scalar_one()
        moved = {**data, "id": new}
        conn.execute(update(signals).where(signals.c.id == old).values(id=new, data=moved))
        conn.execute(update(issues).values(accounting=None))
    page = HTMLParser(site.client.get(f"/issues/{site.period.key}").text)
    ids = [str(li.attributes.get("id")) for li in page.css("ul.signals > li")]
    assert signal_anchor(new) in ids and new not in ids


def test_the_class_page_of_a_sent_issue_keeps_the_sent_title_after_a_re_ingest(
    site: Site,
) -> None:
    signal_id = open_edition(site).signal_ids[0]
    with site.engine.begin() as conn:
        before = get_signal(conn, signal_id)
        assert before is not None
        store_signals(conn, [before.model_copy(update={"title": "Rewritten", "titles": {}})])
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    page = site.client.get(f"/issues/{site.period.key}").text
    assert escape(before.titles.get("en", before.title)) in page and "Rewritten" not in page
