"""Editor pages: issues by period, one issue's editions as subscribers get them, and the buttons.

Everything here sits behind the login (unless the app serves only this machine and no
credential is configured). Actions are the library's own calls: `digest.issues.build.build` to
rebuild, `digest.jobs.approval.approve` for the scheduler's gate, a provider for test
sends, so the browser and the CLI can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.audience.addresses import InvalidAddress, normalize_email
from digest.delivery import EditionMessage, Outcome, Recipient
from digest.delivery.events import edition_stats
from digest.delivery.ledger import state_counts, state_counts_by_issue
from digest.delivery.plan import edition_message
from digest.delivery.report import SendError
from digest.delivery.run import send_period
from digest.issues import controls_store as cs
from digest.issues.accounting import Accounting
from digest.issues.build import build, preview_copy
from digest.issues.controls import ControlsError, IssueControls
from digest.issues.editions import Edition
from digest.issues.render import placeholders as ph
from digest.issues.render.engine import RenderError
from digest.issues.render.note import NOTE_MAX
from digest.issues.similar import Suggestion
from digest.issues.store import (
    BUILT,
    FrozenError,
    all_issues,
    issue_and_editions,
    load_accounting,
    load_controls,
    stored_since_build,
)
from digest.jobs.approval import NOT_BUILT, ApprovalError, approve, status_label
from digest.model import LANGS, MEMBERSHIP_TIERS, TIER_NAMES, Signal
from digest.period import Period, PeriodError, parse_period
from digest.signals.store import published_counts, signals_between
from digest.web import login
from digest.web.deps import (
    WebState,
    checked_form,
    field_text,
    redirect_with_flash,
    render,
    web,
)
from digest.web.login import current_editor, login_redirect
from digest.web.security import EDITION_CSP

LOCALE_NAMES = {"en": "English", "zh": "中文"}
STORED_SINCE_BUILD = "not seen, stored after it"
"""A late signal's fate on the controls ("last build: …"): it is in no edition."""
WIDTHS = (375, 1024)


# --- issues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueSummary:
    period_key: str
    status: str
    built_at: dt.datetime | None
    approved_by: str | None
    sent_at: dt.datetime | None
    deliveries: dict[str, int]
    signals: int = 0
    label: str = NOT_BUILT
    """The status as the page says it (`status_label`: "awaiting approval" only when it does)."""


def issue_summaries(state: WebState) -> list[IssueSummary]:
    """Every stored issue, newest period first, with its deliveries counted by state, plus
    the store's weeks that have signals but no issue yet ("not built")."""
    with state.engine.connect() as conn:
        counts = state_counts_by_issue(conn)
        rows = all_issues(conn)
        dates = published_counts(conn)
    now = state.now()
    out = [
        IssueSummary(
            r.period_key,
            r.status,
            r.built_at,
            r.approved_by,
            r.sent_at,
            counts.get(r.id, {}),
            label=status_label(r, Period(r.period_start, r.period_end), state.settings, now),
        )
        for r in rows
    ]
    known = {s.period_key for s in out}
    weeks: dict[str, int] = {}
    for day, n in dates:
        year, week, _ = day.isocalendar()
        key = f"{year}-W{week:02d}"
        weeks[key] = weeks.get(key, 0) + n
    for key, n in weeks.items():
        if key not in known:
            out.append(IssueSummary(key, NOT_BUILT, None, None, None, {}, n))
    out.sort(key=lambda s: parse_period(s.period_key).start, reverse=True)
    return out


async def issues_page(request: Request) -> Response:
    if (who := current_editor(request)) is None:
        return login_redirect(request)
    request.scope["editor"] = who
    state = web(request)
    return render(
        request,
        "web/issues.html.j2",
        {
            "title": "Issues",
            "issues": issue_summaries(state),
            "quote": quote,
            "approval_required": state.settings.schedule.approval_required,
        },
    )


def _period(request: Request) -> Period:
    try:
        return parse_period(str(request.path_params["period"]))
    except PeriodError:
        raise HTTPException(404) from None


def edition_rows(state: WebState, period: Period) -> tuple[Any, list[tuple[int, Edition]]]:
    """The issue row and its frozen editions with their ids (the ids name test sends)."""
    row, editions = issue_and_editions(state.engine, period)
    return row, [(e.id, e) for e in editions if e.id is not None]


