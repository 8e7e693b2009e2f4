"""Signed links: unsubscribe, preferences and confirm tokens that need no login.

Unsubscribe and preferences tokens are `{subscriber_id}.{tag}.{mac}`: the tag is 8 bytes of a
keyed BLAKE2b of the address, the mac 16 bytes of a keyed BLAKE2b of `{id}.{tag}` under a key per
purpose (so a preferences token is useless as an unsubscribe token), both base64url. BLAKE2b's
keyed mode is a MAC by design and one call costs a third of an HMAC-SHA256 here; with no JSON and
no itsdangerous framing, a subscriber's two tokens cost ~2 µs instead of ~6 µs, which is a
second of every million-recipient send (bench/bench_send.py). They carry the address's tag, never
the address: they end up in List-Unsubscribe headers and proxies' logs, and would otherwise
outlive `forget`. The tag binds the token to one person — the caller looks the subscriber up by
id and `binds`/`resolve` check the stored address still gives that tag — without saying who.
Every key is tried and compared in constant time, without stopping early: the newest key signs,
every configured key verifies, so rotating `DIGEST_SECRET_KEY` keeps links in inboxes working.
These tokens have no timestamp (RFC 8058 links must not expire quickly): the same inputs give
the same token, so the sender computes each subscriber's tokens once per send.

View tokens (`/view/<token>`: a reader's web view of the edition they were sent) are
`{subscriber_id}.{tag}.{period}.{tier}.{lang}.{mac}`: the same tag, the issue's period key
(`2026-W47`, or `2026-11-01~2026-11-30` for a range), a letter for the tier (o, s, l), the
edition's language, and a mac under their own key over all of it. One token per recipient and
edition: items are reached by `#anchor`, so no per-item signature is minted. Like the others they
never expire (an email is re-read months later) and carry no address; the edition's part of the
mac is fed once per edition (`ViewScope`), so a view token costs a recipient what the other two do.

Links sent before this scheme are itsdangerous tokens (`{base64 [id, tag]}.{HMAC-SHA256}`, the
tag an HMAC-SHA256 of the address): `verify` still accepts them, with the same rotation rules,
so no link already in an inbox stops working. Confirm tokens stay itsdangerous ones: they are for
someone not stored yet (the web app's double opt-in), so they carry the address itself — they go
only to that address — and they are timestamped and expire after `security.confirm_max_age_hours`
(default 48), so a leaked one is short-lived. They also carry when they were issued (to the
microsecond, by the app's clock) and a random nonce: `digest.audience.consent` uses one link once
(`Claims.link_key`) and refuses a link issued before the address's latest opt-out. Confirm tokens
from before these two fields (`[0, email]`) still verify, issued at their signature's timestamp.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
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
from digest.model import LANGS, MEMBERSHIP_TIERS, Lang, MembershipTier

TAG_BYTES = 8
MAC_BYTES = 16
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


LINK_PURPOSES = (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES)
"""The purposes whose tokens are compact and never expire (confirm tokens are itsdangerous's)."""

TIER_CODES: dict[MembershipTier, str] = dict(zip(MEMBERSHIP_TIERS, ("o", "s", "l"), strict=True))
_CODE_TIERS: dict[str, MembershipTier] = {code: tier for tier, code in TIER_CODES.items()}
_LANGS: dict[str, Lang] = {lang: lang for lang in LANGS}
_PERIOD = r"\d{4}-W\d{2}|\d{4}-\d{2}-\d{2}~\d{4}-\d{2}-\d{2}"
_VIEW = re.compile(
    r"(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{11})"
    rf"(\.({_PERIOD})\.([osl])\.(en|zh))\.([A-Za-z0-9_-]{{22}})"
)
_COMPACT = re.compile(r"(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{11})\.([A-Za-z0-9_-]{22})")
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """base64url without padding, through binascii (C): this runs twice per recipient."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _plain_keys(keys: Sequence[str | SecretStr]) -> list[str]:
    """The non-blank keys as strings, newest first; MissingSecretKey when there are none."""
    plain = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
    plain = [k for k in plain if k]
    if not plain:
        raise MissingSecretKey()
    return plain


def _derived(secret: str, label: str) -> bytes:
    """A 32-byte key for one use of `secret` (domain-separated, so uses never share a key)."""
    return hashlib.sha256(f"digest.link2.{label}\0".encode() + secret.encode("utf-8")).digest()


class _CompactKeys:
    """One signing key's keyed BLAKE2b states: the address tag, and a mac per link purpose.

    The states are keyed once; each token copies and feeds them, the cheapest keyed hash
    Python offers.
    """

    def __init__(self, secret: str) -> None:
        self.tag = hashlib.blake2b(key=_derived(secret, "email-tag"), digest_size=TAG_BYTES)
        self.macs = {
            p: hashlib.blake2b(key=_derived(secret, p.value), digest_size=MAC_BYTES)
            for p in LINK_PURPOSES
        }
        self.view = hashlib.blake2b(key=_derived(secret, "view"), digest_size=MAC_BYTES)

    def tag_of(self, email: str) -> bytes:
        state = self.tag.copy()
        state.update(email.encode("utf-8"))
        return _b64(state.digest())

    def mac_of(self, purpose: Purpose, signed: bytes) -> bytes:
        state = self.macs[purpose].copy()
        state.update(signed)
        return _b64(state.digest())


def _view_suffix(period_key: str, tier: str, locale: str) -> bytes:
    """`.{period}.{tier letter}.{lang}`: an edition's part of a view token (else ValueError)."""
    period = period_key.replace("..", "~")
    code = next((c for t, c in TIER_CODES.items() if t == tier), None)
    if code is None or locale not in _LANGS or not re.fullmatch(_PERIOD, period):
        raise ValueError(f"no view link for {period_key!r} {tier!r} {locale!r}")
    return f".{period}.{code}.{locale}".encode("ascii")


class ViewScope:
    """One edition's view-token maker: the mac state already fed with the edition's part."""

    def __init__(self, keys: _CompactKeys, period_key: str, tier: str, locale: str) -> None:
        self.suffix = _view_suffix(period_key, tier, locale)
        self.state = keys.view.copy()
        self.state.update(self.suffix + b"|")

    def token(self, signed: bytes) -> bytes:
        """The view token for `{id}.{tag}` (as the other tokens begin)."""
        state = self.state.copy()
        state.update(signed)
        return signed + self.suffix + b"." + _b64(state.digest())


@dataclass(frozen=True)
class ViewGrant:
    """What a genuine view token says: who was sent which edition (issue period, tier, language).

    Not yet a person: check the stored address with `LinkSigner.binds(grant.claims, email)` or
    `LinkSigner.resolve(conn, grant.claims)`, as for an unsubscribe link.
    """

    subscriber_id: int
    tag: str
    period_key: str
    tier: MembershipTier
    locale: Lang

    @property
    def claims(self) -> Claims:
        return Claims(self.subscriber_id, tag=self.tag)


class TokenMinter:
    """Mints unsubscribe and preferences tokens with the newest key: the sender's hot path."""

    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        newest = _CompactKeys(_plain_keys(keys)[0])
        self._tag = newest.tag
        self._unsubscribe = newest.macs[Purpose.UNSUBSCRIBE]
        self._preferences = newest.macs[Purpose.PREFERENCES]
        self._keys = newest

    def sign(self, purpose: Purpose, subscriber_id: int, email: str) -> str:
        """The `{id}.{tag}.{mac}` token for one link purpose (not confirm: that one expires)."""
        if purpose not in LINK_PURPOSES:
            raise ValueError(f"{purpose.value} tokens are minted by LinkSigner.sign")
        signed = b"%d.%s" % (subscriber_id, self._keys.tag_of(email))
        return (signed + b"." + self._keys.mac_of(purpose, signed)).decode("ascii")

    def _signed(self, subscriber_id: int, email: str) -> tuple[bytes, str, str]:
        """(signed part, unsubscribe token, preferences token): one tag for all of them."""
        tag = self._tag.copy()
        tag.update(email.encode("utf-8"))
        signed = b"%d.%s" % (subscriber_id, _b64(tag.digest()))
        unsubscribe = self._unsubscribe.copy()
        unsubscribe.update(signed)
        preferences = self._preferences.copy()
        preferences.update(signed)
        return (
            signed,
            (signed + b"." + _b64(unsubscribe.digest())).decode("ascii"),
            (signed + b"." + _b64(preferences.digest())).decode("ascii"),
        )

    def pair(self, subscriber_id: int, email: str) -> tuple[str, str]:
        """(unsubscribe, preferences) tokens, sharing one tag: one call per recipient."""
        _signed, unsubscribe, preferences = self._signed(subscriber_id, email)
        return unsubscribe, preferences

    def view_scope(self, period_key: str, tier: str, locale: str) -> ViewScope:
        """The maker of one edition's view tokens (ValueError for a tier or period it can't
        name)."""
        return ViewScope(self._keys, period_key, tier, locale)

    def links(self, subscriber_id: int, email: str, scope: ViewScope) -> tuple[str, str, str]:
        """(unsubscribe, preferences, view) tokens sharing one tag: one call per recipient."""
        signed, unsubscribe, preferences = self._signed(subscriber_id, email)
        return unsubscribe, preferences, scope.token(signed).decode("ascii")


def tag_key(secret: str) -> bytes:
    """The key legacy (itsdangerous) tokens' address tags were made with, from one signing key."""
    return hashlib.sha256(b"digest.link.email-tag" + secret.encode("utf-8")).digest()


def email_tag(key: bytes, email: str) -> str:
    """`email`'s legacy tag under `key` (from `tag_key`): 8 bytes of HMAC-SHA256, base64url."""
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
    legacy: bool = False  # an itsdangerous link token from before the compact scheme
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
        plain = _plain_keys(keys)
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
        self._minter = TokenMinter(plain)
        self._compact = [_CompactKeys(k) for k in plain]
        self._tag_keys = [tag_key(k) for k in plain]  # legacy tokens' tags
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
        if purpose in LINK_PURPOSES:
            return self._minter.sign(purpose, subscriber_id, email)
        issued = issued_at or dt.datetime.now(dt.UTC)
        micros = (issued - EPOCH) // dt.timedelta(microseconds=1)
        payload: list[object] = [subscriber_id, email, micros, secrets.token_urlsafe(9)]
        token = self._serializers[purpose].dumps(payload)
        assert isinstance(token, str)
        return token

    def tokens_for(self, subscriber_id: int, email: str) -> dict[Purpose, str]:
        """A stored subscriber's link tokens (unsubscribe, preferences): compute once per send,
        reuse per message. Confirm links are for sign-ups only, each one of a kind."""
        return {p: self.sign(p, subscriber_id, email) for p in LINK_PURPOSES}

    def verify(self, purpose: Purpose, token: str) -> Claims:
        """The claims of a genuine token for `purpose`; `InvalidToken` for anything else."""
        if purpose in LINK_PURPOSES:
            compact = _COMPACT.fullmatch(token)
            if compact is not None:
                return self._verify_compact(purpose, compact)
        return self._verify_itsdangerous(purpose, token)

    def _verify_compact(self, purpose: Purpose, token: re.Match[str]) -> Claims:
        """Checks the mac under every key, in constant time and without stopping early."""
        signed = f"{token[1]}.{token[2]}".encode("ascii")
        given = token[3].encode("ascii")
        matched = False
        for keys in self._compact:
            matched |= hmac.compare_digest(given, keys.mac_of(purpose, signed))
        if not matched:
            raise InvalidToken(f"not a valid {purpose.value} link")
        return Claims(int(token[1]), tag=token[2])

    def _verify_itsdangerous(self, purpose: Purpose, token: str) -> Claims:
        """Confirm tokens, and link tokens sent before the compact scheme."""
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
        return Claims(payload[0], tag=payload[1], legacy=True)

    def binds(self, claims: Claims, email: str) -> bool:
        """Whether verified `claims` are about `email` (the stored address), in constant time.

        A tag is compared against the tag under every configured key, without stopping early,
        so a token from before a key rotation still binds and timing says nothing.
        """
        if claims.email is not None:
            return hmac.compare_digest(claims.email.encode(), email.encode())
        given = claims.tag.encode()
        if claims.legacy:
            tags = [email_tag(key, email).encode() for key in self._tag_keys]
        else:
            tags = [keys.tag_of(email) for keys in self._compact]
        matched = False
        for tag in tags:
            matched |= hmac.compare_digest(given, tag)
        return matched

    def resolve(self, conn: Connection, claims: Claims) -> Subscriber | None:
        """The subscriber verified `claims` are about, or None (gone, or the address changed)."""
        found = store.get_by_id(conn, claims.subscriber_id)
        return found if found is not None and self.binds(claims, found.email) else None

    def sign_view(
        self, subscriber_id: int, email: str, period_key: str, tier: str, locale: str
    ) -> str:
        """A view token (what the sender mints per recipient with `TokenMinter.links`)."""
        return self._minter.links(
            subscriber_id, email, self._minter.view_scope(period_key, tier, locale)
        )[2]

    def verify_view(self, token: str) -> ViewGrant | None:
        """What a genuine view token grants, or None (forged, altered, retired key, malformed).

        The mac is checked under every key, in constant time and without stopping early.
        """
        found = _VIEW.fullmatch(token)
        if found is None:
            return None
        given = found[7].encode("ascii")
        signed = f"{found[1]}.{found[2]}".encode("ascii")
        fed = found[3].encode("ascii") + b"|" + signed
        matched = False
        for keys in self._compact:
            state = keys.view.copy()
            state.update(fed)
            matched |= hmac.compare_digest(given, _b64(state.digest()))
        if not matched:
            return None
        period = found[4].replace("~", "..")
        return ViewGrant(int(found[1]), found[2], period, _CODE_TIERS[found[5]], _LANGS[found[6]])


def verify_view_token(secret_keys: Sequence[str | SecretStr], token: str) -> ViewGrant | None:
    """The web route's check of `/view/<token>`: the grant of a genuine token, else None.

    `secret_keys` newest first (`settings.security.secret_keys`, or the outbox's local key);
    raises MissingSecretKey when none is configured. Then bind the grant to the stored
    subscriber with `LinkSigner.resolve(conn, grant.claims)`.
    """
    return LinkSigner(secret_keys).verify_view(token)
