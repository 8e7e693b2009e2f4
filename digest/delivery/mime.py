"""One recipient's message as bytes, from an edition encoded once: the SMTP and outbox builder.

The email package's quoted-printable encoder costs ~10-25 ms for an 80 KB edition: per
recipient, that caps an SMTP send far below what the server takes. Here the edition's parts are
split at their placeholder tokens and each static piece is quoted-printable encoded once
(binascii, C). Per recipient only the values are encoded and spliced in, each between soft line
breaks (`=` CRLF), which decode to nothing; so every line stays within 76 characters and the
decoded text is exactly `fill(part, values)`. Headers are written through
`digest.delivery.headers` (cleaned text, `Address`-checked addresses, encoded-words of at most
75 characters, a refused List-Unsubscribe URL raises ValueError). SMTP and the outbox both
write what `render` returns, byte for byte.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from functools import lru_cache

from digest.delivery.headers import (
    address,
    edition_headers,
    envelope_address,
    from_domain,
    header_line,
    list_headers,
    mailbox_line,
    subject_of,
)
from digest.delivery.provider import EditionMessage, Recipient
from digest.issues.render.placeholders import token_pattern

CRLF = b"\r\n"
SOFT = b"=\r\n"


def _qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line ends (binascii writes LF for a text's own line ends)."""
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def _lines(text: str) -> bytes:
    """UTF-8 with every line break as LF, as the email package normalizes a text part."""
    return text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")


class _Part:
    """One body part: static pieces encoded once, tokens in between.

    Split with the very pattern `fill` uses for these tokens (longest first, one pass), so the
    decoded part is exactly what `fill` would give (line breaks normalized and a final newline
    ensured, as the email package does).
    """

    def __init__(self, text: str, tokens: tuple[str, ...]) -> None:
        if tokens:
            pattern = token_pattern(tokens)
            pieces, self.tokens = pattern.split(text), pattern.findall(text)
        else:
            pieces, self.tokens = [text], []
        self.last_empty = pieces[-1] == ""
        if pieces[-1] and not pieces[-1].endswith(("\n", "\r")):
            pieces[-1] += "\n"
        self.encoded = [_qp(_lines(p)) for p in pieces]

    def render(self, values: Mapping[str, str]) -> bytes:
        out = [self.encoded[0]]
        value = ""
        for token, static in zip(self.tokens, self.encoded[1:], strict=True):
            value = values[token]
            out += (SOFT, _qp(_lines(value)), SOFT, static)
        if self.last_empty and not value.endswith(("\n", "\r")):
            out.append(CRLF)
        return b"".join(out)


class PreparedEdition:
    """An edition encoded once; `render` gives each recipient's complete message."""

    def __init__(self, message: EditionMessage) -> None:
        self.message = message
        sender = address(message.from_email, message.from_name)
        self.boundary = f"==digest-{message.edition_id}-{make_msgid()[1:-1].split('@')[0]}"
        fixed = [mailbox_line("From", sender.addr_spec, sender.display_name)]
        self._after_to = []
        if message.reply_to:
            self._after_to.append(f"Reply-To: {address(message.reply_to).addr_spec}")
        self._after_to.append(header_line("Subject", subject_of(message)))
        self._after_to.extend(f"{k}: {v}" for k, v in edition_headers(message).items())
        self._fixed = fixed
        self._trailer = (
            f"X-Digest-Issue: {message.issue_id}\r\n"
            f"X-Digest-Edition: {message.edition_id}\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'
        ).encode("ascii")
        part_head = (
            '--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        self._text_head = part_head.format(b=self.boundary, kind="plain").encode("ascii")
        self._html_head = b"\r\n" + part_head.format(b=self.boundary, kind="html").encode("ascii")
        self._end = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._parts: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[_Part, _Part]] = {}
        self.domain = from_domain(message)

    def _parts_for(self, recipient: Recipient) -> tuple[_Part, _Part]:
        """The encoded parts for this recipient's token set (the same for a whole edition)."""
        key = (
            tuple(sorted(k for k in recipient.text_values if k)),
            tuple(sorted(k for k in recipient.html_values if k)),
        )
        found = self._parts.get(key)
        if found is None:
            found = (_Part(self.message.text, key[0]), _Part(self.message.html, key[1]))
            self._parts[key] = found
        return found

    def render(self, recipient: Recipient, date: datetime | None = None) -> tuple[bytes, str]:
        """(the message as sent over SMTP, its Message-ID); ValueError for unusable input."""
        to = address(recipient.email, recipient.name)
        envelope_address(recipient.email)
        message_id = make_msgid("digest", domain=self.domain)
        lines = [
            *self._fixed,
            mailbox_line("To", to.addr_spec, to.display_name),
            *self._after_to,
            f"Date: {format_datetime(date or datetime.now(UTC))}",
            f"Message-ID: {message_id}",
            *(f"{name}: {value}" for name, value in list_headers(self.message, recipient).items()),
        ]
        head = ("\r\n".join(lines) + "\r\n").encode("utf-8") + self._trailer
        text, html = self._parts_for(recipient)
        body = (
            self._text_head,
            text.render(recipient.text_values),
            self._html_head,
            html.render(recipient.html_values),
            self._end,
        )
        return head + b"".join(body), message_id


@lru_cache(maxsize=32)
def prepared(message: EditionMessage) -> PreparedEdition:
    """The encoded edition, shared by every recipient of it (EditionMessage is hashable)."""
    return PreparedEdition(message)
