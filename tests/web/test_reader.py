"""`/view/<token>`: a paid reader's own tier edition on the web, in-process."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import delete, select

from digest.audience.tokens import LinkSigner
from digest.issues.store import load_editions
from digest.signals.store import get_signal
from digest.storage.schema import subscribers
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
    assert anchored_items(page.text) == edition_ids(site, "leadership_alliance")


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
