"""Per-recipient link values for a send: signed unsubscribe and preferences URLs, escaped per part.

The tokens are `LinkSigner` tokens (itsdangerous `URLSafeSerializer`, HMAC-SHA256, django-concat
key derivation, per-purpose salt), so the web app verifies them with `LinkSigner.verify`. They
are minted here with the derived keys computed once, the JSON payload written directly for an
ordinary address, and one-shot `hmac.digest`s, because itsdangerous's general path costs ~28 µs
a token: two tokens for each of a million recipients would be most of a minute.

One deliberate difference: itsdangerous zlib-compresses a payload when that makes it shorter,
which for an `[id, address]` pair happens only for freakishly repetitive addresses and costs a
zlib stream per token to find out. These tokens are never compressed; `LinkSigner.verify` takes
both forms, and for every ordinary address the token is byte-for-byte `LinkSigner.sign`'s (a
test holds both facts).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import html
import json
import secrets
from collections.abc import Mapping, Sequence

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.tokens import MissingSecretKey, Purpose, email_tag, tag_key
from digest.config import Settings
from digest.issues.render import placeholders as ph
from digest.storage.schema import install_meta

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """itsdangerous's base64: URL-safe alphabet, no padding."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _payload(subscriber_id: int, email: str) -> bytes:
    """The compact JSON itsdangerous signs: written directly unless the address needs escaping."""
    if '"' in email or "\\" in email or not email.isprintable():
        text = json.dumps([subscriber_id, email], ensure_ascii=False, separators=(",", ":"))
    else:
        text = f'[{int(subscriber_id)},"{email}"]'
    return _b64(text.encode("utf-8"))


class FastTokens:
    """Mints `LinkSigner`-verifiable tokens with the newest key."""

    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        plain = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        plain = [k for k in plain if k]
        if not plain:
            raise MissingSecretKey()
        newest = plain[0].encode("utf-8")
        self._keys = {
            p: hashlib.sha256(f"digest.link.{p.value}".encode() + b"signer" + newest).digest()
            for p in Purpose
        }
        self._tag_key = tag_key(plain[0])  # payloads carry the address's tag, not the address
        self._unsubscribe = self._keys[Purpose.UNSUBSCRIBE]
        self._preferences = self._keys[Purpose.PREFERENCES]

    def sign(self, purpose: Purpose, subscriber_id: int, email: str) -> str:
        """A token `LinkSigner.verify(purpose, …)` accepts for this subscriber."""
        if purpose is Purpose.CONFIRM:  # timestamped and expiring: LinkSigner's job
            raise ValueError("confirm links are minted by LinkSigner.sign")
        value = _payload(subscriber_id, email_tag(self._tag_key, email))
        signature = _b64(hmac.digest(self._keys[purpose], value, "sha256"))
        return (value + b"." + signature).decode("ascii")

    def pair(self, subscriber_id: int, email: str) -> tuple[str, str]:
        """(unsubscribe, preferences) tokens, sharing one payload."""
        value = _payload(subscriber_id, email_tag(self._tag_key, email))
        unsubscribe = value + b"." + _b64(hmac.digest(self._unsubscribe, value, "sha256"))
        preferences = value + b"." + _b64(hmac.digest(self._preferences, value, "sha256"))
        return unsubscribe.decode("ascii"), preferences.decode("ascii")


class LinkValues:
    """The placeholder values of one recipient, for the HTML part and for the text part.

    URLs are `{base}/u/{token}` and `{base}/p/{token}`; a token is URL- and HTML-safe
    (base64url and dots), so only the base needs escaping, once.
    """

    def __init__(self, tokens: FastTokens, base_url: str) -> None:
        self.tokens = tokens
        self.base = base_url.rstrip("/")
        self._base_html = html.escape(self.base)

    def values(
        self, subscriber_id: int, email: str, name: str, fallback_name: str
    ) -> tuple[Mapping[str, str], Mapping[str, str], str]:
        """(HTML values, text values, unsubscribe URL) for one recipient."""
        unsubscribe, preferences = self.tokens.pair(subscriber_id, email)
        shown = name.strip() or fallback_name
        text_name = " ".join(shown.split())  # no CR/LF from a name
        html_values = {
            ph.NAME_HTML: html.escape(shown),
            ph.UNSUBSCRIBE_URL_HTML: f"{self._base_html}/u/{unsubscribe}",
            ph.PREFERENCES_URL_HTML: f"{self._base_html}/p/{preferences}",
        }
        unsubscribe_url = f"{self.base}/u/{unsubscribe}"
        text_values = {
            ph.NAME_TEXT: text_name,
            ph.UNSUBSCRIBE_URL_TEXT: unsubscribe_url,
            ph.PREFERENCES_URL_TEXT: f"{self.base}/p/{preferences}",
        }
        return html_values, text_values, unsubscribe_url


LOCAL_KEY = "local_secret_key"
"""install_meta key of the generated key used when none is configured and nothing leaves."""


def local_secret_key(engine: Engine) -> str:
    """This database's generated signing key, created on first use (race-safe)."""
    with engine.begin() as conn:
        found = conn.execute(
            select(install_meta.c.value).where(install_meta.c.key == LOCAL_KEY)
        ).scalar_one_or_none()
        if found is not None:
            return str(found)
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert(install_meta)
            .values(key=LOCAL_KEY, value=secrets.token_urlsafe(32))
            .on_conflict_do_nothing()
        )
        return str(
            conn.execute(
                select(install_meta.c.value).where(install_meta.c.key == LOCAL_KEY)
            ).scalar_one()
        )


def signing_keys(
    settings: Settings, engine: Engine, *, allow_local: bool
) -> tuple[list[str], str | None]:
    """The keys links are signed with, and a note when a generated local key stands in.

    A real send needs `security.secret_keys` (the web app must verify the links). The outbox
    (nothing leaves the machine) may use a key generated into the database's install_meta, so
    the Quickstart works with no configuration; the note says so, since those links only verify
    against this database.
    """
    keys = [k.get_secret_value() for k in settings.security.secret_keys if k.get_secret_value()]
    if keys:
        return keys, None
    if not allow_local:
        raise MissingSecretKey()
    note = (
        "No secret key configured (security.secret_keys / DIGEST_SECRET_KEY): links are signed "
        f"with a local key generated into this database (install_meta.{LOCAL_KEY}). Fine for the "
        "outbox; set DIGEST_SECRET_KEY before a real send."
    )
    return [local_secret_key(engine)], note
