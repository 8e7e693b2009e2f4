"""Who a subscriber is: tiers, locales, statuses and the plain record every audience module shares.

Tiers and locales are closed sets because each one is an edition someone renders and checks; an
unknown value must be an error at the door (import, `add`), never a silent fallback later.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, TypeVar

from digest.model import MEMBERSHIP_TIERS
from digest.model import TIER_NAMES as _TIER_NAMES
from digest.zones import is_zone


class Tier(StrEnum):
    """Membership tiers, cheapest first (the order tables and reports use).

    The keys mirror `digest.model.MEMBERSHIP_TIERS` (a test holds them equal); display names
    come from `digest.model.TIER_NAMES`, so no module spells a tier's name on its own.
    """

    OPEN = "open"
    STRATEGY_CIRCLE = "strategy_circle"
    LEADERSHIP_ALLIANCE = "leadership_alliance"

    @property
    def display_name(self) -> str:
        return TIER_NAMES[self]


TIER_NAMES: dict[Tier, str] = {Tier(key): _TIER_NAMES[key] for key in MEMBERSHIP_TIERS}

# Other spellings people type. "Strategic Circle" is how the publication's own pages name it.
TIER_ALIASES: dict[str, Tier] = {"strategic circle": Tier.STRATEGY_CIRCLE}


class Locale(StrEnum):
    """The languages an edition is rendered in."""

    EN = "en"
    ZH = "zh"

    @property
    def display_name(self) -> str:
        return LOCALE_NAMES[self]


LOCALE_NAMES: dict[Locale, str] = {Locale.EN: "English", Locale.ZH: "Chinese"}


class Status(StrEnum):
    """Whether a subscriber may be mailed; every status but `active` puts them on suppression."""

    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    @property
    def mailable(self) -> bool:
        return self is Status.ACTIVE


def _key(value: str) -> str:
    return " ".join(value.replace("_", " ").replace("-", " ").split()).casefold()


_TIER_LOOKUP: dict[str, Tier] = {
    **{_key(t.value): t for t in Tier},
    **{_key(name): t for t, name in TIER_NAMES.items()},
    **TIER_ALIASES,
}


@lru_cache(maxsize=256)
def parse_tier(value: str) -> Tier:
    """A tier from its key or display name, case-insensitive; blank means `open`."""
    if not value.strip():
        return Tier.OPEN
    try:
        return _TIER_LOOKUP[_key(value)]
    except KeyError:
        known = ", ".join(t.value for t in Tier)
        raise ValueError(f"unknown tier {value!r} (known: {known})") from None


E = TypeVar("E", bound=StrEnum)


def _parse_code(kind: type[E], noun: str, value: str, blank: E) -> E:
    """A member of `kind` from its code, case-insensitive; blank means `blank`."""
    code = value.strip().lower()
    if not code:
        return blank
    try:
        return kind(code)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ValueError(f"unknown {noun} {value!r} (known: {known})") from None


@lru_cache(maxsize=256)
def parse_locale(value: str) -> Locale:
    """A locale from its code, case-insensitive (`EN`, `zh`); blank means `en`."""
    return _parse_code(Locale, "locale", value, Locale.EN)


@lru_cache(maxsize=256)
def parse_status(value: str) -> Status:
    """A status from its key, case-insensitive; blank means `active`."""
    return _parse_code(Status, "status", value, Status.ACTIVE)


@lru_cache(maxsize=1024)
def parse_timezone(value: str, default: str) -> str:
    """An IANA zone key (checked with zoneinfo); blank means the publication's zone."""
    key = value.strip() or default
    if not is_zone(key):
        raise ValueError(f"unknown time zone {value.strip()!r}")
    return key


# Names end up in `To:` headers and HTML. Anything that could break a header (CR, LF, NUL, other
# controls, Unicode line/paragraph separators) becomes a space; length is capped so a hostile row
# cannot bloat every email. Markup is kept as literal text: renderers escape it.
NAME_MAX = 100
INTEREST_MAX = 100
INTERESTS_MAX = 1000  # the stored ";"-joined key
_SPACE_LIKE = re.compile(r"\s+")


def clean_text(value: str, limit: int) -> str:
    """`value` on one line: controls and separators replaced, whitespace collapsed, capped."""
    if value.isprintable():  # the common case: no controls, no whitespace but ' '
        text = " ".join(value.split())
    else:
        chars = (" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in value)
        text = _SPACE_LIKE.sub(" ", "".join(chars)).strip()
    return text[:limit].rstrip()


def clean_name(value: str) -> str:
    return clean_text(value, NAME_MAX)


def parse_interests(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Market classes from `a;b` (or a list): cleaned, de-duplicated, sorted; empty = all."""
    if isinstance(value, str):
        return _parse_interest_text(value)
    return _interests(list(value))


@lru_cache(maxsize=4096)  # a list repeats a handful of interest sets many times
def _parse_interest_text(value: str) -> tuple[str, ...]:
    return _interests(value.split(";")) if value.strip() else ()


def _interests(parts: list[str]) -> tuple[str, ...]:
    cleaned = {clean_text(p, INTEREST_MAX) for p in parts}
    interests = tuple(sorted(p for p in cleaned if p))
    if any(";" in p for p in interests):
        raise ValueError("an interest cannot contain ';'")
    if len(interests_key(interests)) > INTERESTS_MAX:
        raise ValueError(f"interests are longer than {INTERESTS_MAX} characters")
    return interests


def interests_key(interests: Iterable[str]) -> str:
    """The stored form and the edition key: sorted and `;`-joined; "" = every class.

    The one definition of the key: subscribers are stored under it and editions are looked up
    by it (digest.issues.editions imports this), so the two never disagree on order or joiner.
    """
    return ";".join(sorted(interests))


def split_interests(key: str) -> tuple[str, ...]:
    return tuple(key.split(";")) if key else ()


class Profile(NamedTuple):
    """What an operator or a CSV row says about a person (the status is a separate fact).

    A NamedTuple rather than a frozen dataclass: an import builds one per row, and this is the
    cheapest immutable record Python has.
    """

    email: str
    name: str = ""
    tier: Tier = Tier.OPEN
    locale: Locale = Locale.EN
    timezone: str = "UTC"
    interests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subscriber:
    """A stored subscriber with its consent facts."""

    id: int
    email: str
    name: str
    tier: Tier
    locale: Locale
    timezone: str
    interests: tuple[str, ...]
    status: Status
    consent_source: str | None
    consent_at: dt.datetime | None
    status_changed_at: dt.datetime | None
    status_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime = field(compare=False)

    @property
    def profile(self) -> Profile:
        return Profile(self.email, self.name, self.tier, self.locale, self.timezone, self.interests)
