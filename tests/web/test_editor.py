"""Editor pages in-process: issues, one issue's editions, signals, and the three buttons."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select, update

from digest.delivery import MemoryProvider
from digest.delivery.run import send_period
from digest.model import Signal
from digest.signals.store import store_signals
from digest.storage.schema import deliveries, issues
from digest.web.app import create_app
from tests.web.conftest import BASE, Client, Site


def issue_url(site: Site, query: str = "") -> str:
    return f"/editor/issues/{site.period.key}{query}"


def listed_status(site: Site) -> str:
    """The status the issues page shows in the built period's row (the text, not its markup)."""
    page = site.client.get("/editor/").text
    row = re.search(rf"{site.period.key}</a></td>\s*<td>(.*?)</td>", page, re.S)
    assert row, page
    return re.sub(r"<[^>]+>", "", row.group(1))


def issue_status(site: Site) -> str:
    found = re.search(r'id="issue-status">([^<]*)<', site.client.get(issue_url(site)).text)
    assert found
    return found.group(1)


def test_issues_page_lists_the_built_period_as_built_when_no_approval_is_required(
    editor: Site,
) -> None:
    # The demo's schedule has approval_required = false: nothing waits for an editor.
    status = listed_status(editor)
    assert "built · " in status and "approval" not in status


def test_issue_page_says_built_not_awaiting_approval_when_none_is_required(editor: Site) -> None:
    status = issue_status(editor)
    assert status.startswith("built · ") and "approval" not in status


def test_issues_page_lists_the_built_period_awaiting_approval_when_required(
    gated_editor: Site,
) -> None:
    assert "awaiting approval" in listed_status(gated_editor)


def test_issue_page_says_awaiting_approval_when_required(gated_editor: Site) -> None:
    assert issue_status(gated_editor) == "awaiting approval"


def test_issues_page_offers_weeks_with_signals_but_no_issue(editor: Site) -> None:
    assert "not built" in editor.client.get("/editor/").text


