"""IANA time-zone names: the one check the config and the audience both use.

Kept in a module of its own (no imports from the rest of `digest`) so that `digest.config` and
`digest.audience.model` can share it without either importing the other, and so a zone the
config accepts is exactly a zone a subscriber may have.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def is_zone(key: str) -> bool:
    """Whether `key` names a zone zoneinfo can load; cached, since an import asks per row."""
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not a key at all ("../x", "")
        return False
    return True


def check_zone(key: str) -> str:
    """`key` unchanged when it is a known zone; a ValueError naming it otherwise."""
    if not is_zone(key):
        raise ValueError(f"unknown IANA time zone {key!r}")
    return key
