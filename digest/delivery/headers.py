"""Header values made safe: cleaned text, checked addresses, RFC 2047 encoded-words.

Names and subjects come from configuration and subscriber lists, so they are hostile input:
every control character (CR and LF above all) is replaced before it reaches a header, and
addresses are checked with `email.headerregistry.Address`, which refuses CR/LF. A value that
still cannot be made safe (an address or link with control characters) raises `ValueError`,
which providers report as a FAILED result for that recipient.

Text that is not plain ASCII, or that a mail client could take for an encoded-word (`=?…?=`),
is written as RFC 2047 `B` encoded-words of whole characters, each at most 75 characters, on
lines of at most 76 (RFC 2047 §2); so a subscriber named `=?utf-8?q?Admin?=` is shown exactly
so, never as "Admin". SMTP and the outbox write headers only through `header_line` and
`mailbox` (in `digest.delivery.mime`), so the two never disagree.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from email.headerregistry import Address

from digest.delivery.provider import EditionMessage, Recipient

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


_FEEDBACK_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PHRASE_SAFE = re.compile(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]+")


def list_id_value(name: str, identifier: str) -> str:
    """`Name <identifier>` for the List-Id header (RFC 2919); the phrase only when it is plain
    ASCII a header can carry as is (else the id alone), so SMTP and SendGrid send the same."""
    if not identifier or _UNSAFE_URL.search(identifier):
        raise ValueError(f"unusable List-Id {identifier!r}")
    phrase = clean_header_text(name)
    if phrase and _PHRASE_SAFE.fullmatch(phrase):
        return f"{phrase} <{identifier}>"
    return f"<{identifier}>"


def feedback_id_value(campaign: str, tier: str, period_key: str, sender: str) -> str:
    """`campaign:tier:period:sender`, as Gmail's feedback loop reads Feedback-ID: each field
    reduced to letters, digits, dots, hyphens and underscores (a colon would shift them)."""
    fields = [_FEEDBACK_UNSAFE.sub("-", f).strip("-") for f in (campaign, tier, period_key, sender)]
    return ":".join(f or "-" for f in fields)


def edition_headers(message: EditionMessage) -> dict[str, str]:
    """The list's identity headers of one edition (List-Id, Feedback-ID): the same for every
    recipient, made from configuration and ids only, never from signal text."""
    headers = {}
    if message.list_id and not message.transactional:
        headers["List-Id"] = clean_header_text(message.list_id)
    if message.feedback_id:
        headers["Feedback-ID"] = clean_header_text(message.feedback_id)
    return headers


def from_domain(message: EditionMessage) -> str:
    """The From address's domain: Message-IDs are minted under it."""
    return message.from_email.rsplit("@", 1)[-1]


MAX_WORD = 75
"""RFC 2047 §2: an encoded-word is at most 75 characters."""
MAX_ENCODED_LINE = 76
"""RFC 2047 §2: a header line holding an encoded-word is at most 76 characters."""
_WORD_FRAME = len("=?utf-8?b??=")
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def needs_encoding(text: str) -> bool:
    """Whether `text` must be encoded-words: not ASCII, or readable as an encoded-word."""
    return not text.isascii() or "=?" in text


def encoded_words(text: str, first: int = MAX_WORD) -> list[str]:
    """`text` as `B` encoded-words of whole UTF-8 characters: the first at most `first`
    characters long (what is left of its line), the others at most 75."""
    words: list[str] = []
    chunk: list[str] = []
    size, budget = 0, first
    for char in text:
        width = len(char.encode("utf-8"))
        if chunk and size + width > (budget - _WORD_FRAME) // 4 * 3:
            words.append(_word("".join(chunk)))
            chunk, size, budget = [], 0, MAX_WORD
        chunk.append(char)
        size += width
    if chunk:
        words.append(_word("".join(chunk)))
    return words


def _word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


Segment = tuple[bool, str]
"""(encode?, text): a run of text to write as encoded-words, or as it is."""


def _folded(start: int, segments: list[Segment]) -> str:
    """`segments` joined by spaces, a new (continuation) line wherever one would pass 76.

    An encoded run's first word is sized to what is left of the current line.
    """
    out: list[str] = []
    width = start
    for encode, text in segments:
        room = MAX_ENCODED_LINE - width - (1 if out else 0)
        for token in encoded_words(text, room) if encode else [text]:
            if out and width + 1 + len(token) > MAX_ENCODED_LINE:
                out.append("\r\n ")
                width = 1
            elif out:
                out.append(" ")
                width += 1
            out.append(token)
            width += len(token)
    return "".join(out)


def _unstructured(text: str) -> list[Segment]:
    """Plain ASCII words as they are, each run of other words encoded together.

    The space between two encoded-words is not text (RFC 2047 §6.2), so a run keeps its inner
    spaces inside the encoding; text whose spacing single spaces cannot carry is encoded whole.
    """
    if text != text.strip(" ") or "  " in text:
        return [(True, text)]
    segments: list[Segment] = []
    for word in text.split(" "):
        encode = needs_encoding(word)
        if encode and segments and segments[-1][0]:
            segments[-1] = (True, f"{segments[-1][1]} {word}")
        else:
            segments.append((encode, word))
    return segments


def header_line(name: str, text: str) -> str:
    """`Name: value` for cleaned `text`: as is when plain ASCII, else with encoded-words."""
    if not needs_encoding(text):
        return f"{name}: {text}"
    return f"{name}: {_folded(len(name) + 2, _unstructured(text))}"


def mailbox_line(name: str, email: str, display_name: str = "") -> str:
    """`Name: display <addr>` (or just the address), the display name quoted or encoded."""
    if not display_name:
        return f"{name}: {email}"
    if needs_encoding(display_name):  # a phrase: encoded whole (its specials are text then)
        return f"{name}: {_folded(len(name) + 2, [(True, display_name), (False, f'<{email}>')])}"
    if _SPECIALS.search(display_name):
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{name}: "{quoted}" <{email}>'
    return f"{name}: {display_name} <{email}>"
