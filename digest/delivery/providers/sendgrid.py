"""The SendGrid provider: v3 Mail Send through the official `sendgrid` package.

One request carries a whole batch (≤ 1,000 personalizations, one recipient each, in the caller's
order), so a million-recipient send is about a thousand requests. The request JSON is built here
as plain dicts and serialized with orjson, because the helper classes are slow at this size and
`Mail.add_personalization` inserts at the front. API limits are checked before anything leaves.

What each failure means, which is what the ledger needs:
- 2xx: every recipient ACCEPTED, with the request's `X-Message-Id`.
- 429 and 5xx, or the request could not be (completely) written: certainly not taken; retried
  here with exponential backoff and full jitter (or exactly as long as `Retry-After` /
  `X-RateLimit-Reset` ask), then RETRYABLE.
- other 4xx: the request itself is wrong; FAILED with SendGrid's own error messages.
- a timeout or a dropped connection after the request went out: SendGrid may have accepted it,
  so UNCERTAIN, and it is not retried (a retry could send every recipient a second copy).

Requests go over kept-alive connections (`digest.delivery.keepalive`), one per request in flight, so
a send does not pay a TCP and TLS handshake per thousand recipients; the API key is only ever in
the Authorization header, which nothing logs.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import orjson
from pydantic import Field, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from digest.config import ConfigError, ProviderSettings, Settings
from digest.delivery.headers import (
    address,
    clean_header_text,
    edition_headers,
    envelope_address,
    list_headers,
    subject_of,
)
from digest.delivery.keepalive import MAX_IDLE, KeptAlive, NoAnswer, NotSent
from digest.delivery.provider import (
    EditionMessage,
    InvalidMessage,
    Outcome,
    Problem,
    ProviderDefaults,
    ProviderSpec,
    Recipient,
    Result,
    check_batch,
)

MAX_PERSONALIZATIONS = 1000
MAX_REQUEST_BYTES = 30_000_000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "Content-Type",
        "Content-Transfer-Encoding",
        "To",
        "From",
        "Subject",
        "Reply-To",
        "CC",
        "BCC",
    )
)
_PLAIN_EMAIL = re.compile(
    r"[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+@[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+"
)
MAIL_SEND = "/v3/mail/send"
CONTENT_TYPE = "application/json"

Observer = Callable[[int, Mapping[str, str]], None]
"""Called with (status, lower-cased headers) for every HTTP answer: metrics, and contract tests."""

log = logging.getLogger(__name__)


class _Transient(Exception):
    """Certainly not accepted; worth another try after `delay` seconds (None: use backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.delay = reason, delay


class _Permanent(Exception):
    """SendGrid refused the request as wrong: the same request will always fail."""


class _Unknown(Exception):
    """The request went out and no answer came back: it may have been accepted."""


class SendGridProvider(ProviderDefaults):
    """Sends a batch as one Mail Send request; see the module docstring for outcomes."""

    name = "sendgrid"
    leaves_machine = True
    per_message = False  # one answer per request of up to 1,000 recipients
    parallel = 2  # stateless per request: one request on the wire while the next is prepared

    def __init__(
        self,
        api_key: str,
        host: str = "https://api.sendgrid.com",
        timeout: float = 30.0,
        max_attempts: int = 5,
        *,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        observe: Observer | None = None,
        max_idle: float = MAX_IDLE,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._http = KeptAlive(self.host, timeout, max_idle=max_idle)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": CONTENT_TYPE,
            "Accept": "application/json",
            "User-Agent": "digest",
        }
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._observe = observe

    def __repr__(self) -> str:
        return f"SendGridProvider(host={self.host!r})"  # never the key

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """One request per batch (split only if it would pass 30 MB); results in input order."""
        check_batch(recipients)
        base = base_body(message)
        results: dict[int, Result] = {}
        items: list[tuple[int, dict[str, Any]]] = []
        for index, recipient in enumerate(recipients):
            try:
                items.append((index, personalization(message, recipient)))
            except ValueError as exc:
                results[index] = Result(recipient.subscriber_id, Outcome.FAILED, f"invalid: {exc}")
        for chunk, payload in _sized_requests(base, items):
            answered = self._deliver(payload, [recipients[i].subscriber_id for i, _ in chunk])
            results.update(zip((i for i, _ in chunk), answered, strict=True))
        return [results[i] for i in range(len(recipients))]

    def close(self) -> None:
        """Close the kept-alive connections (a later send opens new ones)."""
        self._http.close()

    def _deliver(self, payload: bytes, ids: list[int]) -> list[Result]:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._worth_retrying),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            message_id = retrying(self._post, payload)
        except _Transient as exc:
            return [Result(s, Outcome.RETRYABLE, exc.reason, retry_after=exc.delay) for s in ids]
        except _Permanent as exc:
            return [Result(s, Outcome.FAILED, str(exc)) for s in ids]
        except _Unknown as exc:
            return [Result(s, Outcome.UNCERTAIN, str(exc)) for s in ids]
        return [Result(s, Outcome.ACCEPTED, message_id=message_id) for s in ids]

    def _post(self, payload: bytes) -> str | None:
        """One attempt; returns X-Message-Id or raises one of the three outcome exceptions."""
        try:
            answer = self._http.post(MAIL_SEND, payload, self._headers)
        except NotSent as exc:
            raise _Transient(f"not sent: {exc}") from None
        except NoAnswer as exc:
            what = "timed out" if exc.timed_out else str(exc)
            raise _Unknown(f"no answer after the request was sent ({what})") from None
        log.debug("POST %s: %d bytes, HTTP %d", MAIL_SEND, len(payload), answer.status)
        self._notify(answer.status, answer.headers)
        if 200 <= answer.status < 300:
            return answer.headers.get("x-message-id")
        reason = f"HTTP {answer.status}: {error_messages(answer.body)}"
        if answer.status == 429 or answer.status >= 500:
            raise _Transient(reason, self._requested_delay(answer.headers))
        raise _Permanent(reason)

    def _worth_retrying(self, exc: BaseException) -> bool:
        return isinstance(exc, _Transient) and (exc.delay is None or exc.delay <= self.max_wait)

    def _wait(self, state: RetryCallState) -> float:
        """The server's requested delay when it gave one, else full-jitter exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.delay is not None:
            return exc.delay
        cap = min(self.max_wait, self.backoff * 2.0 ** (state.attempt_number - 1))
        return float(self._jitter() * cap)

    def _requested_delay(self, headers: Mapping[str, str]) -> float | None:
        """Seconds asked for by `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset`."""
        now = self._clock()
        delays = [
            d
            for d in (
                _retry_after(headers.get("retry-after", ""), now),
                _epoch_delay(headers.get("x-ratelimit-reset", ""), now),
            )
            if d is not None
        ]
        return max(0.0, *delays) if delays else None

    def _notify(self, status: int, headers: Mapping[str, str]) -> None:
        if self._observe is not None:
            self._observe(int(status), headers)


def base_body(message: EditionMessage) -> dict[str, Any]:
    """Everything but the personalizations: shared by every request of the edition."""
    subject = subject_of(message)
    if not subject:
        raise InvalidMessage("the subject is empty")
    if not message.text or not message.html:
        raise InvalidMessage("both a text and an HTML part are needed")
    categories = list(dict.fromkeys(c for c in message.categories))
    if len(categories) > MAX_CATEGORIES:
        raise InvalidMessage(f"{len(categories)} categories; SendGrid allows {MAX_CATEGORIES}")
    for category in categories:
        if not category or len(category) > MAX_CATEGORY_LENGTH:
            raise InvalidMessage(f"category {category[:40]!r} must be 1-255 characters")
    try:
        sender = address(message.from_email, message.from_name)
        reply_to = address(message.reply_to) if message.reply_to else None
    except ValueError as exc:
        raise InvalidMessage(str(exc)) from None
    headers = {
        "X-Digest-Issue": str(message.issue_id),
        "X-Digest-Edition": str(message.edition_id),
        **edition_headers(message),
    }
    check_headers(headers)
    body: dict[str, Any] = {
        "from": _party(sender.addr_spec, sender.display_name),
        "subject": subject,
        "content": [  # the API requires text/plain before text/html
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "headers": headers,
    }
    if reply_to is not None:
        body["reply_to"] = {"email": reply_to.addr_spec}
    if categories:
        body["categories"] = categories
    return body


def personalization(message: EditionMessage, recipient: Recipient) -> dict[str, Any]:
    """One recipient's personalization; raises ValueError when it breaks a per-recipient limit.

    This runs once per recipient (a million times for a large list), so it avoids the email
    package: the values go into JSON, where SendGrid builds the headers, and need only be free of
    control characters, which the fast checks below guarantee.
    """
    # Three decimal ids: far below MAX_CUSTOM_ARGS_BYTES, so no per-recipient size check.
    custom_args = {
        "issue_id": str(message.issue_id),
        "edition_id": str(message.edition_id),
        "subscriber_id": str(recipient.subscriber_id),
    }
    item: dict[str, Any] = {
        "to": [_party(checked_email(recipient.email), _display_name(recipient.name))],
        "custom_args": custom_args,
    }
    headers = list_headers(message, recipient)
    if headers:
        item["headers"] = headers
    substitutions = _substitutions(recipient)
    if substitutions:
        item["substitutions"] = substitutions
    return item


def checked_email(email: str) -> str:
    """`email` as SendGrid takes it: one plain addr-spec (no spaces, controls, brackets), an
    internationalized domain in its ASCII (IDNA) form, as SMTP sends it; else ValueError.

    SendGrid validates addresses as ASCII, and one it refuses fails the whole request, so a
    non-ASCII local part (which only SMTPUTF8 can carry) fails that recipient alone, here.
    """
    if not email.isascii():
        email = envelope_address(email)
        if not email.isascii():
            raise ValueError(f"SendGrid cannot send to a non-ASCII mailbox name {email!r}")
    if _PLAIN_EMAIL.fullmatch(email) is None:
        raise ValueError(f"unusable email address {email!r}")
    return email


def _display_name(name: str) -> str:
    return name.strip() if name.isprintable() else clean_header_text(name)


def _substitutions(recipient: Recipient) -> dict[str, str]:
    """HTML and text tokens together; the parts use distinct tokens, so none may collide."""
    html_values, text_values = recipient.html_values, recipient.text_values
    merged = {**html_values, **text_values}
    if len(merged) != len(html_values) + len(text_values):
        for token in html_values.keys() & text_values.keys():
            if html_values[token] != text_values[token]:
                raise ValueError(f"token {token!r} has different HTML and text values")
    # JSON writes a character in at most 6 bytes (`\u001b`), plus quotes, colon and comma per
    # entry: under that bound (every ordinary recipient) the exact size need not be computed.
    bound = 2 + sum(6 * (len(k) + len(v)) + 4 for k, v in merged.items())
    if bound > MAX_SUBSTITUTIONS_BYTES and len(orjson.dumps(merged)) > MAX_SUBSTITUTIONS_BYTES:
        raise ValueError(f"substitutions exceed {MAX_SUBSTITUTIONS_BYTES} bytes")
    return merged


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse any header SendGrid reserves (it would reject the whole request)."""
    reserved = [h for h in headers if h.lower() in RESERVED_HEADERS]
    if reserved:
        raise InvalidMessage(f"SendGrid does not allow setting headers {reserved}")