def pick_edition(
    editions: Sequence[tuple[int, Edition]], tier: str, locale: str, interests: str = ""
) -> tuple[int, Edition] | None:
    for edition_id, edition in editions:
        if (edition.tier, edition.locale, edition.interests_key) == (tier, locale, interests):
            return edition_id, edition
    return None


def period_signals(state: WebState, period: Period) -> list[Signal]:
    with state.engine.connect() as conn:
        return signals_between(conn, period.start, period.end, include_internal=True)


async def issue_page(request: Request) -> Response:
    if (who := current_editor(request)) is None:
        return login_redirect(request)
    request.scope["editor"] = who
    state = web(request)
    period = _period(request)
    row, editions = edition_rows(state, period)
    query = request.query_params
    tier = query.get("tier", "open")
    locale = query.get("locale", "en")
    tier = tier if tier in MEMBERSHIP_TIERS else "open"
    locale = locale if locale in LANGS else "en"
    width = 1024 if query.get("w") == "1024" else 375
    chosen = pick_edition(editions, tier, locale)
    found = period_signals(state, period)
    in_tiers: dict[str, list[str]] = {}
    for _, edition in editions:
        if not edition.interests and edition.locale == "en":
            for sid in edition.signal_ids:
                in_tiers.setdefault(sid, []).append(TIER_NAMES[edition.tier])
    with state.engine.connect() as conn:
        stats = state_counts(conn, row.id if row is not None else -1)
    base = f"/editor/issues/{quote(period.key)}"
    per_edition = [e for e in edition_stats(state.engine, period) if e.sent]
    late = stored_since_build(state.engine, period)
    late_ids = {s.id for s in late.signals} if late else set()
    context = {
        "per_edition": per_edition,
        "title": f"Issue {period.key}",
        "period": period,
        "issue": row,
        "late": late,
        "late_ids": late_ids,
        "status_label": status_label(row, period, state.settings, state.now()),
        "approval_required": state.settings.schedule.approval_required,
        "needs_no_approval": needs_no_approval(row, state),
        "base": base,
        "tiers": [(t, TIER_NAMES[t]) for t in MEMBERSHIP_TIERS],
        "locales": [(loc, LOCALE_NAMES[loc]) for loc in LANGS],
        "widths": WIDTHS,
        "tier": tier,
        "locale": locale,
        "width": width,
        "edition": chosen[1] if chosen else None,
        "edition_id": chosen[0] if chosen else None,
        "frame_src": f"{base}/editions/{tier}/{locale}",
        "editions": [e for _, e in editions if not e.interests],
        "interest_sets": sorted({e.interests_key for _, e in editions if e.interests}),
        "signals": found,
        "in_tiers": in_tiers,
        "stats": stats,
        "tier_names": TIER_NAMES,
        "link": lambda **kw: f"{base}?{urlencode({**_current(tier, locale, width), **kw})}",
        **controls_context(state, period, row, found, late_ids),
        "controls_flash": query.get("changed") == "controls",
        "note_draft": note_draft(request),
    }
    return render(request, "web/issue.html.j2", context)


def needs_no_approval(row: Any, state: WebState) -> bool:
    """Whether to say, where the Approve button would be, that the built issue sends without
    one: an editor who knew the gate should not wonder where the button went."""
    return (
        not state.settings.schedule.approval_required and row is not None and (row.status == BUILT)
    )


def _current(tier: str, locale: str, width: int) -> dict[str, str]:
    return {"tier": tier, "locale": locale, "w": str(width)}


async def edition_frame(request: Request) -> Response:
    """One edition exactly as a sample subscriber receives it, for the editor's iframe."""
    if current_editor(request) is None:
        raise HTTPException(404)
    state = web(request)
    period = _period(request)
    _, editions = edition_rows(state, period)
    tier, locale = str(request.path_params["tier"]), str(request.path_params["locale"])
    chosen = pick_edition(editions, tier, locale, request.query_params.get("interests", ""))
    if chosen is None:
        raise HTTPException(404)
    # The issue's page an editor can open before sending (the archive's waits for the send),
    # with every item anchored: where a member's view link would land.
    view_url = f"{state.base_url}/issues/{quote(period.key, safe='')}"
    html, _ = preview_copy(chosen[1], state.base_url, view_url)
    return edition_response(html)


