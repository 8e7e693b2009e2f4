"""Inbox checks run on every edition: what would clip, break or leak in a subscriber's inbox.

Gmail clips HTML over about 102 KB, hiding the footer and its unsubscribe link, so size is
budgeted. The member-only leak check is the second half of gating: the view model never holds a
higher tier's field, and this proves after rendering that none of its text came out anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import unescape as html_unescape
from typing import Literal

from markupsafe import escape

from digest.issues.render import placeholders as ph
from digest.issues.render.subject import PREHEADER_COLUMNS, SUBJECT_COLUMNS, PassedOver
from digest.issues.render.widths import width
from digest.model import Signal

Level = Literal["ok", "warn", "fail"]

SIZE_FAIL = 100_000
SIZE_WARN = 80_000
NEEDLE_MIN = 8
NEEDLE_LEN = 40


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "level": self.level, "message": self.message}


def leak_needles(signals: Iterable[Signal], hidden_fields: Sequence[str]) -> list[str]:
    """Distinctive pieces (each line's start) of every field this edition must not show."""
    needles: set[str] = set()
    for signal in signals:
        for field in hidden_fields:
            value = getattr(signal, field)
            if not value:
                continue
            for line in str(value).splitlines():
                line = " ".join(line.split())
                if len(line) >= NEEDLE_MIN:
                    needles.add(line[:NEEDLE_LEN])
    return sorted(needles)


def check_size(html: str) -> Check:
    size = len(html.encode())
    kb = f"{size / 1000:.1f} KB"
    if size > SIZE_FAIL:
        return Check("size", "fail", f"HTML is {kb}: Gmail clips over ~102 KB (budget 100 KB)")
    if size > SIZE_WARN:
        return Check("size", "warn", f"HTML is {kb}: close to Gmail's clipping (warn at 80 KB)")
    return Check("size", "ok", f"HTML is {kb}")


_TOKEN_LINKS = tuple(ph.HTML_TOKENS) + tuple(f"{t}#" for t in ph.HTML_TOKENS)


def _absolute(url: str) -> bool:
    """An absolute URL, or a placeholder that becomes one (`%%view_url_html%%#anchor` too)."""
    return url.startswith(("https://", "http://", "mailto:")) or (
        url.startswith("%%") and (url in ph.HTML_TOKENS or url.startswith(_TOKEN_LINKS))
    )


_ID = re.compile(r' id="([^"]*)"')
"""Element ids as templates write them (double-quoted): a literal start keeps the scan fast; an
id written otherwise only makes its links count as missing targets (stricter, never laxer)."""


def _missing_targets(fragments: list[str], html: str) -> list[str]:
    """Same-document links (`#s-…`, the first screen's) whose target id is not in the HTML."""
    if not fragments:
        return []
    ids = set(_ID.findall(html))
    return [f for f in fragments if f[1:] not in ids]


_TAG = re.compile(r"<(a|area|img)\b((?:[^>\"']+|\"[^\"]*\"|'[^']*')*)>", re.IGNORECASE)
_ATTR = re.compile(r"([\w:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))")


_CHECKED = frozenset({"href", "src", "alt"})


def link_tags(html: str) -> list[tuple[str, dict[str, str]]]:
    """(tag, its href, src and alt) of every a, area and img: a quote-aware tag scan, ~10x
    faster than a full parse. It also sees tags inside comments (Outlook conditionals), which
    only makes the checks stricter; the tests cross-check it against selectolax."""
    found = []
    for match in _TAG.finditer(html):
        attrs = {}
        for m in _ATTR.finditer(match.group(2)):
            name = m.group(1).lower()
            if name in _CHECKED:  # unescaping every style attribute cost more than the scan
                attrs[name] = html_unescape(m.group(2) or m.group(3) or m.group(4) or "")
        found.append((match.group(1).lower(), attrs))
    return found


def check_markup(html: str) -> list[Check]:
    """Alt text on every image, and absolute link targets and image sources."""
    tags = link_tags(html)
    no_alt = [a.get("src", "?") for tag, a in tags if tag == "img" and not a.get("alt", "").strip()]
    targets = [
        a[attr]
        for tag, a in tags
        for attr in (("src",) if tag == "img" else ("href",))
        if attr in a and not _absolute(a[attr])
    ]
    fragments = [t for t in targets if t.startswith("#") and len(t) > 1]
    relative = [t for t in targets if t not in fragments] + _missing_targets(fragments, html)
    return [
        Check("alt-text", "fail", f"images without alt text: {', '.join(map(str, no_alt[:5]))}")
        if no_alt
        else Check("alt-text", "ok", "every image has alt text"),
        Check("absolute-links", "fail", f"relative links: {', '.join(relative[:5])}")
        if relative
        else Check("absolute-links", "ok", "every link is absolute"),
    ]


def check_base_url(base_url: str) -> Check:
    if base_url.startswith("https://"):
        return Check("https", "ok", "links use https")
    return Check("https", "warn", f"base URL {base_url} is not https (fine for local previews)")


_ESCAPABLE = re.compile(r"""[&<>"']""")


@lru_cache(maxsize=16)
def _any_needle(needles: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for every needle in both its forms, raw and HTML-escaped: one scan of an
    edition finds whether any is present (a search per needle cost five times as much)."""
    forms = {form for needle in needles for form in (needle, str(escape(needle)))}
    return re.compile("|".join(map(re.escape, sorted(forms))))


def check_leaks(parts: Sequence[str], needles: Sequence[str]) -> Check:
    """No text of a hidden member field anywhere: HTML (text, attributes, comments), text part,
    subject, preheader. Needles are searched raw and HTML-escaped."""
    hay = "\x00".join(parts)
    if not needles or _any_needle(tuple(needles)).search(hay) is None:
        return Check("member-leak", "ok", f"none of {len(needles)} member-only texts present")
    leaked = []  # something leaked: name every needle found, each searched on its own
    for needle in needles:
        escaped = str(escape(needle))
        if escaped != needle:
            # Both forms contain the needle's longest run free of escapable characters: when
            # that run is absent, so are both (one scan instead of two for most needles).
            core = max(_ESCAPABLE.split(needle), key=len)
            if core not in hay:
                continue
        if needle in hay or (escaped != needle and escaped in hay):
            leaked.append(needle)
    if leaked:
        shown = "; ".join(repr(n) for n in leaked[:3])
        return Check("member-leak", "fail", f"{len(leaked)} member-only texts leaked: {shown}")
    return Check("member-leak", "ok", f"none of {len(needles)} member-only texts present")


def check_subject(subject: str, preheader: str) -> list[Check]:
    """Subject one line and at most SUBJECT_COLUMNS wide (CJK counts 2); preheader not empty."""
    checks = []
    if not subject.strip() or any(c in subject for c in "\r\n"):
        checks.append(Check("subject", "fail", "subject is empty or spans lines"))
    elif width(subject) > SUBJECT_COLUMNS:
        checks.append(Check("subject", "warn", f"subject is over {SUBJECT_COLUMNS} columns"))
    else:
        checks.append(Check("subject", "ok", f"subject: {subject}"))
    if any(c in preheader for c in "\r\n"):
        checks.append(Check("preheader", "fail", "preheader spans lines"))
    elif not preheader.strip() or width(preheader) > PREHEADER_COLUMNS:
        checks.append(
            Check("preheader", "warn", f"preheader empty or over {PREHEADER_COLUMNS} columns")
        )
    else:
        checks.append(Check("preheader", "ok", f"preheader is {len(preheader)} characters"))
    return checks


def check_subject_lead(passed: PassedOver | None) -> list[Check]:
    """A warning when the subject does not lead with the editor's lead story: the editor
    promised it "first in the subject", and can add the missing title or pick another lead.
    Nothing when there is no editor's lead or the subject carries it (no noise on the rest)."""
    if passed is None:
        return []
    message = (
        f"the {passed.language} subject does not lead with {passed.signal_id}: {passed.reason}"
    )
    return [Check("subject-lead", "warn", message)]


def check_footer(html: str, text: str, postal_address: str) -> Check:
    """The visible unsubscribe link and the postal address bulk senders must show."""
    missing = [
        what
        for what, ok in (
            ("unsubscribe link (HTML)", f'href="{ph.UNSUBSCRIBE_URL_HTML}"' in html),
            ("unsubscribe link (text)", ph.UNSUBSCRIBE_URL_TEXT in text),
            ("postal address (HTML)", str(escape(postal_address)) in html),
            ("postal address (text)", postal_address in text),
        )
        if not ok
    ]
    if missing:
        return Check("footer", "fail", f"missing: {', '.join(missing)}")
    return Check("footer", "ok", "unsubscribe link and postal address present")


def check_edition(
    *,
    subject: str,
    preheader: str,
    html: str,
    text: str,
    base_url: str,
    postal_address: str,
    needles: Sequence[str],
    subject_passed_over: PassedOver | None = None,
) -> list[Check]:
    """Every inbox check for one edition, in a stable order."""
    return [
        check_size(html),
        *check_markup(html),
        check_base_url(base_url),
        check_leaks([html, text, subject, preheader], needles),
        *check_subject(subject, preheader),
        *check_subject_lead(subject_passed_over),
        check_footer(html, text, postal_address),
    ]
