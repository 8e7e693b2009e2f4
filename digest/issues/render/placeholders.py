"""Per-recipient placeholders: the only per-person parts of an edition.

MJML and Jinja run once per edition; the sender fills these tokens per recipient by plain string
replacement (SMTP and the outbox) or as SendGrid `substitutions`. HTML and text parts use
distinct tokens because their values are escaped differently: an `_HTML` value must be
HTML-escaped (it may sit in an attribute), a `_TEXT` value is inserted as is. Signal text can
never produce a token: the view builder breaks any `%%` in it (see `defuse`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

NAME_HTML = "%%name_html%%"
UNSUBSCRIBE_URL_HTML = "%%unsubscribe_url_html%%"
PREFERENCES_URL_HTML = "%%preferences_url_html%%"
VIEW_URL_HTML = "%%view_url_html%%"
NAME_TEXT = "%%name_text%%"
UNSUBSCRIBE_URL_TEXT = "%%unsubscribe_url_text%%"
PREFERENCES_URL_TEXT = "%%preferences_url_text%%"
VIEW_URL_TEXT = "%%view_url_text%%"
"""The reader's own web view of their tier's edition (`{base_url}/view/<signed token>`): "View
in browser", and paid readers' item links as `%%view_url_html%%#<anchor>`, one signature for
every item (`digest.audience.tokens.ViewScope`)."""

HTML_TOKENS: tuple[str, ...] = (
    NAME_HTML,
    UNSUBSCRIBE_URL_HTML,
    PREFERENCES_URL_HTML,
    VIEW_URL_HTML,
)
TEXT_TOKENS: tuple[str, ...] = (
    NAME_TEXT,
    UNSUBSCRIBE_URL_TEXT,
    PREFERENCES_URL_TEXT,
    VIEW_URL_TEXT,
)
ALL_TOKENS: tuple[str, ...] = HTML_TOKENS + TEXT_TOKENS

_WORD_JOINER = "\u2060"


def defuse(text: str) -> str:
    """Signal text with `%%` broken by an invisible word joiner, so no substitution touches it."""
    return text.replace("%%", f"%{_WORD_JOINER}%") if "%%" in text else text


@dataclass(frozen=True)
class Recipient:
    """What one recipient's copy needs: a display name (may be empty) and their signed links."""

    name: str
    unsubscribe_url: str
    preferences_url: str
    view_url: str


def html_values(recipient: Recipient, fallback_name: str) -> Mapping[str, str]:
    name = recipient.name.strip() or fallback_name
    return {
        NAME_HTML: html.escape(name),
        UNSUBSCRIBE_URL_HTML: html.escape(recipient.unsubscribe_url),
        PREFERENCES_URL_HTML: html.escape(recipient.preferences_url),
        VIEW_URL_HTML: html.escape(recipient.view_url),
    }


def text_values(recipient: Recipient, fallback_name: str) -> Mapping[str, str]:
    name = " ".join(recipient.name.split()) or fallback_name  # no CR/LF from a name
    return {
        NAME_TEXT: name,
        UNSUBSCRIBE_URL_TEXT: recipient.unsubscribe_url,
        PREFERENCES_URL_TEXT: recipient.preferences_url,
        VIEW_URL_TEXT: recipient.view_url,
    }


@lru_cache(maxsize=64)
def token_pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a token that is a prefix of another never wins the alternation.
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered))


def fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with each token (a key of `values`) replaced by its value, in one pass.

    The one helper both previews and every provider use. One pass means a value that happens to
    contain a token is never substituted again, so a subscriber's name can't pull another
    placeholder's value into the message. The compiled pattern is cached per token set: every
    recipient of an edition shares it.
    """
    if not values:
        return template
    tokens = tuple(sorted(k for k in values if k))
    if not tokens:
        return template
    return token_pattern(tokens).sub(lambda m: values[m.group(0)], template)


def personalize(
    html_part: str, text_part: str, recipient: Recipient, fallback_name: str = "reader"
) -> tuple[str, str]:
    """One recipient's HTML and text, from an edition's frozen parts."""
    return (
        fill(html_part, html_values(recipient, fallback_name)),
        fill(text_part, text_values(recipient, fallback_name)),
    )