def test_issue_page_links_all_six_editions(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    tabs = re.findall(r'class="tab[^"]*"[^>]*>([^<]+·[^<]+)</a>', page)
    assert len(tabs) == 6


def test_issue_page_shows_subject_preheader_and_text_part(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    # Issue 14: the subject is the lead headline (the From name carries the publication) and
    # the preheader names the next headlines.
    assert re.search(r'<dd id="subject">(?!Signal Weekly)[^<]{10,}</dd>', page)
    assert re.search(r'<dd id="preheader">Also: [^<]+ · ', page)
    assert '<pre class="text-part" id="text-part">' in page


def test_issue_page_shows_the_inbox_checks_with_verdicts(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    assert re.search(r"<td>(OK|WARN)</td><td>size</td>", page)


def test_switching_tier_and_language_shows_that_edition(editor: Site) -> None:
    page = editor.client.get(issue_url(editor, "?tier=leadership_alliance&locale=zh")).text
    assert 'src="/editor/issues/2026-W47/editions/leadership_alliance/zh"' in page
    assert 'aria-current="page">Leadership Alliance · 中文' in page


def test_width_switch_sets_the_iframe_width(editor: Site) -> None:
    page = editor.client.get(issue_url(editor, "?w=1024")).text
    assert re.search(r'<iframe id="edition"[^>]* width="1024"', page)


def test_edition_frame_is_the_email_with_placeholders_filled(editor: Site) -> None:
    html = editor.client.get(issue_url(editor, "/editions/open/en")).text
    assert "%%" not in html
    assert "/unsubscribe?preview=1" in html


def test_editions_are_iframed_sandboxed_without_scripts(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    sandbox = re.search(r'<iframe id="edition"[^>]* sandbox="([^"]*)"', page)
    assert sandbox and "allow-scripts" not in sandbox.group(1)
    assert "allow-same-origin" not in sandbox.group(1)


def test_internal_signals_are_listed_and_flagged(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    assert page.count("internal · never sent") >= 1


def test_signal_text_is_escaped(editor: Site) -> None:
    hostile = Signal(
        id="hostile-1",
        title='<script>alert("x")</script><img src=x onerror=alert(1)>',
        published=editor.period.start,
        market_class="Policy Track",
        tier="B/C",
    )
    with editor.engine.begin() as conn:
        store_signals(conn, [hostile])
    page = editor.client.get(issue_url(editor)).text
    assert "&lt;script&gt;alert(" in page
    assert "<img src=x" not in page


def store_late_signal(site: Site) -> Signal:
    """A signal dated inside the built week, stored after the build (a late feed)."""
    late = Signal(
        id="late-1",
        title="Late feed: Japan tightens <photoresist> export reporting",
        published=site.period.start,
        market_class="Policy Track",
        tier="B/C",
    )
    with site.engine.begin() as conn:
        store_signals(conn, [late])
    return late


def stored_since_build_note(site: Site) -> str:
    """The issue page's note on signals the frozen editions never saw, as text ("" if none)."""
    page = site.client.get(issue_url(site)).text
    found = re.search(r'<div class="flash warn" id="stored-since-build">(.*?)</div>', page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def test_issue_page_lists_a_signal_stored_since_the_build_and_says_to_rebuild(
    editor: Site,
) -> None:
    store_late_signal(editor)
    note = stored_since_build_note(editor)
    assert "1 signal stored since the build (not in any edition): rebuild to include them" in note
    assert "late-1 Late feed: Japan tightens &lt;photoresist&gt; export reporting" in note


def test_issue_page_says_a_late_signal_misses_the_issue_once_sending_began(editor: Site) -> None:
    store_late_signal(editor)
    with editor.engine.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    note = stored_since_build_note(editor)
    assert "sending has begun, so they will not be in this issue" in note and "late-1" in note


def test_issue_page_controls_say_the_build_never_saw_a_late_signal(editor: Site) -> None:
    store_late_signal(editor)
    page = editor.client.get(issue_url(editor)).text
    row = re.search(r'<tr data-signal="late-1".*?</tr>', page, re.S)
    assert row and "last build: not seen, stored after it" in row.group(0)


def test_issue_page_has_no_late_note_when_the_build_saw_every_signal(editor: Site) -> None:
    assert stored_since_build_note(editor) == ""


def test_unknown_period_is_404(editor: Site) -> None:
    assert editor.client.get("/editor/issues/not-a-week").status_code == 404


def test_send_test_of_one_edition_reaches_the_provider_marked_test(editor: Site) -> None:
    answer = editor.client.submit(
        issue_url(editor),
        issue_url(editor, "/test"),
        {"email": "editor@example.com", "which": "one", "tier": "open", "locale": "zh"},
    )
    assert answer.status_code == 303
    [(message, recipient)] = editor.provider.sent
    assert (message.tier, message.locale, message.test) == ("open", "zh", True)
    assert recipient.email == "editor@example.com"


def test_send_test_of_all_editions_sends_six(editor: Site) -> None:
    editor.client.submit(
        issue_url(editor), issue_url(editor, "/test"), {"email": "e@example.com", "which": "all"}
    )
    assert len(editor.provider.sent) == 6


def test_send_test_leaves_the_ledger_untouched(editor: Site) -> None:
    editor.client.submit(
        issue_url(editor), issue_url(editor, "/test"), {"email": "e@example.com", "which": "all"}
    )
    with editor.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 0


def test_send_test_to_a_bad_address_sends_nothing_and_says_so(editor: Site) -> None:
    editor.client.submit(issue_url(editor), issue_url(editor, "/test"), {"email": "not an address"})
    assert editor.provider.sent == []
    assert "Test not sent" in editor.client.get(issue_url(editor)).text


def test_approve_records_the_editor_and_the_status(gated_editor: Site) -> None:
    gated_editor.client.submit(issue_url(gated_editor), issue_url(gated_editor, "/approve"))
    with gated_editor.engine.connect() as conn:
        key = gated_editor.period.key
        row = conn.execute(select(issues).where(issues.c.period_key == key)).one()
    assert (row.status, row.approved_by) == ("approved", "editor")


def test_approving_twice_keeps_the_first_approval(gated_editor: Site) -> None:
    gated_editor.client.submit(issue_url(gated_editor), issue_url(gated_editor, "/approve"))
    gated_editor.client.submit(issue_url(gated_editor), issue_url(gated_editor, "/approve"))
    assert "Already approved by editor" in gated_editor.client.get(issue_url(gated_editor)).text


def test_the_issue_page_offers_approve_when_approval_is_required(gated_editor: Site) -> None:
    assert 'id="approve"' in gated_editor.client.get(issue_url(gated_editor)).text


def test_the_issue_page_offers_no_approve_when_none_is_required(editor: Site) -> None:
    assert 'id="approve"' not in editor.client.get(issue_url(editor)).text


def test_the_issue_page_says_no_approval_is_needed_when_none_is_required(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    assert '<span id="no-approval">no approval needed</span>' in page


def test_the_issue_page_says_nothing_of_needing_no_approval_when_required(
    gated_editor: Site,
) -> None:
    assert "no approval needed" not in gated_editor.client.get(issue_url(gated_editor)).text


def test_approving_when_none_is_required_changes_nothing(editor: Site) -> None:
    editor.client.submit(issue_url(editor), issue_url(editor, "/approve"))
    with editor.engine.connect() as conn:
        row = conn.execute(select(issues).where(issues.c.period_key == editor.period.key)).one()
    assert (row.status, row.approved_at, row.approved_by) == ("awaiting_approval", None, None)


def test_approving_when_none_is_required_says_there_is_nothing_to_approve(editor: Site) -> None:
    editor.client.submit(issue_url(editor), issue_url(editor, "/approve"))
    page = editor.client.get(issue_url(editor)).text
    assert f"{editor.period.key}: nothing to approve: schedule.approval_required is off" in page


def test_the_issues_page_has_no_approved_by_column_when_none_is_required(editor: Site) -> None:
    assert "<th>Approved by</th>" not in editor.client.get("/editor/").text


def test_the_issues_page_has_an_approved_by_column_when_required(gated_editor: Site) -> None:
    assert "<th>Approved by</th>" in gated_editor.client.get("/editor/").text


def test_rebuild_replaces_the_frozen_editions(editor: Site) -> None:
    editor.client.submit(issue_url(editor), issue_url(editor, "/rebuild"))
    assert "Rebuilt" in editor.client.get(issue_url(editor)).text


def test_rebuild_is_refused_once_sending_began(editor: Site) -> None:
    with editor.engine.begin() as conn:
        conn.execute(
            update(issues)
            .where(issues.c.period_key == editor.period.key)
            .values(send_started_at=dt.datetime.now(dt.UTC), status="sending")
        )
    editor.client.submit(issue_url(editor), issue_url(editor, "/rebuild"))
    assert "Not rebuilt" in editor.client.get(issue_url(editor)).text


def test_an_unbuilt_week_can_be_built_from_its_page(editor: Site) -> None:
    url = "/editor/issues/2026-W46"
    assert "no frozen editions" in editor.client.get(url).text
    editor.client.submit(url, f"{url}/rebuild")
    assert 'id="edition"' in editor.client.get(url).text


def test_after_a_send_the_issue_shows_delivery_by_edition(editor: Site) -> None:
    send_period(editor.settings, editor.engine, editor.period, MemoryProvider())
    page = editor.client.get(issue_url(editor)).text
    assert "<h2>Delivery by edition</h2>" in page
    assert re.search(r"<tr><td>Open · en</td><td>[1-9]\d*</td>", page)


def test_without_a_provider_configured_tests_go_to_the_outbox(editor: Site) -> None:
    client = Client(create_app(editor.settings, editor.engine))
    client.login()
    fields = {"email": "e@example.com", "tier": "open", "locale": "en"}
    client.submit(issue_url(editor), issue_url(editor, "/test"), fields)
    assert len(list((editor.root / "outbox").rglob("*.eml"))) == 1


def test_a_previewed_member_edition_links_to_a_page_the_editor_can_open(editor: Site) -> None:
    # A sample reader has no signed view: "View in browser" and the members' item links go to
    # the issue's page (it pointed at `/issues`, which no route serves).
    frame = f"/editor/issues/{editor.period.key}/editions/leadership_alliance/en"
    email = editor.client.get(frame).text
    (href,) = re.findall(r'<a href="([^"]+)"[^>]*>View in browser</a>', email)
    assert href == f"{BASE}/issues/{editor.period.key}"
    assert editor.client.get(href.removeprefix(BASE)).status_code == 200
