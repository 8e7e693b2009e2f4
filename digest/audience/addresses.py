"""Email addresses: one normalized, lower-cased spelling per person, and safe `To:` headers.

`email-validator` is the authority (syntax, IDNA, special-use domains; never DNS: an import must
not depend on the network). It costs ~90 µs an address, which alone would blow the 100,000-row
import budget, so the overwhelmingly common plain-ASCII shape takes a fast path whose result a
property test proves identical to the library's; everything else goes to the library.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from digest.audience.model import clean_name


class InvalidAddress(ValueError):
    """The address is not one we can mail; the message says why."""


_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@((?:{_LABEL}\.)+[a-z]{{2,63}})")


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> bool:
    """A domain the library would accept unchanged: no IDNA forms, not special-use."""
    if "--" in domain or len(domain) > 253:
        return False
    return not any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES)


def _fast(address: str) -> str | None:
    lowered = address.lower()
    if not lowered.isascii():
        return None
    match = _PLAIN.fullmatch(lowered)
    if match is None or len(lowered) > 254 or lowered.index("@") > 64:
        return None
    return lowered if _plain_domain(match.group(1)) else None


def normalize_email(raw: str) -> str:
    """The stored form of `raw`: validated, normalized by email-validator, then lower-cased.

    Lower-casing the local part is a policy, not RFC 5321: in practice no mailbox provider treats
    `Ann@` and `ann@` as different people, and one person must never be two subscribers.
    """
    address = raw.strip()
    if not address:
        raise InvalidAddress("no email address")
    fast = _fast(address)
    if fast is not None:
        return fast
    try:
        info = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return info.normalized.lower()


GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(email: str) -> str:
    """The mailbox a normalized address delivers to, for limits on how often we mail it.

    `ann+1@`, `ann+2@`, … are one mailbox almost everywhere (sub-addressing), and Gmail also
    ignores dots in the local part and answers to both of its domains. An attacker who types
    those variations must still be counting against one mailbox. This is for limits only: the
    address stored and mailed stays exactly what the person typed.
    """
    local, _, domain = email.rpartition("@")
    base = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        return f"{base.replace('.', '') or base}@gmail.com"
    return f"{base}@{domain}"


def header_address(name: str, email: str) -> str:
    """A `To:` value for `name <email>`: the name cleaned and quoted or encoded, never a new line.

    `email.headerregistry.Address` quotes specials and the policy RFC 2047-encodes non-ASCII at
    serialization; `clean_name` has already removed every character that could end a header.
    """
    username, _, domain = email.rpartition("@")
    return str(Address(display_name=clean_name(name), username=username, domain=domain))
