"""Subscriber pages: one-click unsubscribe, preferences, double opt-in sign-up. No login.

Every link carries a signed token (digest.audience.tokens) naming one subscriber; a token that
does not verify, or names someone no longer stored, is a 404 and changes nothing. The
unsubscribe URL also answers RFC 8058 one-click POSTs from mailbox providers, which carry no
CSRF token: there the signed token in the URL is the proof.

Sign-up never says whether an address is known: every accepted request gets the same page, and
only the click on the emailed confirmation (then a button: mail scanners fetch links, they do
not press buttons) subscribes or lifts an earlier opt-out, once per link and never over an
opt-out made after the link was sent (digest.audience.consent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from digest.audience import store
from digest.audience.addresses import InvalidAddress, mailbox_key, normalize_email
from digest.audience.consent import LinkSpent, confirm_opt_in, link_spent
from digest.audience.model import Locale, Status, Subscriber, parse_interests
from digest.audience.tokens import Claims, InvalidToken, Purpose
from digest.delivery import EditionMessage, Outcome, Recipient
from digest.delivery.events import record_own_unsubscribe
from digest.issues.render.i18n import LANG_TAGS, translations
from digest.issues.render.view import class_name
from digest.model import TIER_NAMES, Lang
from digest.signals.store import stored_classes
from digest.web.deps import (
    WebState,
    checked_form,
    client_address,
    field_text,
    render,
    require_csrf,
    web,
)
from digest.web.lang import as_lang, page_lang
from digest.web.security import limit_key

log = logging.getLogger(__name__)

CONFIRMED_SOURCE = "web double opt-in"
UNSUBSCRIBE_REASON = "unsubscribe link"
ONE_CLICK_REASON = "one-click unsubscribe (RFC 8058)"
LANGUAGES = (("en", "English"), ("zh", "中文"))


def gettext(lang: Lang) -> Callable[[str], str]:
    """The catalog's gettext for `lang` (page titles and messages made in Python)."""
    return translations(lang).gettext


def reader_lang(subscriber: Subscriber, request: Request | None = None) -> Lang:
    """A token page speaks the language the subscriber reads the issues in, unless the link
    asks for another with `?lang=` (the browser's Accept-Language does not count: the reader's
    own choice does). After a form is saved, the language just chosen (no `request`)."""
    asked = as_lang(request.query_params.get("lang")) if request is not None else None
    return asked or as_lang(subscriber.locale.value) or "en"


def verified(request: Request, purpose: Purpose) -> Subscriber:
    """The subscriber a genuine token names, or 404 (forged, other purpose, unknown person)."""
    state = web(request)
    try:
        claims = state.links.verify(purpose, str(request.path_params["token"]))
    except InvalidToken:
        raise HTTPException(404) from None
    with state.engine.connect() as conn:
        found = state.links.resolve(conn, claims)  # the token binds the stored address
    if found is None:
        raise HTTPException(404)
    return found


def unsubscribe(state: WebState, subscriber: Subscriber, reason: str) -> None:
    """Stop mail to this person; a second time (or after a bounce) changes nothing."""
    if not subscriber.status.mailable:
        return
    with state.engine.begin() as conn:
        store.set_status(conn, subscriber.email, Status.UNSUBSCRIBED, reason, state.now())
        record_own_unsubscribe(conn, subscriber.id, reason, state.now())


async def unsubscribe_page(request: Request) -> Response:
    subscriber = verified(request, Purpose.UNSUBSCRIBE)
    lang = reader_lang(subscriber, request)
    _ = gettext(lang)
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=50, max_part_size=4096)
        if form.get("List-Unsubscribe") == "One-Click":  # RFC 8058: the mailbox provider's POST
            unsubscribe(web(request), subscriber, ONE_CLICK_REASON)
            return PlainTextResponse("Unsubscribed.\n")
        require_csrf(request, form)
        unsubscribe(web(request), subscriber, UNSUBSCRIBE_REASON)
        return render(
            request,
            "web/unsubscribed.html.j2",
            {"title": _("You are unsubscribed"), "email": subscriber.email},
            lang=lang,
        )
    return render(
        request,
        "web/unsubscribe.html.j2",
        {"title": _("Unsubscribe"), "subscriber": subscriber, "preview": False},
        lang=lang,
    )