def error_messages(body: bytes | str | None) -> str:
    """SendGrid's `{"errors":[{"message","field","help"}]}` as one line; raw text otherwise."""
    if not body:
        return "no error body"
    try:
        errors = orjson.loads(body)["errors"]
        parts = []
        for error in errors:
            text = str(error.get("message") or "error")
            extra = [f"{k}: {error[k]}" for k in ("field", "help") if error.get(k)]
            parts.append(f"{text} ({'; '.join(extra)})" if extra else text)
        return "; ".join(parts) or "no error message"
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return clean_header_text(raw)[:500]


def _sized_requests(
    base: dict[str, Any], items: list[tuple[int, dict[str, Any]]]
) -> list[tuple[list[tuple[int, dict[str, Any]]], bytes]]:
    """Serialized request bodies for `items`, halving any chunk whose body would pass 30 MB."""
    if not items:
        return []
    if len(items) > MAX_PERSONALIZATIONS:
        raise InvalidMessage(f"more than {MAX_PERSONALIZATIONS} personalizations in one request")
    payload = orjson.dumps({**base, "personalizations": [p for _, p in items]})
    if len(payload) <= MAX_REQUEST_BYTES:
        return [(items, payload)]
    if len(items) == 1:
        raise InvalidMessage(f"one message is {len(payload)} bytes; SendGrid's limit is 30 MB")
    half = len(items) // 2
    return _sized_requests(base, items[:half]) + _sized_requests(base, items[half:])


