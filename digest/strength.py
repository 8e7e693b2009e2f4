"""Whether the configured secrets are strong enough to expose: keys of 32 random bytes, editor
passwords of 12 characters.

Why this matters more than usual: the CSRF token is an HMAC under the newest signing key over a
value the visitor holds in clear (the CSRF cookie), so anyone can collect (message, HMAC) pairs
and search for a weak key offline; with the key they could forge subscriber links. Randomness
cannot be measured from one string, so a key is judged by the alphabet it is written in (hex,
base64, anything printable) times its length, which credits `secrets.token_urlsafe(32)` (43
characters) and `secrets.token_hex(32)` (64) with their 256 bits and a short or patterned word
with far less. Keys the installation generates itself (the outbox's local key) are not
configured and not judged here.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from pydantic import SecretStr

from digest.config import Settings

KEY_BITS = 256
"""32 random bytes."""
KEY_MIN_DISTINCT = 10
"""Fewer different characters than this is a pattern, not a random string, at any length."""
KEY_REPEAT = 8
"""A stretch this long found twice in a key is a pattern (a repeated word, a run typed twice).
By chance it happens to fewer than one `token_hex(32)` key in a million, and to no
`token_urlsafe(32)` key in practice."""
PASSWORD_MIN = 12
KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "-_+/=")


@dataclass(frozen=True)
class WeakSecret:
    """One configured secret too weak to serve with; says which and how to make a good one."""

    setting: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}. Fix: {self.fix}"


def key_bits(key: str) -> float:
    """Estimated strength of `key` in bits: its length times the bits per character of the
    smallest alphabet it is written in."""
    chars = set(key)
    if chars <= _HEX:
        per_char = 4.0
    elif chars <= _BASE64:
        per_char = 6.0
    else:
        per_char = math.log2(95)  # printable ASCII; anything wider is still no more per keystroke
    return len(key) * per_char


def key_weakness(key: str) -> str | None:
    """Why `key` is not worth 32 random bytes, or None when it is: 256 bits by its alphabet,
    and no pattern (few different characters, or a stretch that repeats)."""
    if len(set(key)) < KEY_MIN_DISTINCT:
        return f"uses fewer than {KEY_MIN_DISTINCT} different characters"
    stretches = [key[i : i + KEY_REPEAT] for i in range(len(key) - KEY_REPEAT + 1)]
    if len(set(stretches)) < len(stretches):
        return "repeats itself"
    if key_bits(key) < KEY_BITS:
        return f"has about {int(key_bits(key))} bits by its alphabet and length"
    return None


def strong_key(key: str) -> bool:
    """True for a key worth 32 random bytes."""
    return key_weakness(key) is None


def _plain(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def weak_secrets(settings: Settings) -> list[WeakSecret]:
    """Every configured key (old ones still verify, so each counts) and editor credential too
    weak to serve with; [] when none is configured (the local key and a localhost serve)."""
    found = []
    keys = [k.get_secret_value() for k in settings.security.secret_keys]
    for position, key in enumerate(keys, start=1):
        weakness = key_weakness(key) if key else None
        if weakness:
            found.append(
                WeakSecret(
                    "security.secret_keys",
                    f"key {position} of {len(keys)} is not worth 32 random bytes: it {weakness}",
                    f"replace it with the output of `{KEY_COMMAND}` (DIGEST_SECRET_KEY; keep the "
                    "old key after the new one only while its links must still work)",
                )
            )
    for setting, var in (
        ("web.editor_password", "DIGEST_EDITOR_PASSWORD"),
        ("web.editor_token", "DIGEST_EDITOR_TOKEN"),
    ):
        value = _plain(getattr(settings.web, setting.split(".")[1]))
        if value and len(value) < PASSWORD_MIN:
            found.append(
                WeakSecret(
                    setting,
                    f"shorter than {PASSWORD_MIN} characters",
                    f"set {var} to the output of `{KEY_COMMAND}`, or give each editor an "
                    "account (`digest editors add NAME`)",
                )
            )
    return found
