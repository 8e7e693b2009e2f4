"""Which language a page without a token speaks: `?lang=`, then `Accept-Language`, then English."""

from __future__ import annotations

from digest.web.lang import negotiated
from tests.web.conftest import Site


def test_a_chinese_browser_gets_chinese() -> None:
    assert negotiated("zh-CN,zh;q=0.9,en;q=0.8") == "zh"


def test_quality_values_decide_not_the_order() -> None:
    assert negotiated("en;q=0.4, zh-TW;q=0.9") == "zh"


def test_a_regional_english_gets_english() -> None:
    assert negotiated("en-US,en;q=0.9") == "en"


def test_a_language_we_do_not_write_gets_nothing() -> None:
    assert negotiated("fr-FR,de;q=0.8") is None


def test_pages_tell_caches_they_depend_on_accept_language(site: Site) -> None:
    assert site.client.get("/subscribe").headers["vary"] == "Accept-Language"
