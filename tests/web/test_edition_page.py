"""A sent issue's pages show what was sent: `/view/<token>` and `/archive/<period>` render the
signals frozen with the issue, not the signal store a later re-ingest changes."""

from __future__ import annotations

import datetime as dt

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import delete, update

from digest.issues.render.view import signal_anchor
from digest.model import Signal
from digest.signals.store import get_signal, store_signals
from digest.storage.schema import issues, signals
from tests.web.conftest import Site
from tests.web.test_archive import mark_sent, open_edition
from tests.web.test_reader import edition_ids, view

REWRITTEN = "Rewritten after the send"
REWRITTEN_SUMMARY = "A summary rewritten after the send."


def sent(site: Site) -> None:
    mark_sent(site, site.period.key, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))


def reingest_changed(site: Site, signal_id: str) -> Signal:
    """The signal stored again with a new title and summary; returns it as it was sent."""
    with site.engine.begin() as conn:
        before = get_signal(conn, signal_id)
        assert before is not None
        changed = before.model_copy(
            update={"title": REWRITTEN, "titles": {}, "summary": {"en": [REWRITTEN_SUMMARY]}}
        )
        store_signals(conn, [changed])
    return before


def item_text(html: str, signal_id: str) -> str:
    item = HTMLParser(html).css_first(f'article[id="{signal_anchor(signal_id)}"]')
    assert item is not None, f"{signal_id} is not on the page"
    return item.text()


def archive_page(site: Site) -> str:
    return site.client.get(f"/archive/{site.period.key}").text


def test_a_view_keeps_the_sent_title_after_the_signal_is_re_ingested(site: Site) -> None:
    sent(site)
    signal_id = edition_ids(site, "leadership_alliance")[0]
    before = reingest_changed(site, signal_id)
    text = item_text(site.client.get(view(site, "leadership_alliance")).text, signal_id)
    assert before.titles.get("en", before.title) in text and REWRITTEN not in text


def test_a_view_keeps_the_sent_summary_after_the_signal_is_re_ingested(site: Site) -> None:
    sent(site)
    signal_id = edition_ids(site, "leadership_alliance")[0]
    before = reingest_changed(site, signal_id)
    text = item_text(site.client.get(view(site, "leadership_alliance")).text, signal_id)
    assert before.summary["en"][0][:40] in text and REWRITTEN_SUMMARY not in text


def test_the_archive_page_keeps_the_sent_text_after_the_signal_is_re_ingested(
    site: Site,
) -> None:
    sent(site)
    signal_id = open_edition(site).signal_ids[0]
    before = reingest_changed(site, signal_id)
    text = item_text(archive_page(site), signal_id)
    assert before.titles.get("en", before.title) in text
    assert before.summary["en"][0][:40] in text
    assert REWRITTEN not in text and REWRITTEN_SUMMARY not in text


def test_the_archive_page_keeps_its_sent_title_as_its_heading(site: Site) -> None:
    sent(site)
    lead = open_edition(site).signal_ids[0]
    before = reingest_changed(site, lead)
    heading = HTMLParser(archive_page(site)).css_first("h1").text()
    assert heading == before.titles.get("en", before.title)


def late_strong_signal(site: Site) -> Signal:
    """A signal dated in the sent week, stored after the freeze, stronger than any it holds."""
    first = open_edition(site).signal_ids[0]
    with site.engine.begin() as conn:
        lead = get_signal(conn, first)
        assert lead is not None
        late = Signal(
            id="late/after-freeze",
            title="Stored after the freeze",
            published=site.period.start,
            market_class=lead.market_class,
            confidence=0.99,
        )
        store_signals(conn, [late])
    return late


def test_a_signal_stored_after_the_freeze_is_not_on_the_view(site: Site) -> None:
    sent(site)
    late_strong_signal(site)
    page = site.client.get(view(site, "leadership_alliance")).text
    assert "Stored after the freeze" not in page
    assert signal_anchor("late/after-freeze") not in page


def test_a_signal_stored_after_the_freeze_is_not_on_the_archive_page(site: Site) -> None:
    sent(site)
    late_strong_signal(site)
    page = archive_page(site)
    assert "Stored after the freeze" not in page
    assert signal_anchor("late/after-freeze") not in page


def test_a_sent_item_removed_from_the_store_stays_on_the_view(site: Site) -> None:
    sent(site)
    signal_id = edition_ids(site, "strategy_circle")[0]
    with site.engine.begin() as conn:
        conn.execute(delete(signals).where(signals.c.id == signal_id))
    page = site.client.get(view(site, "strategy_circle")).text
    assert item_text(page, signal_id)


def test_an_issue_frozen_before_the_snapshot_shows_the_store_s_text(site: Site) -> None:
    # Issues frozen before `issues.signals` existed have no snapshot: their pages read the
    # signal store as it is now, as they always did.
    sent(site)
    with site.engine.begin() as conn:
        conn.execute(update(issues).values(signals=None))
    signal_id = open_edition(site).signal_ids[0]
    reingest_changed(site, signal_id)
    assert REWRITTEN in item_text(archive_page(site), signal_id)
