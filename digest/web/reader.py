"""`/view/<token>`: a paying reader's own edition on the web, at their tier, in their language.

Member emails link here (one signed token per recipient, `#<signal_anchor>` per item), never to the
public `/signals/<id>` page, which shows less than their email. The token names the subscriber,
the period, the tier and the language the email was sent with (`LinkSigner.verify_view`); the page
shows that frozen edition's items as that tier sees them (digest.web.edition_page), so it holds
exactly what the email held. A link that does not verify is refused (403); one whose reader has
since been forgotten, or whose edition no longer exists, is gone (410). Either way nothing about
the edition is shown.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.audience.tokens import ViewGrant
from digest.issues.render.i18n import translations
from digest.model import Lang
from digest.period import PeriodError, parse_period
from digest.web.deps import render, web
from digest.web.edition_page import edition_page
from digest.web.editor import edition_rows, pick_edition
from digest.web.lang import page_lang

NO_INDEX = {"x-robots-tag": "noindex, nofollow"}


def _refused(request: Request, status: int, lang: Lang) -> Response:
    _ = translations(lang).gettext
    if status == 403:
        title = _("This link is not valid")
        detail = _(
            "The link may have been copied only in part, or it has expired. Open it again from "
            "your latest issue, or ask us for a new one by replying to any issue."
        )
    else:
        title = _("This edition is no longer available")
        detail = _(
            "The reader or the edition this link was made for is no longer stored. Later "
            "issues will bring new links."
        )
    return render(
        request,
        "web/error.html.j2",
        {"title": title, "detail": detail},
        status=status,
        headers=NO_INDEX,
        lang=lang,
    )


def _grant(request: Request) -> ViewGrant | None:
    state = web(request)
    token = str(request.path_params["token"])
    return state.links.verify_view(token)


async def view_page(request: Request) -> Response:
    state = web(request)
    grant = _grant(request)
    if grant is None:
        return _refused(request, 403, page_lang(request))
    lang = grant.locale
    try:
        period = parse_period(grant.period_key)
    except PeriodError:
        return _refused(request, 403, lang)
    with state.engine.connect() as conn:
        reader = state.links.resolve(conn, grant.claims)  # gone, or the address changed: None
    _, editions = edition_rows(state, period)
    chosen = pick_edition(editions, grant.tier, lang)
    if reader is None or chosen is None:
        return _refused(request, 410, lang)
    with state.engine.connect() as conn:
        page = edition_page(state, conn, period, chosen[1], lang)
    return render(
        request,
        "web/view.html.j2",
        {"title": page.title, "page": page},
        headers=NO_INDEX,
        lang=lang,
    )


def routes() -> list[BaseRoute]:
    return [Route("/view/{token}", view_page)]
