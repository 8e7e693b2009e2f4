"""The editor's controls on the issue page, in-process: each form posts the same change as
`digest issue …`, with the same refusals, behind the login and the CSRF token."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update

from digest.issues.store import find_issue, load_accounting, load_controls
from digest.model import Signal
from digest.signals.store import signals_between
from digest.storage.schema import issues
from tests.web.conftest import Site


def issue_url(site: Site, query: str = "") -> str:
    return f"/editor/issues/{site.period.key}{query}"


def shown_signals(site: Site) -> list[Signal]:
    with site.engine.connect() as conn:
        found = signals_between(conn, site.period.start, site.period.end, include_internal=True)
    return [s for s in found if not s.internal]


def change(site: Site, **data: str) -> str:
    """Post one change from the issue page; the page it comes back to (the flash on top)."""
    response = site.client.submit(issue_url(site), issue_url(site, "/controls"), data)
    assert response.status_code == 303
    return site.client.get(response.headers["location"]).text


def flash(page: str) -> str:
    found = re.search(r'<p class="flash (\w+)" role="status">(.*?)</p>', page, re.S)
    assert found, "no flash on the page"
    return f"{found.group(1)}: {found.group(2)}"


def test_every_signal_shown_has_exclude_and_make_lead(editor: Site) -> None:
    page = editor.client.get(issue_url(editor)).text
    for s in shown_signals(editor):
        row = re.search(rf'<tr data-signal="{re.escape(s.id)}".*?</tr>', page, re.S)
        assert row and 'value="exclude"' in row.group(0) and 'value="lead"' in row.group(0)


def test_excluding_stores_it_and_says_the_editions_are_stale(editor: Site) -> None:
    first = shown_signals(editor)[0].id
    page = change(editor, action="exclude", id=first)
    assert load_controls(editor.engine, editor.period).excluded == {first}
    assert flash(page).startswith(f"ok: {editor.period.key}: excluded {first}. The built editions")


def test_an_excluded_signal_offers_include(editor: Site) -> None:
    first = shown_signals(editor)[0].id
    page = change(editor, action="exclude", id=first)
    row = re.search(rf'<tr data-signal="{re.escape(first)}".*?</tr>', page, re.S)
    assert row and 'value="include"' in row.group(0) and "excluded" in row.group(0)


def test_an_unknown_id_is_refused_with_the_clis_message(editor: Site) -> None:
    page = change(editor, action="exclude", id="nope")
    assert flash(page) == "fail: 2026-W47: nope: no signal has this id; nothing was changed"


def test_merging_into_itself_is_refused(editor: Site) -> None:
    first = shown_signals(editor)[0].id
    page = change(editor, action="merge", keep=first, drop=first)
    assert f"cannot merge {first} into itself" in flash(page)


def test_a_merge_from_the_form_is_stored(editor: Site) -> None:
    a, b = (s.id for s in shown_signals(editor)[:2])
    change(editor, action="merge", keep=a, drop=b)
    assert dict(load_controls(editor.engine, editor.period).merges) == {b: a}


def test_a_saved_note_is_shown_in_its_form(editor: Site) -> None:
    page = change(editor, action="note", lang="zh", note="本周*平静*。")
    assert re.search(
        r'<textarea name="note" id="note-text-zh"[^>]*>本周\*平静\*。</textarea>', page
    )


def test_a_note_with_html_is_refused_and_not_stored(editor: Site) -> None:
    page = change(editor, action="note", lang="en", note="<img src=x onerror=alert(1)>")
    assert "note (en): line 1: raw HTML" in flash(page)
    assert load_controls(editor.engine, editor.period).notes == {}


def test_a_change_after_approval_withdraws_it(gated_editor: Site) -> None:
    gated_editor.client.submit(issue_url(gated_editor), issue_url(gated_editor, "/approve"))
    page = change(gated_editor, action="lead", id=shown_signals(gated_editor)[1].id)
    assert flash(page).startswith("warn:") and "approval is withdrawn" in flash(page)


def approve_behind_the_gate(site: Site) -> None:
    """An approval left from when the gate was on (`digest approve` works either way)."""
    with site.engine.begin() as conn:
        conn.execute(
            update(issues)
            .where(issues.c.period_key == site.period.key)
            .values(status="approved", approved_by="editor", approved_at=dt.datetime.now(dt.UTC))
        )


def test_a_change_without_the_gate_says_nothing_of_approving_again(editor: Site) -> None:
    approve_behind_the_gate(editor)
    page = change(editor, action="lead", id=shown_signals(editor)[1].id)
    assert "approve again" not in flash(page)


def test_a_change_without_the_gate_says_the_editions_need_a_rebuild(editor: Site) -> None:
    approve_behind_the_gate(editor)
    page = change(editor, action="lead", id=shown_signals(editor)[1].id)
    assert flash(page).startswith("ok:") and "The built editions are now stale" in flash(page)


def test_a_change_behind_the_gate_says_the_editions_need_a_rebuild_too(gated_editor: Site) -> None:
    page = change(gated_editor, action="lead", id=shown_signals(gated_editor)[1].id)
    assert "The built editions are now stale" in flash(page)


def test_changes_are_refused_once_sending_began(editor: Site) -> None:
    with editor.engine.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    page = change(editor, action="exclude", id=shown_signals(editor)[0].id)
    assert "sending began" in flash(page) and 'id="controls-frozen"' in page
    assert load_controls(editor.engine, editor.period).excluded == frozenset()


def test_a_rebuild_clears_the_stale_notice(editor: Site) -> None:
    change(editor, action="exclude", id=shown_signals(editor)[0].id)
    editor.client.submit(issue_url(editor), issue_url(editor, "/rebuild"))
    row = find_issue(editor.engine, editor.period)
    assert row is not None and row.stale_at is None
    assert 'id="stale"' not in editor.client.get(issue_url(editor)).text


def test_a_change_without_the_csrf_token_is_forbidden(editor: Site) -> None:
    response = editor.client.post(
        issue_url(editor, "/controls"), data={"action": "exclude", "id": "x"}
    )
    assert response.status_code == 403


def test_a_change_without_login_is_forbidden(site: Site) -> None:
    response = site.client.submit("/editor/login", issue_url(site, "/controls"), {"id": "x"})
    assert response.status_code == 403


def test_a_refused_note_stays_in_its_form_to_be_fixed(editor: Site) -> None:
    page = change(editor, action="note", lang="en", note="Almost right <b>here</b>")
    form = re.search(r'<textarea name="note" id="note-text-en"[^>]*>(.*?)</textarea>', page)
    assert form and form.group(1) == "Almost right &lt;b&gt;here&lt;/b&gt;"


def test_a_saved_change_forgets_the_refused_draft(editor: Site) -> None:
    change(editor, action="note", lang="en", note="Almost right <b>here</b>")
    page = change(editor, action="exclude", id=shown_signals(editor)[0].id)
    assert "Almost right" not in page


def suggestion(site: Site) -> tuple[str, str]:
    accounting = load_accounting(site.engine, site.period)
    assert accounting is not None and accounting.suggested_merges, "the examples suggest a merge"
    first = accounting.suggested_merges[0]
    return first.keep, first.drop


def test_the_builds_suggested_merges_are_listed_with_both_titles(editor: Site) -> None:
    keep, drop = suggestion(editor)
    page = editor.client.get(issue_url(editor)).text
    item = re.search(
        rf'<li class="suggestion" data-keep="{keep}" data-drop="{drop}">.*?</li>', page, re.S
    )
    assert item and 'name="action" value="merge"' in item.group(0)


def test_one_click_on_a_suggestion_merges_the_pair(editor: Site) -> None:
    keep, drop = suggestion(editor)
    page = change(editor, action="merge", keep=keep, drop=drop)
    assert dict(load_controls(editor.engine, editor.period).merges) == {drop: keep}
    assert f'data-drop="{drop}"' not in page  # settled: no longer suggested


def _depth_at(css: str, needle: str) -> int:
    """How many blocks are open where `needle` starts (comments left out)."""
    code = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    start = code.index(needle)
    return code.count("{", 0, start) - code.count("}", 0, start)


def test_the_controls_styles_hold_in_light_mode_too(site: Site) -> None:
    # A merge once dropped the dark-mode block's closing brace: every rule after it, the
    # controls' included, applied only in dark mode (the page spilled sideways on a phone).
    css = site.client.get("/static/web.css").text
    assert _depth_at(css, ".merge-form {") == 0 and _depth_at(css, ".notes {") == 0
    assert _depth_at(css, "\n.suggestion small") == 0
