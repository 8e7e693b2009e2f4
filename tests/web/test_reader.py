"""`/view/<token>`: a paid reader's own tier edition on the web, in-process."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import delete, select, update

from digest.audience.tokens import LinkSigner
from digest.issues import controls_store
from digest.issues.build import build
from digest.issues.render.view import signal_anchor
from digest.issues.store import load_editions
from digest.signals.store import get_signal
from digest.storage.schema import editions, signals, subscribers
from digest.web.demo import DEMO_KEY
from tests.web.conftest import Site


def reader(site: Site) -> tuple[int, str]:
    """The first subscriber: (id, address), what a view link is minted for."""
    with site.engine.connect() as conn:
        row = conn.execute(
            select(subscribers.c.id, subscribers.c.email).order_by(subscribers.c.id).limit(1)
        ).one()
    return int(row.id), str(row.email)


def reader_id(site: Site) -> int:
    return reader(site)[0]


def token(keys: list[str], who: tuple[int, str], period_key: str, tier: str, lang: str) -> str:
    return LinkSigner(keys).sign_view(who[0], who[1], period_key, tier, lang)


def view(site: Site, tier: str, lang: str = "en") -> str:
    return f"/view/{token([DEMO_KEY], reader(site), site.period.key, tier, lang)}"


def edition_ids(site: Site, tier: str, lang: str = "en") -> list[str]:
    (edition,) = [
        e
        for e in load_editions(site.engine, site.period)
        if (e.tier, e.locale, e.interests) == (tier, lang, frozenset())
    ]
    return edition.signal_ids


def anchored_items(html: str) -> list[str]:
    return [str(node.attributes["id"]) for node in HTMLParser(html).css("article.item")]


def test_the_view_holds_every_item_of_the_email_each_anchored_by_its_id(site: Site) -> None:
    page = site.client.get(view(site, "leadership_alliance"))
    assert page.status_code == 200
    expected = [signal_anchor(i) for i in edition_ids(site, "leadership_alliance")]
    assert anchored_items(page.text) == expected


def test_a_leadership_alliance_reader_sees_their_member_analysis(site: Site) -> None:
    page = site.client.get(view(site, "leadership_alliance")).text
    with site.engine.connect() as conn:
        signals = [get_signal(conn, i) for i in edition_ids(site, "leadership_alliance")]
    rich = next(s for s in signals if s is not None and s.failure_paths)
    item = HTMLParser(page).css_first(f'article[id="{rich.id}"]')
    assert item is not None and "Failure paths" in item.text()
    assert rich.failure_paths.split("\n")[0].strip()[:40] in item.text()


def test_a_strategy_circle_view_holds_no_leadership_alliance_field(site: Site) -> None:
    page = site.client.get(view(site, "strategy_circle")).text
    with site.engine.connect() as conn:
        signals = [get_signal(conn, i) for i in edition_ids(site, "strategy_circle")]
    assert "Trend context" in page
    for signal in signals:
        assert signal is not None
        for text in (signal.failure_paths, signal.source_notes, signal.relationship_evidence):
            assert not text or text.split("\n")[0].strip()[:40] not in page


def test_the_view_speaks_the_language_the_email_was_sent_in(site: Site) -> None:
    page = site.client.get(view(site, "strategy_circle", "zh")).text
    assert re.search(r'<html lang="zh-Hans">', page)
    assert "会员分析" in page


def test_a_chinese_view_names_its_sections_in_chinese(site: Site) -> None:
    page = site.client.get(view(site, "strategy_circle", "zh")).text
    headings = [h.text().rsplit(" ", 1)[0] for h in HTMLParser(page).css("section h2")]
    assert "政策动向" in headings and "供应链" in headings
    assert not {"Policy Track", "Supply Chain"} & set(headings)


def test_the_view_is_kept_out_of_search_engines(site: Site) -> None:
    assert (
        site.client.get(view(site, "strategy_circle")).headers["x-robots-tag"].startswith("noindex")
    )


def test_a_forged_view_link_is_refused_with_403(site: Site) -> None:
    forged = token(["not-our-key"], reader(site), site.period.key, "open", "en")
    page = site.client.get(f"/view/{forged}")
    assert page.status_code == 403 and "This link is not valid" in page.text
    assert "article" not in page.text


def test_a_link_cut_short_in_a_mail_client_is_refused_with_403(site: Site) -> None:
    assert site.client.get(view(site, "strategy_circle")[:-6]).status_code == 403


def test_the_view_of_a_forgotten_reader_is_gone(site: Site) -> None:
    who = reader(site)
    with site.engine.begin() as conn:
        conn.execute(delete(subscribers).where(subscribers.c.id == who[0]))
    link = token([DEMO_KEY], who, site.period.key, "leadership_alliance", "en")
    page = site.client.get(f"/view/{link}")
    assert page.status_code == 410 and "no longer available" in page.text


def test_the_view_of_a_period_never_built_is_gone(site: Site) -> None:
    link = token([DEMO_KEY], reader(site), "2020-W01", "strategy_circle", "en")
    assert site.client.get(f"/view/{link}").status_code == 410


def test_hostile_signal_text_stays_inert_on_the_view(site: Site) -> None:
    page = site.client.get(view(site, "leadership_alliance")).text
    assert "evaluated {{ 7*7 }} and &lt;b&gt; tags" in page
    assert "<b> tags" not in page and "evaluated 49" not in page


def test_an_item_whose_id_is_not_url_safe_has_the_anchor_the_email_links_to(site: Site) -> None:
    # Emails link to `%%view_url_html%%#<signal_anchor(id)>`: an id that is not URL-safe is
    # hashed there, so the page must carry the same anchor, not the raw id.
    old, new = edition_ids(site, "leadership_alliance")[0], "desk/2026 w47 #1"
    with site.engine.begin() as conn:
        data = conn.execute(select(signals.c.data).where(signals.c.id == old)).scalar_one()
        moved = {**data, "id": new}
        conn.execute(update(signals).where(signals.c.id == old).values(id=new, data=moved))
        for row in conn.execute(select(editions.c.id, editions.c.signal_ids)).all():
            ids = [new if i == old else i for i in row.signal_ids]
            conn.execute(update(editions).where(editions.c.id == row.id).values(signal_ids=ids))
    page = site.client.get(view(site, "leadership_alliance")).text
    assert anchored_items(page)[0] == signal_anchor(new) != new


def test_a_paid_view_holds_no_unfilled_placeholder(site: Site) -> None:
    # A paid tier's items link to `%%view_url_html%%#…`, which only the sender fills: on the
    # page it was once printed as a "Source" link that went nowhere.
    for tier in ("strategy_circle", "leadership_alliance"):
        page = site.client.get(view(site, tier)).text
        assert "%%" not in page


def lead_rebuilt(site: Site, signal_id: str) -> None:
    """The editor picks `signal_id` as the lead and the issue is rebuilt (it was stale)."""
    controls_store.set_lead(site.engine, site.period, signal_id, by="test")
    assert build(site.settings, site.period, engine=site.engine).frozen


def test_the_view_is_titled_by_the_editor_s_lead(site: Site) -> None:
    lead = edition_ids(site, "leadership_alliance")[-1]  # on the radar until picked
    lead_rebuilt(site, lead)
    page = HTMLParser(site.client.get(view(site, "leadership_alliance")).text)
    headline = page.css_first(f'article[id="{signal_anchor(lead)}"] h3')
    assert headline is not None and page.css_first("h1").text() == headline.text()


def test_the_editor_s_lead_is_shown_in_its_section_as_in_the_email(site: Site) -> None:
    lead = edition_ids(site, "leadership_alliance")[-1]
    lead_rebuilt(site, lead)
    page = HTMLParser(site.client.get(view(site, "leadership_alliance")).text)
    (section,) = [s for s in page.css("section") if s.css_first(f'[id="{signal_anchor(lead)}"]')]
    assert "On the radar" not in section.css_first("h2").text()


def test_compact_items_are_on_the_radar_not_under_a_second_class_heading(site: Site) -> None:
    page = HTMLParser(site.client.get(view(site, "strategy_circle")).text)
    headings = [h.text().rsplit(" ", 1)[0].strip() for h in page.css("section > h2")]
    assert len(headings) == len(set(headings)) and headings[-1] == "On the radar"


def test_a_chinese_view_names_classes_as_the_chinese_email_does(site: Site) -> None:
    page = HTMLParser(site.client.get(view(site, "strategy_circle", "zh")).text)
    headings = [h.text() for h in page.css("section > h2")]
    assert any(h.startswith("政策动向") for h in headings)
    assert not any(h.startswith("Policy Track") for h in headings)


def test_a_merged_story_shows_the_member_text_of_the_record_merged_into_it(site: Site) -> None:
    # The build fills a story's empty fields from its other records (group.filled_from): the
    # email shows the dropped record's failure paths, so the reader's view must too.
    ids = edition_ids(site, "leadership_alliance")
    with site.engine.begin() as conn:
        drop = next(i for i in ids if (s := get_signal(conn, i)) is not None and s.failure_paths)
        keep = next(i for i in ids if i != drop)
        data = conn.execute(select(signals.c.data).where(signals.c.id == keep)).scalar_one()
        conn.execute(
            update(signals).where(signals.c.id == keep).values(data={**data, "failure_paths": None})
        )
        dropped = get_signal(conn, drop)
    assert dropped is not None and dropped.failure_paths
    controls_store.merge(site.engine, site.period, keep, [drop], by="test")
    assert build(site.settings, site.period, engine=site.engine).frozen
    page = HTMLParser(site.client.get(view(site, "leadership_alliance")).text)
    item = page.css_first(f'article[id="{signal_anchor(keep)}"]')
    assert item is not None
    assert dropped.failure_paths.split("\n")[0].strip()[:40] in item.text()
