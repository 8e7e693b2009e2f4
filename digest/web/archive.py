"""Public pages: the archive of sent issues (Open tier), its Atom feed, and one signal's page.

What is public is decided by the same policy as the emails: pages are built from the Open tier's
edition or its view of a signal (`build_item` with the Open policy), so a member-only field can
no more reach a public page than an Open email. Unsent issues are not public; a signal's page and
an issue's class pages (what the emails link to) become public when the issue's sending begins,
so a reader's click works mid-send while next week's signals stay embargoed, and so do
signals stored after the issue was built, which are in none of its emails. Editors see them all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.issues.build import preview_copy
from digest.issues.group import group
from digest.issues.policy import policies
from digest.issues.render.i18n import format_span, translations
from digest.issues.render.view import Item, build_item, class_name
from digest.issues.store import covering_issue_sending, load_accounting, load_signal_snapshot
from digest.issues.store import sent_issues as sent_issue_rows
from digest.model import Lang, Signal
from digest.period import Period, PeriodError, parse_period
from digest.signals.store import get_signal, ids_between, signals_between, stored_dates
from digest.web.deps import WebState, render, web
from digest.web.edition_page import edition_page
from digest.web.editor import edition_response, edition_rows, pick_edition
from digest.web.lang import page_lang
from digest.web.login import current_editor

SENT = ("sent",)
SENDING = ("sending", "sent")


def sent_issues(state: WebState) -> list[Any]:
    """Issues that went out, newest first (only these are public)."""
    with state.engine.connect() as conn:
        return sent_issue_rows(conn, SENT)


def _is_public(row: Any) -> bool:
    return row is not None and (row.status in SENT or row.sent_at is not None)


def _sending_begun(row: Any) -> bool:
    """Whether the issue's emails (and so its links) have started going out."""
    return row.status in SENDING or row.send_started_at is not None or row.sent_at is not None


def in_issue_being_sent(conn: Connection, signal_id: str) -> bool:
    """Whether this signal belongs to an issue whose sending has begun and was stored before
    that issue was built (one stored later, even dated inside the week, is in none of its
    emails and stays embargoed)."""
    dates = stored_dates(conn, signal_id)
    if dates is None:
        return False
    return covering_issue_sending(conn, *dates, SENDING)


def stored_after_build(conn: Connection, row: Any) -> set[str]:
    """Ids of the issue's period's signals stored after it was built: in none of its emails
    (all of them when it was never built)."""
    return ids_between(conn, row.period_start, row.period_end, stored_after=row.built_at)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _entries(state: WebState, lang: Lang = "en") -> list[dict[str, Any]]:
    out = []
    for row in sent_issues(state):
        _, editions = edition_rows(state, parse_period(row.period_key))
        chosen = pick_edition(editions, "open", lang)
        if chosen is None:
            continue
        edition = chosen[1]
        when = _aware(row.sent_at) or _aware(row.built_at) or dt.datetime.now(dt.UTC)
        out.append(
            {
                "period": row.period_key,
                "url": f"/archive/{quote(row.period_key)}"
                + ("" if lang == "en" else f"?lang={lang}"),
                "subject": edition.subject,
                "preheader": edition.preheader,
                "when": when,
            }
        )
    return out


async def archive_index(request: Request) -> Response:
    lang = page_lang(request)
    title = translations(lang).gettext("Archive")
    entries = _entries(web(request), lang)
    return render(request, "web/archive.html.j2", {"title": title, "entries": entries}, lang=lang)


def _class_title(state: WebState, period: Period, wanted: str | None, lang: Lang) -> str:
    """`16 – 22 Nov 2026: Supply Chain` in the reader's language (the class named as in the
    section headings, `editions.class_names`)."""
    _ = translations(lang).gettext
    name = class_name(wanted, lang, state.settings)[0] if wanted else _("all classes")
    return f"{format_span(period.start, period.end, lang)}{'：' if lang == 'zh' else ': '}{name}"


