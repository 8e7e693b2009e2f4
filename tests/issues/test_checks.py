from __future__ import annotations

from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from digest.config import Settings
from digest.issues.checks import (
    SIZE_FAIL,
    SIZE_WARN,
    check_base_url,
    check_footer,
    check_markup,
    check_size,
    check_subject,
    link_tags,
)
from digest.issues.collect import from_files
from digest.issues.editions import build_issue
from digest.issues.render import placeholders as ph
from digest.period import parse_period

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "signals"


def level(check: object) -> str:
    return check.level  # type: ignore[attr-defined,no-any-return]


def test_size_budget_warns_then_fails() -> None:
    assert level(check_size("x" * SIZE_WARN)) == "ok"
    assert level(check_size("x" * (SIZE_WARN + 1))) == "warn"
    assert level(check_size("x" * (SIZE_FAIL + 1))) == "fail"


def test_size_counts_bytes_not_characters() -> None:
    assert level(check_size("中" * (SIZE_WARN // 3 + 1))) == "warn"


def test_an_image_without_alt_text_fails() -> None:
    alt, _links = check_markup('<img src="https://a/x.png"><img alt="ok" src="https://a/y.png">')
    assert alt.level == "fail" and "https://a/x.png" in alt.message


def test_a_relative_link_fails_and_placeholders_pass() -> None:
    _alt, links = check_markup(
        f'<a href="/signals/1">x</a><a href="{ph.UNSUBSCRIBE_URL_HTML}">u</a>'
    )
    assert links.level == "fail" and "/signals/1" in links.message
    _alt, links = check_markup(
        f'<a href="{ph.UNSUBSCRIBE_URL_HTML}">u</a><a href="mailto:a@b">m</a>'
    )
    assert links.level == "ok"


def test_http_base_url_is_a_warning() -> None:
    assert level(check_base_url("http://127.0.0.1:8000")) == "warn"
    assert level(check_base_url("https://news.example.org")) == "ok"


def test_subject_with_a_line_break_fails_and_a_long_one_warns() -> None:
    assert level(check_subject("a\r\nb", "pre")[0]) == "fail"
    assert level(check_subject("x" * 79, "pre")[0]) == "warn"
    assert level(check_subject("中" * 40, "pre")[0]) == "warn"  # 80 columns in an inbox


def test_a_missing_unsubscribe_link_fails() -> None:
    check = check_footer(
        "<p>1 Example Street</p>", ph.UNSUBSCRIBE_URL_TEXT + " 1 Example Street", "1 Example Street"
    )
    assert check.level == "fail" and "unsubscribe link (HTML)" in check.message


def test_the_tag_scan_agrees_with_a_real_parser_on_an_example_edition() -> None:
    settings = Settings()
    week = parse_period("2026-W47")
    found = from_files([str(EXAMPLES)], settings.sources, week)
    html = build_issue(found.signals, settings, week).edition("leadership_alliance", "zh").html
    scanned = sorted(a["href"] for tag, a in link_tags(html) if tag == "a")
    parsed = sorted(str(a.attributes["href"]) for a in LexborHTMLParser(html).css("a[href]"))
    assert scanned == parsed
