"""Member-only fields reach only the tiers that paid for them, checked as a subscriber reads."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from digest.config import Settings
from digest.issues.checks import check_leaks, leak_needles
from digest.issues.editions import Issue
from digest.issues.policy import policies, tier_may_see
from digest.issues.render.view import build_view
from digest.model import LANGS, MEMBER_FIELDS, MEMBERSHIP_TIERS, MembershipTier

CANARY_IDS = ("alpha", "beta")


@pytest.mark.parametrize("tier", MEMBERSHIP_TIERS)
@pytest.mark.parametrize("locale", LANGS)
def test_every_member_field_appears_exactly_where_the_paywall_allows(
    issue: Issue, tier: MembershipTier, locale: str, h: Any
) -> None:
    edition = issue.edition(tier, locale)
    everywhere = "\n".join([edition.html, edition.text, edition.subject, edition.preheader])
    for field in MEMBER_FIELDS:
        for sid in CANARY_IDS:
            present = h.canary(field, sid) in everywhere
            assert present == tier_may_see(tier, field), (tier, locale, field, sid)


def test_the_open_view_model_holds_no_member_text(issue: Issue, settings: Settings) -> None:
    policy = policies(settings)["open"]
    view = build_view(issue.grouped.sections, policy, "en", settings, issue.period)
    assert "CANARY" not in repr(asdict(view))


def test_the_circle_view_model_holds_only_trend_context(
    issue: Issue, settings: Settings, h: Any
) -> None:
    policy = policies(settings)["strategy_circle"]
    dumped = repr(asdict(build_view(issue.grouped.sections, policy, "en", settings, issue.period)))
    assert h.canary("trend_context", "alpha") in dumped
    assert "CANARY-source_notes" not in dumped and "CANARY-failure_paths" not in dumped


def test_the_leak_check_passes_on_every_built_edition(issue: Issue) -> None:
    for edition in issue.editions:
        (leak,) = [c for c in edition.checks if c.name == "member-leak"]
        assert leak.level == "ok", (edition.tier, edition.locale, leak.message)


@pytest.mark.parametrize(
    "where",
    [
        '<img alt="{x}" src="https://a/b.png">',
        "<!-- {x} -->",
        '<a title="{x}" href="https://a">x</a>',
    ],
)
def test_the_leak_check_finds_text_in_attributes_and_comments(where: str, h: Any) -> None:
    signal = h.with_canaries(h.make_signal("s"))
    needles = leak_needles([signal], ["source_notes"])
    html = "<html>" + where.format(x=h.canary("source_notes", "s") + " first line.") + "</html>"
    assert check_leaks([html, "", "", ""], needles).level == "fail"


def test_the_leak_check_finds_html_escaped_text(h: Any) -> None:
    signal = h.make_signal("s", source_notes='Notes on "Acme & Sons" <filings> here')
    needles = leak_needles([signal], ["source_notes"])
    html = "<p>Notes on &#34;Acme &amp; Sons&#34; &lt;filings&gt; here</p>"
    assert check_leaks([html, "", "", ""], needles).level == "fail"


def test_the_leak_check_covers_subject_and_preheader(h: Any) -> None:
    signal = h.with_canaries(h.make_signal("s"))
    needles = leak_needles([signal], ["trend_context"])
    preheader = h.canary("trend_context", "s") + " first line."
    assert check_leaks(["", "", "", preheader], needles).level == "fail"


def test_the_leak_check_names_every_text_that_leaked(h: Any) -> None:
    """One scan finds that something leaked; the report still counts and names each text."""
    first = h.make_signal("a", source_notes="Filings of Acme & Sons reviewed in detail")
    second = h.make_signal("b", source_notes="Second member note, quoted verbatim here")
    needles = leak_needles([first, second], ["source_notes"])
    html = "<p>Filings of Acme &amp; Sons reviewed in detail</p><p>Second member note, quoted"
    check = check_leaks([html + " verbatim here</p>", "", "", ""], needles)
    assert check.level == "fail" and check.message.startswith("2 member-only texts leaked")
    assert "Acme & Sons" in check.message


def test_the_leak_check_passes_an_edition_without_member_text(h: Any) -> None:
    signal = h.make_signal("a", source_notes="Filings of Acme & Sons reviewed in detail")
    needles = leak_needles([signal], ["source_notes"])
    html = "<p>Filings of Acme were reviewed in public.</p>"
    assert check_leaks([html, "text", "subject", "preheader"], needles).level == "ok"