def edition_response(html: str) -> Response:
    """An email's HTML served for the app's own iframes: framable by the app only, no script."""
    return Response(
        html,
        media_type="text/html",
        headers={
            "content-security-policy": EDITION_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )


# --- actions ----------------------------------------------------------------------------------


def _issue_url(period: Period, form: Any) -> str:
    keep = {k: field_text(form, k) for k in ("tier", "locale", "w") if field_text(form, k)}
    suffix = f"?{urlencode(keep)}" if keep else ""
    return f"/editor/issues/{quote(period.key)}{suffix}"


def message_for_test(
    issue_id: int, edition_id: int, period: Period, edition: Edition, state: WebState
) -> EditionMessage:
    return edition_message(
        state.settings,
        period,
        issue_id,
        edition_id,
        edition,
        test=True,
        categories=("digest-test",),
    )


def recipient_for_test(state: WebState, email: str) -> Recipient:
    """A test recipient gets the sample reader's links: a test must never unsubscribe anyone."""
    sample = ph.Recipient(
        name="",
        unsubscribe_url=f"{state.base_url}/unsubscribe?preview=1",
        preferences_url=f"{state.base_url}/preferences?preview=1",
        view_url=f"{state.base_url}/issues",
    )
    return Recipient(
        subscriber_id=0,
        email=email,
        name="",
        html_values=ph.html_values(sample, "reader"),
        text_values=ph.text_values(sample, "reader"),
        unsubscribe_url=sample.unsubscribe_url,
    )


def send_tests(
    state: WebState, period: Period, chosen: Sequence[tuple[int, Edition]], email: str
) -> list[str]:
    """Send each chosen edition to `email`, marked as a test; the ledger is not touched.

    Returns one problem line per edition that did not go out. All editions go through the
    send orchestrator's own test path (`send_period(test_to=...)`), so the editor's test is
    the CLI's; one edition (which that path cannot pick) is sent here the same way.
    """
    if len(chosen) > 1:
        return send_all_tests(state, period, email)
    row, _ = edition_rows(state, period)
    provider = state.provider()
    problems = []
    try:
        recipient = recipient_for_test(state, email)
        for edition_id, edition in chosen:
            message = message_for_test(row.id, edition_id, period, edition, state)
            (result,) = provider.send(message, [recipient])
            if result.outcome is not Outcome.ACCEPTED:
                problems.append(
                    f"{edition.tier}.{edition.locale}: {result.reason or result.outcome}"
                )
    finally:
        provider.close()
    return problems


def send_all_tests(state: WebState, period: Period, email: str) -> list[str]:
    try:
        report = send_period(state.settings, state.engine, period, state.provider(), test_to=email)
    except SendError as exc:
        return [str(exc)]
    if report.failed or report.uncertain:
        return [n for n in report.notes if not n.startswith("test send:")] or ["not accepted"]
    return []


async def send_test(request: Request) -> Response:
    if current_editor(request) is None:
        raise HTTPException(403)
    state = web(request)
    period = _period(request)
    form = await checked_form(request)
    back = _issue_url(period, form)
    try:
        email = normalize_email(field_text(form, "email"))
    except InvalidAddress as exc:
        return redirect_with_flash(request, back, f"Test not sent: {exc}", "fail")
    _, editions = edition_rows(state, period)
    all_classes = [(i, e) for i, e in editions if not e.interests]
    if field_text(form, "which") == "all":
        chosen = all_classes
    else:
        picked = pick_edition(all_classes, field_text(form, "tier"), field_text(form, "locale"))
        chosen = [picked] if picked else []
    if not chosen:
        return redirect_with_flash(request, back, "Test not sent: the issue is not built", "fail")
    problems = await run_in_threadpool(send_tests, state, period, chosen, email)
    if problems:
        return redirect_with_flash(request, back, "Test failed: " + "; ".join(problems), "fail")
    what = "all 6 editions" if len(chosen) > 1 else f"{chosen[0][1].tier}.{chosen[0][1].locale}"
    return redirect_with_flash(request, back, f"Test of {what} sent to {email}")


NO_APPROVAL = (
    "{key}: nothing to approve: schedule.approval_required is off, so the scheduler sends a "
    "built issue at its trigger time without waiting for an editor; nothing was changed"
)
"""The approve POST's refusal without the gate: a stale form or a hand-made POST, not the page."""


async def approve_issue(request: Request) -> Response:
    if (who := current_editor(request)) is None:
        raise HTTPException(403)
    state = web(request)
    period = _period(request)
    form = await checked_form(request)
    back = _issue_url(period, form)
    if not state.settings.schedule.approval_required:
        return redirect_with_flash(request, back, NO_APPROVAL.format(key=period.key), "fail")
    try:
        approval = approve(state.engine, period.key, who, state.now())
    except ApprovalError as exc:
        return redirect_with_flash(request, back, str(exc), "fail")
    if approval.already:
        return redirect_with_flash(
            request, back, f"Already approved by {approval.approved_by}", "warn"
        )
    return redirect_with_flash(request, back, f"Approved {period.key}: the scheduler may send it")


async def rebuild_issue(request: Request) -> Response:
    if current_editor(request) is None:
        raise HTTPException(403)
    state = web(request)
    period = _period(request)
    form = await checked_form(request)
    back = _issue_url(period, form)
    try:
        result = await run_in_threadpool(
            build, state.settings, period, engine=state.engine, force=True
        )
    except (FrozenError, RenderError) as exc:
        return redirect_with_flash(request, back, f"Not rebuilt: {exc}", "fail")
    if result.failed:
        problems = [
            f"{e.tier}.{e.locale}: {c.name}: {c.message}"
            for e in result.editions
            for c in e.failures
        ]
        return redirect_with_flash(
            request, back, "Not frozen, checks failed: " + "; ".join(problems[:10]), "fail"
        )
    return redirect_with_flash(request, back, f"Rebuilt {len(result.editions)} editions")


# --- the editor's controls (`digest issue …` on the page) -------------------------------------


@dataclass(frozen=True)
class ControlRow:
    """One signal of the period as the controls see it."""

    signal: Signal
    excluded: bool
    lead: bool
    merged_into: str | None
    keeps: tuple[str, ...]
    """Signals merged into this one by hand."""
    split: bool
    """Kept out of automatic merges by an editor (`unmerge`)."""
    fate: str = ""
    """Why the last build showed it in no edition (merged, excluded, hidden…); "" if shown."""


def controls_context(
    state: WebState,
    period: Period,
    row: Any,
    found: Sequence[Signal],
    late_ids: Collection[str],
) -> dict[str, Any]:
    """What the page's controls section shows: each signal's state under the controls, the
    notes, and whether changes are still possible (not once sending began)."""
    controls = load_controls(state.engine, period)
    accounting = load_accounting(state.engine, period)
    # Only what left a signal out of every edition: the rest (interest sets, a tier's limit) is
    # in `digest issue show` and the manifest. A signal the build never saw (`late_ids`, from
    # store.stored_since_build) is in none either, and the accounting cannot say so.
    fates = {f.id: f.reason for f in accounting.signals if not f.shown_in} if accounting else {}
    fates.update({sid: STORED_SINCE_BUILD for sid in late_ids})
    rows = [
        ControlRow(
            s,
            s.id in controls.excluded,
            s.id == controls.lead,
            controls.merges.get(s.id),
            tuple(sorted(d for d, k in controls.merges.items() if k == s.id)),
            s.id in controls.unmerged,
            fates.get(s.id, ""),
        )
        for s in found
        if not s.internal
    ]
    return {
        "control_rows": rows,
        "suggestions": open_suggestions(accounting, controls),
        "disagreements": disagreements(accounting),
        "controls": controls,
        "controls_frozen": row is not None and row.send_started_at is not None,
        "stale_at": row.stale_at if row is not None else None,
        "note_max": NOTE_MAX,
        "note_langs": [(loc, LOCALE_NAMES[loc]) for loc in LANGS],
    }


def open_suggestions(accounting: Accounting | None, controls: IssueControls) -> list[Suggestion]:
    """The build's suggested merges an editor has not settled yet (neither side merged by hand,
    excluded or kept apart since): each gets a one-click merge."""
    if accounting is None:
        return []
    settled = controls.excluded | controls.unmerged | set(controls.merges)
    return [s for s in accounting.suggested_merges if not {s.keep, s.drop} & settled]


def disagreements(accounting: Accounting | None) -> dict[str, list[float]]:
    """Merged stories whose records disagree on confidence: kept id -> every record's score."""
    if accounting is None:
        return {}
    return {
        kept: list(story["confidences"])
        for kept, story in accounting.stories.items()
        if story.get("disagreement")
    }


def _control_change(state: WebState, period: Period, form: Any, who: str) -> tuple[cs.Change, str]:
    """Run the change the form asks for; the same library calls (and refusals) as the CLI."""
    action = field_text(form, "action")
    signal_id = field_text(form, "id")
    if action == "exclude":
        return cs.exclude(state.engine, period, [signal_id], by=who), f"excluded {signal_id}"
    if action == "include":
        return cs.include(state.engine, period, [signal_id], by=who), f"included {signal_id}"
    if action == "lead":
        return cs.set_lead(state.engine, period, signal_id, by=who), (
            f"{signal_id} is the lead story"
        )
    if action == "clear-lead":
        return cs.set_lead(state.engine, period, None, by=who), "lead cleared"
    if action == "merge":
        keep = field_text(form, "keep")
        drops = [str(d).strip() for d in form.getlist("drop") if str(d).strip()]
        done = f"merged {', '.join(drops)} into {keep}"
        return cs.merge(state.engine, period, keep, drops, by=who), done
    if action == "unmerge":
        return cs.unmerge(
            state.engine, period, signal_id, by=who
        ), f"{signal_id} is shown on its own"
    if action in ("note", "clear-note"):
        lang = field_text(form, "lang")
        raw = form.get("note") if action == "note" else None
        text = raw if isinstance(raw, str) and raw.strip() else None
        done = f"{lang} note {'set' if text else 'cleared'}"
        return cs.set_note(state.engine, period, lang, text, by=who), done
    raise ControlsError(f"unknown action {action!r}")


async def change_controls(request: Request) -> Response:
    """POST one change to the issue's controls; the outcome comes back as the page's flash."""
    if (who := current_editor(request)) is None:
        raise HTTPException(403)
    state = web(request)
    period = _period(request)
    form = await checked_form(request)
    back = _issue_url(period, form)
    back += ("&" if "?" in back else "?") + "changed=controls#controls"  # the outcome shows there
    try:
        change, done = await run_in_threadpool(_control_change, state, period, form, who)
    except (ControlsError, FrozenError) as exc:
        text = (
            f"{period.key}: {exc}; nothing was changed"
            if isinstance(exc, ControlsError)
            else str(exc)
        )
        response = redirect_with_flash(request, back, text, "fail")
        _keep_draft(response, state, form)
        return response
    gated = state.settings.schedule.approval_required
    lines = change.consequences(period.key, approval_required=gated)
    message = " ".join([f"{period.key}: {done}.", *lines])
    # A withdrawn approval holds the send back (a warning); stale editions the scheduler rebuilds.
    level = "warn" if change.unapproved and gated else "ok"
    response = redirect_with_flash(request, back, message, level)
    response.delete_cookie(NOTE_DRAFT_COOKIE, path="/editor/")
    return response


NOTE_DRAFT_COOKIE = "digest_note_draft"
"""A refused note's text, so the editor fixes it instead of typing it again (signed, 2 min)."""


def _keep_draft(response: Response, state: WebState, form: Any) -> None:
    raw = form.get("note")
    if field_text(form, "action") != "note" or not isinstance(raw, str):
        return
    value = str(state.flash.dumps({"l": field_text(form, "lang"), "t": raw[: NOTE_MAX * 3]}))
    if len(value) > 3800:  # beyond what a browser keeps in one cookie: no draft rather than none
        return
    response.set_cookie(
        NOTE_DRAFT_COOKIE,
        value,
        max_age=120,
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies,
        path="/editor/",
    )


def note_draft(request: Request) -> dict[str, str]:
    """The refused note kept by `_keep_draft`, by language ({} when there is none)."""
    raw = request.cookies.get(NOTE_DRAFT_COOKIE)
    if not raw:
        return {}
    try:
        data = web(request).flash.loads(raw)
    except BadSignature:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return {}
    return {str(data.get("l", "")): str(data["t"])}


def routes() -> list[BaseRoute]:
    return [
        *login.routes(),
        Route("/editor/", issues_page),
        Route("/editor/issues/{period}", issue_page),
        Route("/editor/issues/{period}/editions/{tier}/{locale}", edition_frame),
        Route("/editor/issues/{period}/test", send_test, methods=["POST"]),
        Route("/editor/issues/{period}/approve", approve_issue, methods=["POST"]),
        Route("/editor/issues/{period}/rebuild", rebuild_issue, methods=["POST"]),
        Route("/editor/issues/{period}/controls", change_controls, methods=["POST"]),
    ]