def market_classes(state: WebState) -> list[str]:
    """Classes a reader can follow: the configured order, then any the store has seen."""
    with state.engine.connect() as conn:
        seen = {c for c in stored_classes(conn) if c.strip()}
    ordered = list(state.settings.editions.class_order)
    return ordered + sorted(seen - set(ordered))


def class_labels(state: WebState, classes: list[str], lang: Lang) -> dict[str, str]:
    """Each class as the reader's emails name it (`editions.class_names`); the form posts the
    class itself."""
    return {name: class_name(name, lang, state.settings)[0] for name in classes}


async def preferences_page(request: Request) -> Response:
    state = web(request)
    subscriber = verified(request, Purpose.PREFERENCES)
    saved = False
    if request.method == "POST":
        form = await checked_form(request)
        if field_text(form, "action") == "unsubscribe":
            unsubscribe(state, subscriber, UNSUBSCRIBE_REASON)
            lang = reader_lang(subscriber)
            return render(
                request,
                "web/unsubscribed.html.j2",
                {"title": gettext(lang)("You are unsubscribed"), "email": subscriber.email},
                lang=lang,
            )
        classes = set(market_classes(state))
        chosen = [str(v) for v in form.getlist("interests") if isinstance(v, str) and v in classes]
        locale = field_text(form, "locale")
        profile = subscriber.profile._replace(
            locale=Locale(locale) if locale in ("en", "zh") else subscriber.locale,
            interests=parse_interests(chosen) if len(chosen) < len(classes) else (),
        )
        with state.engine.begin() as conn:
            store.add(conn, profile, CONFIRMED_SOURCE)
            fresh = store.get_by_id(conn, subscriber.id)
        assert fresh is not None
        subscriber, saved = fresh, True
    # after a save, the language just chosen; before, the link's `?lang=` or the reader's
    lang = reader_lang(subscriber, None if saved else request)
    return render(
        request,
        "web/preferences.html.j2",
        {
            "title": gettext(lang)("Your preferences"),
            "subscriber": subscriber,
            "classes": market_classes(state),
            "class_labels": class_labels(state, market_classes(state), lang),
            "languages": LANGUAGES,
            "tier_name": TIER_NAMES[subscriber.tier.value],
            "saved": saved,
            "preview": False,
        },
        lang=lang,
    )


async def unsubscribe_preview(request: Request) -> Response:
    """The target of a preview's unsubscribe link: what the real page looks like, inert."""
    lang = page_lang(request)
    return render(
        request,
        "web/unsubscribe.html.j2",
        {"title": gettext(lang)("Unsubscribe"), "preview": True, "subscriber": None},
        lang=lang,
    )


async def preferences_preview(request: Request) -> Response:
    state = web(request)
    lang = page_lang(request)
    return render(
        request,
        "web/preferences.html.j2",
        {
            "title": gettext(lang)("Your preferences"),
            "subscriber": None,
            "classes": market_classes(state),
            "class_labels": class_labels(state, market_classes(state), lang),
            "languages": LANGUAGES,
            "tier_name": "Open",
            "saved": False,
            "preview": True,
        },
        lang=lang,
    )


# --- sign-up ----------------------------------------------------------------------------------


def confirmation_id(email: str) -> int:
    """A stable positive id naming the outbox file of one address's confirmation email."""
    return int.from_bytes(hashlib.blake2b(email.encode(), digest_size=6).digest(), "big")


def send_confirmation(state: WebState, email: str, locale: Lang) -> None:
    """Email the signed confirmation link, in the language the reader chose; a provider failure
    is logged, never shown (the page must read the same whatever happened to the address)."""
    token = state.links.sign(Purpose.CONFIRM, 0, email, issued_at=state.now())
    url = f"{state.base_url}/c/{token}?lang={locale}"
    pub = state.settings.publication
    env = state.env_for(locale)
    values = {
        "publication": pub.name,
        "url": url,
        "postal_address": pub.postal_address,
        "html_lang": LANG_TAGS[locale],
    }
    text = env.get_template("web/confirm_email.txt.j2").render(values)
    html = env.get_template("web/confirm_email.html.j2").render(values)
    message = EditionMessage(
        issue_id=0,
        edition_id=0,
        period_key="confirmations",
        tier="open",
        locale=locale,
        subject=gettext(locale)("Confirm your subscription to %(publication)s")
        % {"publication": pub.name},
        html=html,
        text=text,
        from_email=pub.from_email,
        from_name=pub.from_name,
        reply_to=None,
        categories=("digest-confirm",),
        transactional=True,  # asked for, and from no list: no List-Unsubscribe (see list_headers)
    )
    recipient = Recipient(
        subscriber_id=confirmation_id(email),
        email=email,
        name="",
        html_values={},
        text_values={},
        unsubscribe_url="",  # a transactional message has no list to leave
    )
    provider = state.provider()
    try:
        (result,) = provider.send(message, [recipient])
        if result.outcome is not Outcome.ACCEPTED:
            log.warning("confirmation email not accepted: %s", result.reason or result.outcome)
    except Exception:
        log.exception("confirmation email failed")
    finally:
        provider.close()


