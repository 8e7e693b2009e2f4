"""Editor pages: issues by period, one issue's editions as subscribers get them, and the buttons.

Everything here sits behind the login (unless the app serves only this machine and no
credential is configured). Actions are the library's own calls: `digest.issues.build.build` to
rebuild, `digest.jobs.approval.approve` for the scheduler's gate, a provider for test
sends, so the browser and the CLI can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.audience.addresses import InvalidAddress, normalize_email
from digest.delivery import EditionMessage, Outcome, Recipient
from digest.delivery.events import edition_stats
from digest.delivery.plan import edition_message
from digest.delivery.report import SendError
from digest.delivery.run import send_period
from digest.issues.build import build, preview_copy
from digest.issues.editions import Edition
from digest.issues.render import placeholders as ph
from digest.issues.render.engine import RenderError
from digest.issues.store import FrozenError, issue_and_editions
from digest.jobs.approval import ApprovalError, approve
from digest.model import LANGS, MEMBERSHIP_TIERS, TIER_NAMES, Signal
from digest.period import Period, PeriodError, parse_period
from digest.signals.store import published_counts, signals_between
from digest.storage.schema import deliveries, issues
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


def issue_summaries(state: WebState) -> list[IssueSummary]:
    """Every stored issue, newest period first, with its deliveries counted by state, plus
    the store's weeks that have signals but no issue yet ("not built")."""
    with state.engine.connect() as conn:
        counts: dict[int, dict[str, int]] = {}
        for issue_id, delivery_state, n in conn.execute(
            select(deliveries.c.issue_id, deliveries.c.state, func.count()).group_by(
                deliveries.c.issue_id, deliveries.c.state
            )
        ):
            counts.setdefault(issue_id, {})[delivery_state] = n
        rows = conn.execute(select(issues).order_by(issues.c.period_start.desc())).all()
        dates = published_counts(conn)
    out = [
        IssueSummary(
            r.period_key, r.status, r.built_at, r.approved_by, r.sent_at, counts.get(r.id, {})
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
            out.append(IssueSummary(key, "not built", None, None, None, {}, n))
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
        {"title": "Issues", "issues": issue_summaries(state), "quote": quote},
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
        stats: dict[str, int] = dict(
            conn.execute(
                select(deliveries.c.state, func.count())
                .where(deliveries.c.issue_id == (row.id if row is not None else -1))
                .group_by(deliveries.c.state)
            ).all()
        )
    base = f"/editor/issues/{quote(period.key)}"
    per_edition = [e for e in edition_stats(state.engine, period) if e.sent]
    context = {
        "per_edition": per_edition,
        "title": f"Issue {period.key}",
        "period": period,
        "issue": row,
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
    }
    return render(request, "web/issue.html.j2", context)


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
    html, _ = preview_copy(chosen[1], state.base_url)
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


async def approve_issue(request: Request) -> Response:
    if (who := current_editor(request)) is None:
        raise HTTPException(403)
    state = web(request)
    period = _period(request)
    form = await checked_form(request)
    back = _issue_url(period, form)
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


def routes() -> list[BaseRoute]:
    return [
        *login.routes(),
        Route("/editor/", issues_page),
        Route("/editor/issues/{period}", issue_page),
        Route("/editor/issues/{period}/editions/{tier}/{locale}", edition_frame),
        Route("/editor/issues/{period}/test", send_test, methods=["POST"]),
        Route("/editor/issues/{period}/approve", approve_issue, methods=["POST"]),
        Route("/editor/issues/{period}/rebuild", rebuild_issue, methods=["POST"]),
    ]
