"""`/join/<tier>` (what a tier adds, a chosen sample, the call to action) and `/scale`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import update

from digest.config import ConfigError, Settings, load_settings
from digest.model import Signal
from digest.scale import BANDS
from digest.signals.store import signals_between
from digest.storage.schema import issues
from digest.web.app import create_app
from tests.web.conftest import Client, Site


def with_tier(site: Site, tier: str, **values: Any) -> Client:
    """A browser on the same database, served with `[tiers.<tier>]` changed."""
    tiers = site.settings.tiers
    changed = getattr(tiers, tier).model_copy(update=values)
    settings: Settings = site.settings.model_copy(
        update={"tiers": tiers.model_copy(update={tier: changed})}
    )
    return Client(create_app(settings, site.engine, provider=site.provider, now=site.clock))


def rich_signal(site: Site) -> Signal:
    with site.engine.connect() as conn:
        return next(
            s
            for s in signals_between(conn, site.period.start, site.period.end)
            if not s.internal and s.trend_context and s.failure_paths
        )


def mark_sent(site: Site) -> None:
    when = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    with site.engine.begin() as conn:
        conn.execute(
            update(issues)
            .where(issues.c.period_key == site.period.key)
            .values(status="sent", send_started_at=when, sent_at=when)
        )


def first_line(text: str | None) -> str:
    assert text
    return text.split("\n")[0].strip()[:40]


def test_each_join_page_says_what_its_tier_adds(site: Site) -> None:
    circle = HTMLParser(site.client.get("/join/strategy_circle").text).css_first("#adds").text()
    alliance = HTMLParser(site.client.get("/join/leadership_alliance").text).css_first("#adds")
    assert "Trend context" in circle and "Failure paths" not in circle
    assert "Failure paths" in alliance.text() and "Source notes" in alliance.text()


def test_without_a_configured_sample_no_member_text_is_shown(site: Site) -> None:
    mark_sent(site)
    page = site.client.get("/join/strategy_circle").text
    assert 'id="sample"' not in page
    assert first_line(rich_signal(site).trend_context) not in page


def test_the_named_sample_is_shown_as_its_tier_sees_it(site: Site) -> None:
    mark_sent(site)
    signal = rich_signal(site)
    page = with_tier(site, "strategy_circle", sample_signal_id=signal.id).get(
        "/join/strategy_circle"
    )
    sample = HTMLParser(page.text).css_first("#sample")
    assert sample is not None and first_line(signal.trend_context) in sample.text()
    assert first_line(signal.failure_paths) not in page.text  # the Alliance's, not this tier's


def test_a_sample_from_an_issue_not_yet_sent_is_not_shown(site: Site) -> None:
    signal = rich_signal(site)
    page = with_tier(site, "strategy_circle", sample_signal_id=signal.id).get(
        "/join/strategy_circle"
    )
    assert 'id="sample"' not in page.text
    assert first_line(signal.trend_context) not in page.text


def test_the_configured_call_to_action_and_price_are_shown(site: Site) -> None:
    client = with_tier(
        site,
        "leadership_alliance",
        join_url="https://pay.example.com/alliance",
        join_text="Become a member",
        price_text="£40 a month",
    )
    cta = HTMLParser(client.get("/join/leadership_alliance").text)
    assert cta.css_first("#join").attributes["href"] == "https://pay.example.com/alliance"
    assert cta.css_first("#join").text() == "Become a member"
    assert cta.css_first("#price").text() == "£40 a month"


def test_without_a_url_the_page_asks_readers_to_reply(site: Site) -> None:
    page = HTMLParser(site.client.get("/join/strategy_circle").text)
    assert page.css_first("#join") is None
    assert "reply to any issue" in page.css_first("#cta").text()


def test_there_is_no_page_to_join_the_open_tier(site: Site) -> None:
    assert site.client.get("/join/open").status_code == 404


def test_a_join_url_that_is_not_a_link_is_a_config_error(tmp_path: Any) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[tiers.strategy_circle]\njoin_url = "javascript:alert(1)"\n')
    with pytest.raises(ConfigError, match="join_url"):
        load_settings(config)


def test_the_scale_page_publishes_every_band_of_the_legend(site: Site) -> None:
    rows = HTMLParser(site.client.get("/scale").text).css("#scale tbody tr")
    texts = [row.text() for row in rows]
    for band, text in zip(BANDS, texts, strict=False):
        assert band.label in text and f"{band.low:.2f}" in text


def test_the_scale_page_shows_the_emails_meter_filled_to_hollow(site: Site) -> None:
    rows = HTMLParser(site.client.get("/scale").text).css("#scale tbody tr")
    filled = [len(row.css(".pip.on")) for row in rows if row.css(".pip")]
    assert filled == [5, 4, 3, 2, 1, 0]  # A … D, then unrated; the internal band has none


def test_the_scale_page_speaks_chinese_when_asked(site: Site) -> None:
    page = site.client.get("/scale?lang=zh").text
    assert '<html lang="zh-Hans">' in page and "弱信号" in page


def test_a_member_sample_holds_no_unfilled_placeholder(site: Site) -> None:
    # Built with the member tier's policy, the sample's link is `%%view_url_html%%#…` (filled
    # only per recipient by the sender): it was printed as a "Source" link that went nowhere.
    mark_sent(site)
    signal = rich_signal(site)
    page = with_tier(site, "strategy_circle", sample_signal_id=signal.id).get(
        "/join/strategy_circle"
    )
    assert HTMLParser(page.text).css_first("#sample") is not None and "%%" not in page.text