async def subscribe_page(request: Request) -> Response:
    state = web(request)
    lang = page_lang(request)
    title = gettext(lang)("Subscribe to %(publication)s") % {
        "publication": state.settings.publication.name
    }
    context = {"title": title, "languages": LANGUAGES, "sent": False, "error": ""}
    if request.method == "GET":
        return render(request, "web/subscribe.html.j2", context, lang=lang)
    form = await checked_form(request)
    # The form's language choice is the reader's: the answer speaks it.
    lang = as_lang(field_text(form, "locale")) or lang
    if not state.per_ip.allow(limit_key(client_address(request))):
        return render(
            request,
            "web/subscribe.html.j2",
            {**context, "error": "Too many sign-ups from your network: try again in an hour."},
            status=429,
            headers={"retry-after": "3600"},
            lang=lang,
        )
    try:
        email = normalize_email(field_text(form, "email"))
    except InvalidAddress:
        return render(
            request,
            "web/subscribe.html.j2",
            {**context, "error": "That does not look like an email address."},
            status=400,
            lang=lang,
        )
    # Over the per-mailbox limit, say exactly what we say otherwise: nothing about the address.
    if state.per_address.allow(mailbox_key(email)):
        send_confirmation(state, email, lang)
    return render(
        request, "web/subscribe.html.j2", {**context, "sent": True, "email": email}, lang=lang
    )


def _confirm_claims(request: Request) -> Claims:
    state = web(request)
    try:
        claims = state.links.verify(Purpose.CONFIRM, str(request.path_params["token"]))
    except InvalidToken:
        raise HTTPException(404) from None
    if claims.email is None:  # only confirm tokens carry an address
        raise HTTPException(404)
    return claims


def confirm(state: WebState, claims: Claims, locale: str) -> None:
    """The person's own confirmed opt-in, once per link (LinkSpent: see audience.consent)."""
    with state.engine.begin() as conn:
        confirm_opt_in(
            conn,
            claims,
            locale=Locale(locale),
            timezone=state.settings.publication.timezone,
            now=state.now(),
            link_max_age=dt.timedelta(hours=state.settings.security.confirm_max_age_hours),
            source=CONFIRMED_SOURCE,
        )


def _spent_page(request: Request) -> Response:
    """One answer for "used already" and "replaced by a later opt-out": whoever holds the link
    learns nothing about the address's status from it."""
    lang = page_lang(request)
    title = gettext(lang)("This link has been used")
    return render(
        request, "web/confirm.html.j2", {"title": title, "spent": True}, status=410, lang=lang
    )


async def confirm_page(request: Request) -> Response:
    state = web(request)
    claims = _confirm_claims(request)
    if request.method == "GET":
        with state.engine.connect() as conn:
            if link_spent(conn, claims):
                return _spent_page(request)
        lang = page_lang(request)
        return render(
            request,
            "web/confirm.html.j2",
            {
                "title": gettext(lang)("Confirm your subscription"),
                "email": claims.email,
                "done": False,
            },
            lang=lang,
        )
    form = await checked_form(request)
    lang = as_lang(field_text(form, "locale")) or "en"
    try:
        confirm(state, claims, lang)
    except LinkSpent:
        return _spent_page(request)
    return render(
        request,
        "web/confirm.html.j2",
        {"title": gettext(lang)("You are subscribed"), "email": claims.email, "done": True},
        lang=lang,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/u/{token}", unsubscribe_page, methods=["GET", "POST"]),
        Route("/p/{token}", preferences_page, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe_preview),
        Route("/preferences", preferences_preview),
        Route("/subscribe", subscribe_page, methods=["GET", "POST"]),
        Route("/c/{token}", confirm_page, methods=["GET", "POST"]),
    ]
