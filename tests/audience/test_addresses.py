from __future__ import annotations

from email import message_from_string
from email.policy import default

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from digest.audience.addresses import (
    InvalidAddress,
    header_address,
    mailbox_key,
    normalize_email,
)


def test_normalized_form_is_lower_case() -> None:
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


def test_international_domain_is_normalized_by_the_library() -> None:
    assert normalize_email("user@BÜCHER.example") == "user@bücher.example"


@pytest.mark.parametrize(
    "bad", ["", "plainaddress", "a@b", "a@@example.com", "a..b@example.com", "a@x.test"]
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize_email(bad)


def test_display_name_form_is_not_an_address() -> None:
    with pytest.raises(InvalidAddress):
        normalize_email("Ann <ann@example.com>")


_local = st.from_regex(r"[A-Za-z0-9._%+'=-]{1,70}", fullmatch=True)
_domain = st.from_regex(
    r"[A-Za-z0-9-]{1,20}(\.[A-Za-z0-9-]{1,20}){0,3}\.[A-Za-z]{1,6}", fullmatch=True
)


@given(local=_local, domain=_domain)
def test_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalize_email(address)
    except InvalidAddress:
        got = None
    assert got == (expected.lower() if expected else None)


def test_header_from_a_hostile_name_cannot_inject_a_header() -> None:
    value = header_address("Eve\r\nBcc: victim@example.com", "eve@example.com")
    assert "\r" not in value and "\n" not in value
    msg = message_from_string(f"To: {value}\n\nbody", policy=default)
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].addr_spec == "eve@example.com"


def test_header_quotes_specials_in_a_name() -> None:
    value = header_address('Lee, "Ann" <x>', "ann@example.com")
    msg = message_from_string(f"To: {value}\n\nbody", policy=default)
    (address,) = msg["To"].addresses
    assert address.addr_spec == "ann@example.com"
    assert address.display_name == 'Lee, "Ann" <x>'


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("victim+1@example.com", "victim@example.com"),
        ("victim+a+b@example.org", "victim@example.org"),
        ("v.i.c.tim+x@gmail.com", "victim@gmail.com"),
        ("victim@googlemail.com", "victim@gmail.com"),
        ("ann.lee@example.com", "ann.lee@example.com"),  # dots matter beyond Gmail
        ("+only@example.com", "+only@example.com"),  # nothing before the tag: keep it whole
    ],
)
def test_mailbox_key_ignores_tags_and_gmail_dots(address: str, mailbox: str) -> None:
    assert mailbox_key(address) == mailbox