def _retry_after(value: str, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: a number of seconds, or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def _epoch_delay(value: str, now: float) -> float | None:
    """`X-RateLimit-Reset` (epoch seconds of the reset) as seconds from `now`."""
    try:
        return float(value) - now if value.strip() else None
    except ValueError:
        return None


def _party(email: str, name: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


# --- the registry's entry ----------------------------------------------------------------------


class SendGridSettings(ProviderSettings):
    """Sending through SendGrid's Mail Send API (used when there is a key), and its signed Event
    Webhook."""

    section = "sendgrid"
    env: ClassVar[Mapping[str, str]] = {
        "SENDGRID_API_KEY": "api_key",
        "DIGEST_SENDGRID_API_HOST": "api_host",
    }

    api_key: SecretStr | None = Field(None, description="SendGrid API key.")
    api_host: str = Field("https://api.sendgrid.com", description="SendGrid API base URL.")
    timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for SendGrid's answer to one Mail Send request."
    )
    max_attempts: int = Field(
        5, ge=1, le=20, description="Tries per request on 429/5xx/no connection (with backoff)."
    )
    webhook_public_key: str | None = Field(
        None,
        description="Event Webhook verification key (Mail Settings → Signed Event Webhook), the "
        "base64 body of the PEM; without it every webhook POST is refused.",
    )


def _make(settings: Settings) -> SendGridProvider:
    own = SendGridSettings.of(settings)
    if own.api_key is None:
        raise ConfigError("sendgrid.api_key is not set: set SENDGRID_API_KEY")
    return SendGridProvider(
        own.api_key.get_secret_value(),
        host=own.api_host,
        timeout=own.timeout,
        max_attempts=own.max_attempts,
    )


def _checks(settings: Settings) -> list[Problem]:
    if SendGridSettings.of(settings).api_key is not None:
        return []
    return [
        Problem(
            "sendgrid.api_key",
            "no SendGrid API key",
            "set SENDGRID_API_KEY to a key with the Mail Send permission",
        )
    ]


PROVIDER = ProviderSpec("sendgrid", SendGridProvider, _make, _checks, SendGridSettings)
