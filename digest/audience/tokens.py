"""Signed links: unsubscribe, preferences and confirm tokens that need no login.

Built on itsdangerous rather than hand-rolled HMAC because it already gets the hard parts right:
a list of keys where the newest signs and every one verifies (so rotating `DIGEST_SECRET_KEY` does
not break links already in inboxes), a per-purpose salt (a preferences token is useless as an
unsubscribe token), and constant-time comparison — `HMACAlgorithm.verify_signature` compares with
`hmac.compare_digest` (a test holds it to that).

A token carries the subscriber's id and address and is signed over both, so it names exactly one
person and stops working if the id is ever reused for another address. It has no timestamp, so it
is deterministic: the sender computes each subscriber's tokens once per send (not per message),
and an unsubscribe link keeps working for as long as its key is configured (RFC 8058 links must
not expire quickly). The signature is HMAC-SHA256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import SecretStr

from digest.config import Settings


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


@dataclass(frozen=True)
class Claims:
    """Who a verified token is about. The caller still checks the subscriber exists."""

    subscriber_id: int
    email: str


class LinkSigner:
    """Makes and checks tokens with `keys`, newest first (the order of DIGEST_SECRET_KEY)."""

    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        plain = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        plain = [k for k in plain if k]
        if not plain:
            raise MissingSecretKey()
        # itsdangerous signs with the LAST key of the list; ours is newest first.
        oldest_first = list(reversed(plain))
        self._serializers = {
            purpose: URLSafeSerializer(
                oldest_first,
                salt=f"digest.link.{purpose.value}",
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            for purpose in Purpose
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkSigner:
        return cls(settings.security.secret_keys)

    def sign(self, purpose: Purpose, subscriber_id: int, email: str) -> str:
        """The token for this person and purpose; the same inputs always give the same token."""
        token = self._serializers[purpose].dumps([subscriber_id, email])
        assert isinstance(token, str)
        return token

    def tokens_for(self, subscriber_id: int, email: str) -> dict[Purpose, str]:
        """Every purpose's token for one subscriber: compute once per send, reuse per message."""
        return {p: self.sign(p, subscriber_id, email) for p in Purpose}

    def verify(self, purpose: Purpose, token: str) -> Claims:
        """The claims of a genuine token for `purpose`; `InvalidToken` for anything else."""
        try:
            payload = self._serializers[purpose].loads(token)
        except BadSignature:
            raise InvalidToken(f"not a valid {purpose.value} link") from None
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not isinstance(payload[0], int)
            or not isinstance(payload[1], str)
        ):
            raise InvalidToken(f"not a valid {purpose.value} link")
        return Claims(payload[0], payload[1])
