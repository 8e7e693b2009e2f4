"""Signed links: unsubscribe, preferences and confirm tokens that need no login.

Built on itsdangerous rather than hand-rolled HMAC because it already gets the hard parts right:
a list of keys where the newest signs and every one verifies (so rotating `DIGEST_SECRET_KEY` does
not break links already in inboxes), a per-purpose salt (a preferences token is useless as an
unsubscribe token), and constant-time comparison — `HMACAlgorithm.verify_signature` compares with
`hmac.compare_digest` (a test holds it to that).

Unsubscribe and preferences tokens carry `[subscriber_id, tag]`, never the address: they end up
in List-Unsubscribe headers, proxies' and mailbox providers' logs, and would otherwise outlive
`forget`. The tag is the first 8 bytes of an HMAC of the address under a key derived from the
signing key (b64url), so it binds the token to one person — the caller looks the subscriber up
by id and `binds`/`resolve` check the stored address still gives that tag, so a token stops
working if the id's address ever changes — without saying who that is. It is checked against
every configured key (in constant time), so rotation keeps old links working. These tokens
have no timestamp, so they are deterministic: the sender computes each subscriber's tokens once
per send, and an unsubscribe link keeps working as long as its key is configured (RFC 8058
links must not expire quickly). The signature is HMAC-SHA256.

Confirm tokens are different: they are for someone not stored yet (the web app's double opt-in),
so they carry the address itself — they go only to that address — and they are timestamped and
expire after `security.confirm_max_age_hours` (default 48), so a leaked one is short-lived. They
also carry when they were issued (to the microsecond, by the app's clock) and a random nonce:
`digest.audience.consent` uses one link once (`Claims.link_key`) and refuses a link issued
before the address's latest opt-out. Confirm tokens from before these two fields (`[0, email]`)
still verify, issued at their signature's timestamp.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import Connection

from digest.audience import store
from digest.audience.model import Subscriber
from digest.config import Settings

TAG_BYTES = 8
DEFAULT_CONFIRM_MAX_AGE = dt.timedelta(hours=48)


class MissingSecretKey(RuntimeError):
    """No signing key is configured; links cannot be made or checked."""

    def __init__(self) -> None:
        super().__init__(
            "no signing key configured: set DIGEST_SECRET_KEY (several keys comma-separated, "
            "newest first) or security.secret_keys in digest.toml; make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )


class InvalidToken(ValueError):
    """The token is forged, tampered with, for another purpose, or signed by a retired key."""


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"


def tag_key(secret: str) -> bytes:
    """The key address tags are made with, derived from one signing key (domain-separated)."""
    return hashlib.sha256(b"digest.link.email-tag" + secret.encode("utf-8")).digest()


def email_tag(key: bytes, email: str) -> str:
    """`email`'s tag under `key` (from `tag_key`): 8 bytes of HMAC-SHA256, base64url."""
    digest = hmac.digest(key, email.encode("utf-8"), "sha256")[:TAG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Claims:
    """What a genuine token says: an id, and the address's tag (or, for confirm, the address).

    Not yet a person: `LinkSigner.resolve` (or `binds`) checks the stored address matches.
    """

    subscriber_id: int
    tag: str = ""  # unsubscribe and preferences tokens
    email: str | None = None  # confirm tokens only: nobody is stored yet to look up
    issued_at: dt.datetime | None = None  # confirm tokens only
    nonce: str = ""  # confirm tokens only ("" for those from before nonces)

    @property
    def link_key(self) -> str:
        """What names this confirm link once used: a hash of its decoded claims.

        Never of the token's text: base64 lets one signed token be spelled several ways.
        """
        issued = self.issued_at.isoformat() if self.issued_at else ""
        seen = f"{self.email}\n{issued}\n{self.nonce}".encode()
        return hashlib.sha256(seen).hexdigest()


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _confirm_claims(payload: list[object], signed_at: dt.datetime | None) -> Claims:
    """`[id, email, issued µs, nonce]`, or `[id, email]` from before (issued when signed)."""
    subscriber_id, email = payload[0], payload[1]
    assert isinstance(subscriber_id, int) and isinstance(email, str)
    if len(payload) == 2:
        return Claims(subscriber_id, email=email, issued_at=signed_at)
    micros, nonce = payload[2:] if len(payload) == 4 else (None, None)
    if not isinstance(micros, int) or not isinstance(nonce, str):
        raise InvalidToken("not a valid confirm link")
    issued = EPOCH + dt.timedelta(microseconds=micros)
    return Claims(subscriber_id, email=email, issued_at=issued, nonce=nonce)


class LinkSigner:
    """Makes and checks tokens with `keys`, newest first (the order of DIGEST_SECRET_KEY)."""

    def __init__(
        self,
        keys: Sequence[str | SecretStr],
        confirm_max_age: dt.timedelta = DEFAULT_CONFIRM_MAX_AGE,
    ) -> None:
        plain = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        plain = [k for k in plain if k]
        if not plain:
            raise MissingSecretKey()
        # itsdangerous signs with the LAST key of the list; ours is newest first.
        oldest_first = list(reversed(plain))
        self._serializers: dict[Purpose, URLSafeSerializer | URLSafeTimedSerializer] = {
            purpose: (URLSafeTimedSerializer if purpose is Purpose.CONFIRM else URLSafeSerializer)(
                oldest_first,
                salt=f"digest.link.{purpose.value}",
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            for purpose in Purpose
        }
        self._tag_keys = [tag_key(k) for k in plain]  # newest first: [0] tags new tokens
        self._confirm_max_age = int(confirm_max_age.total_seconds())

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkSigner:
        security = settings.security
        hours = dt.timedelta(hours=security.confirm_max_age_hours)
        return cls(security.secret_keys, confirm_max_age=hours)

    def sign(
        self, purpose: Purpose, subscriber_id: int, email: str, issued_at: dt.datetime | None = None
    ) -> str:
        """The token for this person and purpose.

        Unsubscribe and preferences: the same inputs always give the same token, and it names
        the address only through its tag. Confirm: carries the address, when it was issued
        (`issued_at`, default now) and a nonce; expires.
        """
        if purpose is Purpose.CONFIRM:
            issued = issued_at or dt.datetime.now(dt.UTC)
            micros = (issued - EPOCH) // dt.timedelta(microseconds=1)
            payload: list[object] = [subscriber_id, email, micros, secrets.token_urlsafe(9)]
        else:
            payload = [subscriber_id, email_tag(self._tag_keys[0], email)]
        token = self._serializers[purpose].dumps(payload)
        assert isinstance(token, str)
        return token

    def tokens_for(self, subscriber_id: int, email: str) -> dict[Purpose, str]:
        """A stored subscriber's link tokens (unsubscribe, preferences): compute once per send,
        reuse per message. Confirm links are for sign-ups only, each one of a kind."""
        return {p: self.sign(p, subscriber_id, email) for p in Purpose if p is not Purpose.CONFIRM}

    def verify(self, purpose: Purpose, token: str) -> Claims:
        """The claims of a genuine token for `purpose`; `InvalidToken` for anything else."""
        serializer = self._serializers[purpose]
        signed_at: dt.datetime | None = None
        try:
            if isinstance(serializer, URLSafeTimedSerializer):
                payload, signed_at = serializer.loads(
                    token, max_age=self._confirm_max_age, return_timestamp=True
                )
            else:
                payload = serializer.loads(token)
        except SignatureExpired:
            raise InvalidToken(f"this {purpose.value} link has expired") from None
        except BadSignature:
            raise InvalidToken(f"not a valid {purpose.value} link") from None
        if (
            not isinstance(payload, list)
            or len(payload) < 2
            or not isinstance(payload[0], int)
            or not isinstance(payload[1], str)
        ):
            raise InvalidToken(f"not a valid {purpose.value} link")
        if purpose is Purpose.CONFIRM:
            return _confirm_claims(payload, signed_at)
        if len(payload) != 2:
            raise InvalidToken(f"not a valid {purpose.value} link")
        return Claims(payload[0], tag=payload[1])

    def binds(self, claims: Claims, email: str) -> bool:
        """Whether verified `claims` are about `email` (the stored address), in constant time.

        A tag is compared against the tag under every configured key, without stopping early,
        so a token from before a key rotation still binds and timing says nothing.
        """
        if claims.email is not None:
            return hmac.compare_digest(claims.email.encode(), email.encode())
        given = claims.tag.encode()
        matched = False
        for key in self._tag_keys:
            matched |= hmac.compare_digest(given, email_tag(key, email).encode())
        return matched

    def resolve(self, conn: Connection, claims: Claims) -> Subscriber | None:
        """The subscriber verified `claims` are about, or None (gone, or the address changed)."""
        found = store.get_by_id(conn, claims.subscriber_id)
        return found if found is not None and self.binds(claims, found.email) else None
