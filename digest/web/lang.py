"""Which language a subscriber page speaks: the subscriber's own, else the one the browser asks for.

Pages reached through a signed link know their reader and use the stored language. Pages without
a token (sign-up, join, the scale) take `?lang=` first (a link from a Chinese email carries
`?lang=zh`), then the browser's `Accept-Language` — parsed by Werkzeug (quality values, in
their order) and negotiated by Babel (`zh-TW` → `zh`), never by hand — then English.
"""

from __future__ import annotations

from babel import negotiate_locale
from starlette.requests import Request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from digest.model import LANGS, Lang

DEFAULT: Lang = "en"


def as_lang(value: str | None) -> Lang | None:
    """`value` when it is one of the languages editions are written in, else None."""
    for lang in LANGS:
        if value == lang:
            return lang
    return None


def negotiated(accept_language: str | None) -> Lang | None:
    """The best of our languages for an `Accept-Language` header, or None when none fits."""
    if not accept_language:
        return None
    wanted = [tag for tag, _quality in parse_accept_header(accept_language, LanguageAccept)]
    best = negotiate_locale(wanted, list(LANGS), sep="-", aliases={})
    return as_lang(best.lower()) if best else None


def page_lang(request: Request) -> Lang:
    """A token-less page's language: `?lang=`, then `Accept-Language`, then English."""
    return (
        as_lang(request.query_params.get("lang"))
        or negotiated(request.headers.get("accept-language"))
        or DEFAULT
    )
