"""The SMTP provider: one connection, many messages, and an honest answer when it drops.

Each recipient gets their own message (the placeholders differ), sent as MAIL / RCPT / DATA on a
single connection reused across messages and batches. The point where the answer stops being
certain is the DATA command: a drop or timeout before it means the message was certainly not
taken (reconnect once and try again); a drop or timeout after it means the server may have
accepted it, so the result is UNCERTAIN and the message is not re-sent.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr

from digest.config import ConfigError, ProviderSettings, Settings
from digest.delivery.headers import envelope_address, needs_smtputf8
from digest.delivery.mime import prepared
from digest.delivery.provider import (
    BOUNCE_PREFIX,
    EditionMessage,
    Outcome,
    Problem,
    ProviderDefaults,
    ProviderSpec,
    Recipient,
    Result,
    check_batch,
)


@dataclass(frozen=True)
class SmtpUrl:
    """`smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start)."""

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpUrl:
        """Parse and percent-decode; raise ValueError naming what is wrong (never the password)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if tls else 25)
        except ValueError as exc:
            raise ValueError("SMTP URL has an invalid port") from exc
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(tls, parts.hostname, port, username, password)

    def __repr__(self) -> str:
        scheme = "smtps" if self.tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpUrl({scheme}://{user}{self.host}:{self.port})"


class _Uncertain(Exception):
    """The connection failed after DATA: the server may have the message."""


class _Unreachable(Exception):
    """Could not (re)connect or log in: nothing more can be sent in this batch."""


class SmtpProvider(ProviderDefaults):
    """Sends through one SMTP server, one multipart/alternative message per recipient."""

    name = "smtp"
    leaves_machine = True
    per_message = True  # the 250 after DATA answers for one message
    parallel = 1  # one conversation per connection

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        plaintext_auth: bool | None = None,
    ) -> None:
        self.url = SmtpUrl.parse(url)
        self.plaintext_auth = (
            _is_loopback(self.url.host) if plaintext_auth is None else plaintext_auth
        )
        """Send the password without TLS? By default only to this machine (a local relay)."""
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        self.connections = 0
        """How many connections this provider opened: reuse is observable, not assumed."""

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """Send each recipient their message on the shared connection, in order."""
        check_batch(recipients)
        results: list[Result] = []
        for index, recipient in enumerate(recipients):
            try:
                results.append(self._send_one(message, recipient))
            except _Unreachable as exc:
                reason = f"unreachable: {exc}"
                results.extend(
                    Result(r.subscriber_id, Outcome.RETRYABLE, reason) for r in recipients[index:]
                )
                break
        return results

    def close(self) -> None:
        """QUIT politely; a server that is already gone is fine."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _send_one(self, message: EditionMessage, recipient: Recipient) -> Result:
        sid = recipient.subscriber_id
        try:
            # Encoded once per edition, spliced per recipient (see digest.delivery.mime).
            data, message_id = prepared(message).render(recipient)
        except ValueError as exc:
            return Result(sid, Outcome.FAILED, f"invalid: {exc}")
        rcpt = envelope_address(recipient.email)
        for attempt in (1, 2):
            try:
                return self._transact(message.from_email, sid, rcpt, data, message_id)
            except _Uncertain as exc:
                self._drop()
                return Result(sid, Outcome.UNCERTAIN, f"after DATA: {exc}", message_id=message_id)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # Before DATA nothing was taken: reconnect once, unless the link is merely slow.
                self._drop()
                if attempt == 2 or isinstance(exc, TimeoutError):
                    return Result(sid, Outcome.RETRYABLE, f"before DATA: {_describe(exc)}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _transact(self, sender: str, sid: int, rcpt: str, data: bytes, message_id: str) -> Result:
        """MAIL, RCPT, DATA on the shared connection; a refusal answers, a drop raises."""
        conn = self._connection()
        options = [f"size={len(data)}"] if conn.has_extn("size") else []
        if needs_smtputf8(rcpt):
            if not conn.has_extn("smtputf8"):
                reason = "invalid: the address needs SMTPUTF8, which the server does not offer"
                return Result(sid, Outcome.FAILED, reason)
            options.append("SMTPUTF8")
        code, reply = conn.mail(sender, options)
        if code != 250:
            self._reset(conn)
            return _refused(sid, code, reply, "sender refused")
        code, reply = conn.rcpt(rcpt)
        if code not in (250, 251):
            self._reset(conn)
            return _refused(sid, code, reply, "recipient refused", bounce=True)
        try:
            # smtplib raises for a refused DATA command but *returns* the final reply.
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:
            self._reset(conn)
            return _refused(sid, exc.smtp_code, exc.smtp_error, "content refused")
        except (smtplib.SMTPException, OSError) as exc:
            raise _Uncertain(_describe(exc)) from exc
        if code != 250:
            self._reset(conn)
            return _refused(sid, code, reply, "content refused")
        return Result(sid, Outcome.ACCEPTED, message_id=message_id)

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        try:
            self._conn = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise _Unreachable(f"login refused: {_describe(exc)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _Unreachable(f"{self.url.host}:{self.url.port}: {_describe(exc)}") from exc
        return self._conn

    def _connect(self) -> smtplib.SMTP:
        u = self.url
        conn: smtplib.SMTP
        if u.tls:
            conn = smtplib.SMTP_SSL(
                u.host,
                u.port,
                timeout=self.timeout,
                context=self.ssl_context,
                local_hostname=self.local_hostname,
            )
        else:
            conn = smtplib.SMTP(
                u.host, u.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            conn.ehlo_or_helo_if_needed()
            secure = u.tls
            if not u.tls and conn.has_extn("starttls"):
                conn.starttls(context=self.ssl_context)
                conn.ehlo()
                secure = True
            if u.username is not None:
                if not secure and not self.plaintext_auth:
                    raise smtplib.SMTPNotSupportedError(
                        "the server offers no STARTTLS: the password is not sent in clear text "
                        "(use smtps:// or a server with STARTTLS)"
                    )
                _login(conn, u.username, u.password or "")
        except BaseException:
            conn.close()
            raise
        self.connections += 1
        return conn

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refusal so the next message starts clean; a dead link is dropped."""
        try:
            code, _ = conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
            return
        if code != 250:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _login(conn: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN when offered, else smtplib's own choice: one try, not one per mechanism.

    `smtplib.login` falls through every mechanism on a wrong password, which multiplies failed
    logins against the server's lockout counters (and some servers hang on the second one).
    """
    advertised = conn.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in advertised:
        conn.login(username, password)
        return
    conn.user, conn.password = username, password
    conn.auth("PLAIN", conn.auth_plain)


def _refused(sid: int, code: int, reply: bytes | str, label: str, bounce: bool = False) -> Result:
    """A server refusal: 5xx is permanent (FAILED), anything else may pass later (RETRYABLE)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    detail = f"{code} {text}".strip()
    if 500 <= code < 600:
        reason = f"{BOUNCE_PREFIX} {detail}" if bounce else f"{label}: {detail}"
        return Result(sid, Outcome.FAILED, reason)
    return Result(sid, Outcome.RETRYABLE, f"{label}: {detail}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# --- the registry's entry ----------------------------------------------------------------------


class SmtpSettings(ProviderSettings):
    """Sending through an SMTP server (used when `url` is set and there is no SendGrid key)."""

    section = "smtp"
    env: ClassVar[Mapping[str, str]] = {"DIGEST_SMTP_URL": "url"}

    url: SecretStr | None = Field(
        None, description="`smtp://user:pass@host:port` or `smtps://…`; holds credentials."
    )
    timeout: float = Field(
        30.0, gt=0, description="Seconds before one SMTP command or connection attempt gives up."
    )


def _make(settings: Settings) -> SmtpProvider:
    own = SmtpSettings.of(settings)
    if own.url is None:
        raise ConfigError("smtp.url is not set: set DIGEST_SMTP_URL=smtp://user:pass@host:587")
    try:
        return SmtpProvider(own.url.get_secret_value(), timeout=own.timeout)
    except ValueError as exc:
        raise ConfigError(f"smtp.url: {exc}") from None


def _checks(settings: Settings) -> list[Problem]:
    if SmtpSettings.of(settings).url is not None:
        return []
    return [
        Problem(
            "smtp.url",
            "no SMTP server",
            "set DIGEST_SMTP_URL=smtp://user:password@host:587 (or smtps://…:465)",
        )
    ]


PROVIDER = ProviderSpec("smtp", SmtpProvider, _make, _checks, SmtpSettings)