async def archive_feed(request: Request) -> Response:
    state = web(request)
    entries = _entries(state)
    updated = max((e["when"] for e in entries), default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    xml = state.env.get_template("web/feed.atom.j2").render(
        publication=state.settings.publication.name,
        base_url=state.base_url,
        entries=entries,
        updated=updated,
    )
    return Response(xml, media_type="application/atom+xml; charset=utf-8")


def _public_issue(request: Request) -> tuple[Any, Any]:
    state = web(request)
    try:
        period = parse_period(str(request.path_params["period"]))
    except PeriodError:
        raise HTTPException(404) from None
    row, editions = edition_rows(state, period)
    if not _is_public(row):
        raise HTTPException(404)
    return row, editions


async def archive_issue(request: Request) -> Response:
    """The Open edition as a page that reflows (no fixed-width iframe), titled by its lead."""
    state = web(request)
    row, editions = _public_issue(request)
    lang = page_lang(request)
    chosen = pick_edition(editions, "open", lang)
    if chosen is None:
        raise HTTPException(404)
    edition = chosen[1]
    with state.engine.connect() as conn:
        page = edition_page(state, conn, parse_period(row.period_key), edition, lang)
    return render(
        request,
        "web/archive_issue.html.j2",
        {
            "title": page.title,
            "page": page,
            "period": row.period_key,
            "email_url": f"/archive/{quote(row.period_key)}/edition/{lang}",
        },
        lang=lang,
    )


async def archive_edition(request: Request) -> Response:
    """The Open edition's HTML for the archive page's sandboxed iframe."""
    _, editions = _public_issue(request)
    chosen = pick_edition(editions, "open", str(request.path_params["locale"]))
    if chosen is None:
        raise HTTPException(404)
    base = web(request).base_url
    html, _ = preview_copy(
        chosen[1], base, f"{base}/archive/{quote(str(request.path_params['period']))}"
    )
    return edition_response(html)


def open_item(state: WebState, signal: Any, lang: Lang) -> Item:
    """A signal as the Open tier sees it: public fields only, by construction."""
    return build_item(signal, policies(state.settings)["open"], lang, state.base_url)


def _class_label(state: WebState, signal: Signal, lang: Lang) -> str:
    """The signal's class as the emails name it, a plain string the page escapes: the class is
    signal text, so it must never pass through the templates' `_()` (whose result is Markup,
    and a format string)."""
    return class_name(signal.market_class, lang, state.settings)[0] if signal.market_class else ""


async def signal_page(request: Request) -> Response:
    state = web(request)
    with state.engine.connect() as conn:
        signal = get_signal(conn, str(request.path_params["signal_id"]))
        public = signal is not None and in_issue_being_sent(conn, signal.id)
    if signal is None or signal.internal or not (public or current_editor(request)):
        raise HTTPException(404)  # the same answer for "embargoed" as for "no such signal"
    lang = page_lang(request)
    item = open_item(state, signal, lang)
    return render(
        request,
        "web/signal.html.j2",
        {"title": item.title.text, "item": item, "market_class": _class_label(state, signal, lang)},
        lang=lang,
    )


async def issue_class_page(request: Request) -> Response:
    """Every signal of one market class in an issue (the emails' "N more in …" links)."""
    state = web(request)
    try:
        period = parse_period(str(request.path_params["period"]))
    except PeriodError:
        raise HTTPException(404) from None
    row, _ = edition_rows(state, period)
    editor = current_editor(request)
    if row is None or not (_sending_begun(row) or editor):
        raise HTTPException(404)
    wanted = request.query_params.get("class")
    lang = page_lang(request)
    sections = [
        (class_name(name, lang, state.settings)[0], [open_item(state, sig, lang) for sig in found])
        for name, found in _issue_sections(state, period, row, editor is not None)
        if wanted is None or name == wanted
    ]
    return render(
        request,
        "web/issue_class.html.j2",
        {
            "title": _class_title(state, period, wanted, lang),
            "sections": sections,
            "period": period.key,
        },
        lang=lang,
    )


def _issue_sections(
    state: WebState, period: Period, row: Any, editor: bool
) -> list[tuple[str, list[Signal]]]:
    """The issue's sections as its build froze them (merges, exclusions and order included),
    each signal's text as the build showed it (the issue's snapshot).

    An issue frozen before builds recorded their signals shows the signal store's text as it is
    now; one frozen before they recorded their accounting is grouped now, as it was then.
    """
    accounting = load_accounting(state.engine, period)
    with state.engine.connect() as conn:
        found = signals_between(conn, period.start, period.end, include_internal=False)
        embargoed = set() if editor else stored_after_build(conn, row)
        snapshot = load_signal_snapshot(conn, period)
    by_id = {s.id: s for s in found if s.id not in embargoed}
    if accounting is not None:
        built = by_id if snapshot is None else snapshot
        sections = {n: [built[i] for i in ids if i in built] for n, ids in accounting.sections}
        accounted = {f.id for f in accounting.signals}
        for late in (s for s in by_id.values() if s.id not in accounted):  # editors only
            sections.setdefault(late.market_class or "", []).append(late)
        return list(sections.items())
    settings = state.settings.editions
    grouped = group(list(by_id.values()), settings.class_order, settings.duplicate_threshold)
    return [(s.market_class, list(s.signals)) for s in grouped.sections]


def routes() -> list[BaseRoute]:
    return [
        Route("/archive/", archive_index),
        Route("/archive/feed.atom", archive_feed),
        Route("/archive/{period}", archive_issue),
        Route("/archive/{period}/edition/{locale}", archive_edition),
        Route("/signals/{signal_id:path}", signal_page),
        Route("/issues/{period}", issue_class_page),
    ]
