"""Building one recipient's RFC 5322 message safely, for SMTP and the outbox.

Names and subjects come from configuration and subscriber lists, so they are hostile input:
every control character (CR and LF above all) is replaced before it reaches a header, and
addresses are built with `email.headerregistry.Address`, which encodes display names correctly
and refuses CR/LF. A value that still cannot be made safe (an address or link with control
characters) raises `ValueError`, which providers report as a FAILED result for that recipient.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.delivery.provider import EditionMessage, Recipient, personalize

TEST_PREFIX = "[TEST] "
ONE_CLICK = "List-Unsubscribe=One-Click"

_SPACES = re.compile(r"\s+")
_UNSAFE_URL = re.compile(r"[\s<>\"\\\x00-\x1f\x7f]")


def clean_header_text(value: str) -> str:
    """`value` with every control or line/paragraph separator as a space, runs of space collapsed.

    Replacing rather than deleting keeps "Ann\\nLee" readable as "Ann Lee"; collapsing means no
    folded continuation line can ever be forged.
    """
    chars = [
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in "\u0085" else c for c in value
    ]
    return _SPACES.sub(" ", "".join(chars)).strip()


def subject_of(message: EditionMessage) -> str:
    """The subject as sent: cleaned, and marked when it is a test send."""
    subject = clean_header_text(message.subject)
    return f"{TEST_PREFIX}{subject}" if message.test else subject


def envelope_address(email: str) -> str:
    """`email` as sent: an internationalized domain in its ASCII (IDNA) form; ValueError if unsafe.

    Only a non-ASCII local part then still needs SMTPUTF8 (see `needs_smtputf8`).
    """
    if not email or _UNSAFE_URL.search(email) or email.count("@") != 1:
        raise ValueError(f"unusable email address {email!r}")
    local, domain = email.rsplit("@", 1)
    if not local or not domain:
        raise ValueError(f"unusable email address {email!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"unusable email domain {domain!r}") from exc
    return f"{local}@{domain}"


def needs_smtputf8(email: str) -> bool:
    """True when the address cannot be written in ASCII (its local part is not ASCII)."""
    return not email.isascii()


def address(email: str, name: str = "") -> Address:
    """A header-safe Address; raises ValueError for an addr-spec with control chars or spaces."""
    local, domain = envelope_address(email).rsplit("@", 1)
    return Address(display_name=clean_header_text(name), username=local, domain=domain)


# Folding at 78 columns makes the email package turn a long header with no spaces into RFC 2047
# encoded-words; a `List-Unsubscribe` URL then reads `=?utf-8?q?=3Chttps...` and mail clients
# cannot use it for one-click unsubscribe. RFC 5322's hard limit is 998.
_SMTP = policy.SMTP.clone(max_line_length=998)
_SMTPUTF8 = policy.SMTPUTF8.clone(max_line_length=998)


def serialize(email: EmailMessage) -> bytes:
    """The message as sent over SMTP (CRLF); raw UTF-8 headers only where an address needs it."""
    to = str(email["To"] or "")
    utf8 = any(needs_smtputf8(a.addr_spec) for a in email["To"].addresses) if to else False
    return email.as_bytes(policy=_SMTPUTF8 if utf8 else _SMTP)


def list_unsubscribe(url: str) -> str:
    """The `List-Unsubscribe` value for one link; refuses a URL that could break out of `<…>`."""
    if not url or _UNSAFE_URL.search(url) or not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"unusable unsubscribe URL {url!r}")
    return f"<{url}>"


def list_headers(message: EditionMessage, recipient: Recipient) -> dict[str, str]:
    """The one-click unsubscribe headers (RFC 2369 + RFC 8058) for mail from the list; none for
    a transactional message.

    One-click unsubscribe belongs to subscription mail: RFC 8058 lets a mailbox provider remove
    the reader from the list the message came from, and Gmail's sender guidelines require it of
    "subscription messages" while exempting messages sent at the person's own request (receipts,
    password resets: transactional). A sign-up confirmation is such a message, sent to someone
    who is on no list yet: a one-click header there would offer to leave a list they never
    joined, and its POST has nothing to unsubscribe. So such a message carries none.
    """
    if message.transactional:
        return {}
    return {
        "List-Unsubscribe": list_unsubscribe(recipient.unsubscribe_url),
        "List-Unsubscribe-Post": ONE_CLICK,
    }


def from_domain(message: EditionMessage) -> str:
    """The From address's domain: Message-IDs are minted under it."""
    return message.from_email.rsplit("@", 1)[-1]


def build_email(
    message: EditionMessage,
    recipient: Recipient,
    *,
    message_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """One recipient's multipart/alternative message: text/plain first, then text/html, UTF-8.

    Clients show the last alternative they can render, so the HTML part must come last.
    """
    msg = EmailMessage()
    msg["From"] = address(message.from_email, message.from_name)
    msg["To"] = address(recipient.email, recipient.name)
    if message.reply_to:
        msg["Reply-To"] = address(message.reply_to)
    msg["Subject"] = subject_of(message)
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid("digest", domain=from_domain(message))
    for name, value in list_headers(message, recipient).items():
        msg[name] = value
    msg["X-Digest-Issue"] = str(message.issue_id)
    msg["X-Digest-Edition"] = str(message.edition_id)
    msg.set_content(personalize(message.text, recipient.text_values), charset="utf-8")
    msg.add_alternative(
        personalize(message.html, recipient.html_values), subtype="html", charset="utf-8"
    )
    return msg
