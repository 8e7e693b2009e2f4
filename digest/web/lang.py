"""Which language a subscriber page speaks: the subscriber's own, else the one the browser asks for.

Pages reached through a signed link know their reader and use the stored language. Pages without
a token (sign-up, join, the scale) take `?lang=` first (a link from a Chinese email carries
`?lang=zh`), then the browser's `Accept-Language`, negotiated by Werkzeug's parser (quality
values, `zh-CN` → `zh`, `*`) rather than by hand, then English.
"""

from __future__ import annotations

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
    best = parse_accept_header(accept_language, LanguageAccept).best_match(list(LANGS))
    return as_lang(best)


def page_lang(request: Request) -> Lang:
    """A token-less page's language: `?lang=`, then `Accept-Language`, then English."""
    return (
        as_lang(request.query_params.get("lang"))
        or negotiated(request.headers.get("accept-language"))
        or DEFAULT
    )
