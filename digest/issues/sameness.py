"""Sameness: the keys under which two records are the *same* signal, not merely alike.

Automatic merging (digest.issues.group) joins records only on these exact keys, so a distinct
signal can never be folded away because its wording resembles another's (issue 13: formulaic
titles made a fuzzy matcher fold 36 of 40 distinct signals). Similar-but-not-same records are
only suggested to the editor (digest.issues.similar).

URLs are canonicalized with the standard library's `urllib.parse`: the rules are few and exact
(scheme and host lower-cased; default port, fragment, trailing `/`, `utm_*`, `fbclid` and
`gclid` dropped), and `w3lib.canonicalize_url` would add a dependency that also sorts and
re-encodes the query (two different pages could then compare equal), which is not our rule.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from digest.model import LANGS, Signal
from digest.text import language_of, normalize_title

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING = frozenset({"fbclid", "gclid"})
"""Query parameters that name the click, not the page (plus every `utm_*`)."""


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING


def canonical_url(url: str | None) -> str | None:
    """The URL as a page's identity: None when there is none.

    A URL that does not parse as scheme://host is compared as written (stripped), so two
    records with the same odd value still count as one page.
    """
    if not url or not url.strip():
        return None
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    if not parts.scheme or not parts.hostname:
        return text
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        auth = parts.username or ""
        host = f"{auth}:{parts.password}@{host}" if parts.password else f"{auth}@{host}"
    # The query's own spelling is kept (parameters are not decoded, re-encoded or sorted):
    # only the tracking ones leave.
    query = "&".join(p for p in parts.query.split("&") if p and not _tracking(p.split("=")[0]))
    return urlunsplit((scheme, host, parts.path.rstrip("/"), query, ""))


def text_keys(signal: Signal) -> frozenset[str]:
    """One key per language the signal has a title in: title and lead, normalized.

    Two records sharing a key say the same thing in that language (a page scraped twice, a
    feed item repeated). The market class is part of the key: the same words filed under two
    classes are kept apart, as an editor filed them.
    """
    keys = set()
    klass = (signal.market_class or "").casefold()
    titles: dict[str, str] = {str(k): v for k, v in signal.titles.items()}
    if not titles:
        titles[language_of(signal.title)] = signal.title
    for lang in LANGS:
        title = titles.get(lang)
        if not title:
            continue
        lead = signal.summary.get(lang) or signal.body.get(lang) or [""]
        text = normalize_title(f"{title} {lead[0]}")
        if text:
            keys.add(f"{klass}\x1f{lang}\x1f{text}")
    return frozenset(keys)
