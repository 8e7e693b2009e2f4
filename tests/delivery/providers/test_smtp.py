"""The SMTP provider against a real SMTP server (aiosmtpd) running in the test process.

What arrived is read back and parsed as a mail client would; the handler scripts refusals and
dropped connections, and counts connections by the SMTP sessions that sent MAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from digest.delivery import OutboxProvider, Outcome
from digest.delivery.provider import EditionMessage, Recipient
from digest.delivery.providers.smtp import SmtpProvider, SmtpUrl

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="install the test extra: pip install -e '.[test]'"
)
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]


@dataclass
class Sink:
    """An aiosmtpd handler that stores what arrives and scripts the server's misbehaviour."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    drop_on_mail: int = 0
    drop_on_data: int = 0
    stall_on_rcpt: float = 0.0
    stall_on_data: float = 0.0
    data_reply: str | None = None
    data_commands: int = 0

    @property
    def connections(self) -> int:
        return len({id(s) for s in self.sessions})

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if all(s is not session for s in self.sessions):
            self.sessions.append(session)
        if self.drop_on_mail:
            self.drop_on_mail -= 1
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stall_on_rcpt:
            await asyncio.sleep(self.stall_on_rcpt)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.drop_on_data:
            self.drop_on_data -= 1
            server.transport.close()
            return "421 closing"
        if self.stall_on_data:
            await asyncio.sleep(self.stall_on_data)
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"

    def emails(self) -> list[EmailMessage]:
        """Each stored message parsed as a mail client would."""
        out = []
        for _, _, content in self.received:
            email = message_from_bytes(content, policy=policy.default)
            assert isinstance(email, EmailMessage)
            out.append(email)
        return out


@contextlib.contextmanager
def serving(sink: Sink, port: int, **server_kwargs: Any) -> Iterator[Sink]:
    """Run an aiosmtpd server for `sink` on `port` while the block runs."""
    controller = aiosmtpd_controller.Controller(
        sink, hostname="127.0.0.1", port=port, **server_kwargs
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def sink(port: int) -> Iterator[Sink]:
    with serving(Sink(), port) as running:
        yield running


@pytest.fixture
def provider(port: int) -> Iterator[SmtpProvider]:
    smtp = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=5)
    yield smtp
    smtp.close()


def test_every_recipient_gets_one_accepted_message(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    results = provider.send(make_message(), make_recipients(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [rcpts for _, rcpts, _ in sink.received] == [
        [f"reader{i}@example.com"] for i in (1, 2, 3)
    ]


def test_envelope_sender_is_the_from_address(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(), make_recipients(1))
    assert sink.received[0][0] == "digest@news.example.org"


def test_arrived_message_is_alternative_text_then_html(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(), make_recipients(1))
    (email,) = sink.emails()
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]


def test_arrived_parts_carry_the_recipients_values(
    sink: Sink, provider: SmtpProvider, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    provider.send(make_message(), [sample.recipient(4, name="Ann & <Bo>")])
    text, html = (p.get_content() for p in sink.emails()[0].iter_parts())
    assert "Hello Ann & <Bo> #4" in text and "https://news.example.org/u/4?t=abc&x=1" in text
    assert "Hello Ann &amp; &lt;Bo&gt; #4" in html and "u/4?t=abc&amp;x=1" in html


def test_arrived_message_has_unsubscribe_message_id_and_date(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    (result,) = provider.send(make_message(), make_recipients(1))
    (email,) = sink.emails()
    assert email["List-Unsubscribe"] == "<https://news.example.org/u/1?t=abc&x=1>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["Message-ID"] == result.message_id
    assert email["Date"].datetime is not None


def test_arrived_message_names_its_list_feedback_loop_and_reply_address(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    message = make_message(
        list_id="Signal Weekly <signal-weekly.news.example.org>",
        feedback_id="digest:open:2026-W47:signal-weekly",
    )
    provider.send(message, make_recipients(1))
    (email,) = sink.emails()
    assert email["List-Id"] == "Signal Weekly <signal-weekly.news.example.org>"
    assert email["Feedback-ID"] == "digest:open:2026-W47:signal-weekly"
    assert email["Reply-To"] == "editor@news.example.org"


def test_no_reply_to_header_unless_one_is_configured(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(reply_to=None), make_recipients(1))
    (email,) = sink.emails()
    assert email["Reply-To"] is None and email["List-Id"] is None


def test_hostile_name_and_subject_inject_no_header(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(), make_recipients(1))
    (email,) = sink.emails()
    assert email.get_all("Bcc") is None and email.get_all("X-Injected") is None
    assert sink.received[0][1] == ["reader1@example.com"]


def test_one_connection_serves_many_messages_and_batches(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(), make_recipients(3))
    provider.send(make_message(edition_id=22), make_recipients(2, start=10))
    assert (sink.connections, provider.connections, len(sink.received)) == (1, 1, 5)


def test_reconnects_and_resends_when_the_server_drops_before_data(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    provider.send(make_message(), make_recipients(1))
    sink.drop_on_mail = 1
    results = provider.send(make_message(), make_recipients(1, start=2))
    assert results[0].outcome is Outcome.ACCEPTED
    assert (sink.connections, len(sink.received)) == (2, 2)


def test_a_drop_after_data_is_uncertain_and_not_resent(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.drop_on_data = 1
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.UNCERTAIN
    assert sink.data_commands == 1


def test_the_batch_goes_on_after_an_uncertain_message(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.drop_on_data = 1
    results = provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.UNCERTAIN, Outcome.ACCEPTED]


def test_a_550_refusal_is_a_failed_hard_bounce_with_the_reply(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.refuse["reader2@example.com"] = "550 5.1.1 No such user here"
    results = provider.send(make_message(), make_recipients(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FAILED, Outcome.ACCEPTED]
    assert results[1].reason == "bounce: 550 5.1.1 No such user here"


def test_a_451_refusal_is_retryable(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.refuse["reader1@example.com"] = "451 4.7.1 Greylisted, try later"
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.RETRYABLE
    assert result.reason is not None and "451 4.7.1 Greylisted" in result.reason


def test_content_refused_at_data_is_failed_but_not_a_bounce(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.data_reply = "554 5.7.1 Message rejected as spam"
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.FAILED
    assert result.reason == "content refused: 554 5.7.1 Message rejected as spam"


def test_a_temporary_refusal_at_data_is_retryable(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.data_reply = "452 4.3.1 Insufficient system storage"
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.RETRYABLE


def test_the_connection_is_reused_after_a_refusal(
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sink.refuse["reader1@example.com"] = "550 5.1.1 No such user here"
    results = provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.ACCEPTED]
    assert sink.connections == 1


def test_a_timeout_after_data_is_uncertain(
    sink: Sink, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    sink.stall_on_data = 3.0
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=0.3)
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.UNCERTAIN


def test_a_timeout_before_data_is_retryable(
    sink: Sink, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    sink.stall_on_rcpt = 3.0
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=0.3)
    (result,) = provider.send(make_message(), make_recipients(1))
    assert (result.outcome, sink.data_commands) == (Outcome.RETRYABLE, 0)


def test_no_server_makes_the_whole_batch_retryable(
    port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=2)
    results = provider.send(make_message(), make_recipients(3))
    assert [r.outcome for r in results] == [Outcome.RETRYABLE] * 3


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    ok = auth_data.login == b"us@er" and auth_data.password == b"p:ss w/rd"
    return aiosmtpd_smtp.AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_sink(port: int) -> Iterator[Sink]:
    with serving(
        Sink(), port, authenticator=_authenticator, auth_required=True, auth_require_tls=False
    ) as running:
        yield running


def test_credentials_from_the_url_are_percent_decoded_and_used(
    auth_sink: Sink, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    provider = SmtpProvider(f"smtp://us%40er:p%3Ass%20w%2Frd@127.0.0.1:{port}", timeout=5)
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.ACCEPTED
    assert len(auth_sink.received) == 1


def test_wrong_credentials_send_nothing_and_say_so(
    auth_sink: Sink, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    provider = SmtpProvider(f"smtp://us%40er:wrong@127.0.0.1:{port}", timeout=5)
    results = provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.RETRYABLE] * 2
    assert results[0].reason is not None and "login refused" in results[0].reason


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", (False, "mail.example.org", 25, None, None)),
        ("smtps://u:p@mail.example.org", (True, "mail.example.org", 465, "u", "p")),
        ("smtp://a%40b:c%25d@h:587", (False, "h", 587, "a@b", "c%d")),
    ],
)
def test_smtp_urls_are_parsed_with_defaults(url: str, expected: tuple[object, ...]) -> None:
    u = SmtpUrl.parse(url)
    assert (u.tls, u.host, u.port, u.username, u.password) == expected


def test_the_password_never_appears_in_the_url_repr() -> None:
    assert "secret" not in repr(SmtpUrl.parse("smtp://user:secret@h:25"))


@pytest.mark.parametrize("url", ["http://h", "smtp://", "smtp://h:notaport"])
def test_unusable_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpUrl.parse(url)


# --- internationalized addresses -----------------------------------------------------------


def test_an_internationalized_domain_is_sent_in_its_ascii_form(
    sink: Sink, provider: SmtpProvider, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    from dataclasses import replace

    reader = replace(sample.recipient(1), email="reader@bücher.example")
    (result,) = provider.send(make_message(), [reader])
    assert result.outcome is Outcome.ACCEPTED
    assert sink.received[0][1] == ["reader@xn--bcher-kva.example"]


def test_a_non_ascii_mailbox_uses_smtputf8_when_offered(
    port: int, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    from dataclasses import replace

    reader = replace(sample.recipient(1), email="jörg@example.com")
    with serving(Sink(), port, enable_SMTPUTF8=True) as sink:
        provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=5)
        (result,) = provider.send(make_message(), [reader])
        provider.close()
    assert result.outcome is Outcome.ACCEPTED
    # RFC 6532: raw UTF-8 headers, which the str parser reads as a client would.
    email = message_from_string(sink.received[0][2].decode("utf-8"), policy=policy.default)
    assert email["To"].addresses[0].addr_spec == "jörg@example.com"


def test_a_non_ascii_mailbox_fails_where_smtputf8_is_not_offered(
    port: int, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    from dataclasses import replace

    reader = replace(sample.recipient(1), email="jörg@example.com")
    with serving(Sink(), port, enable_SMTPUTF8=False) as sink:
        provider = SmtpProvider(f"smtp://127.0.0.1:{port}", timeout=5)
        (result,) = provider.send(make_message(), [reader])
        provider.close()
    assert sink.received == []
    assert result.outcome is Outcome.FAILED
    assert result.reason is not None and "SMTPUTF8" in result.reason


# --- TLS: STARTTLS when offered, smtps:// from the start, no password in clear text -------


@dataclass(frozen=True)
class Tls:
    server: Any
    client: Any


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1, and contexts that serve and trust it."""
    import ssl

    pytest.importorskip("cryptography.x509", reason="TLS tests need `cryptography`")
    from tests.tls import self_signed

    cert_file, key_file = self_signed(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return Tls(server, client)


def test_starttls_is_used_when_offered_before_auth(
    tls: Tls, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    options = {"tls_context": tls.server, "require_starttls": True, "auth_required": True}
    with serving(Sink(), port, authenticator=_authenticator, **options) as sink:
        url = f"smtp://us%40er:p%3Ass%20w%2Frd@127.0.0.1:{port}"
        provider = SmtpProvider(url, timeout=5, ssl_context=tls.client)
        (result,) = provider.send(make_message(), make_recipients(1))
        provider.close()
    assert result.outcome is Outcome.ACCEPTED and len(sink.received) == 1


def test_smtps_speaks_tls_from_the_first_byte(
    tls: Tls, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    with serving(Sink(), port, ssl_context=tls.server) as sink:
        provider = SmtpProvider(f"smtps://127.0.0.1:{port}", timeout=5, ssl_context=tls.client)
        (result,) = provider.send(make_message(), make_recipients(1))
        provider.close()
    assert result.outcome is Outcome.ACCEPTED and len(sink.received) == 1


def test_no_password_in_clear_text_unless_allowed(
    auth_sink: Sink, port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    url = f"smtp://us%40er:p%3Ass%20w%2Frd@127.0.0.1:{port}"
    provider = SmtpProvider(url, timeout=5, plaintext_auth=False)
    (result,) = provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.RETRYABLE
    assert result.reason is not None and "STARTTLS" in result.reason
    assert auth_sink.received == []


# --- one MIME builder: the outbox writes what SMTP sends (issue 11) --------------------------

VARYING = (b"Date: ", b"Message-ID: ")  # minted per message


def _fixed_lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\r\n") if not line.startswith(VARYING)]


@pytest.mark.parametrize(
    "name", ["=?utf-8?q?Admin?=", "张伟" * 30, 'Eve "Ops", <Ltd>', "Zoë 名"], ids=str.__len__
)
def test_the_outbox_writes_the_bytes_smtp_sends(
    tmp_path: Path,
    sink: Sink,
    provider: SmtpProvider,
    make_message: MessageFactory,
    sample: SimpleNamespace,
    name: str,
) -> None:
    message = make_message(subject="本周情报：亚太市场与供应链风险的全面评估，以及对下一季度的影响")
    reader = sample.recipient(1, name=name)
    provider.send(message, [reader])
    OutboxProvider(tmp_path).send(message, [reader])
    written = (tmp_path / "2026-W47" / "21-1.eml").read_bytes()
    assert _fixed_lines(written) == _fixed_lines(sink.received[0][2])


def test_encoded_words_on_the_wire_are_at_most_75_characters(
    sink: Sink, provider: SmtpProvider, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    message = make_message(subject="本周情报：亚太市场与供应链风险的全面评估，以及对下一季度的影响")
    provider.send(message, [sample.recipient(1, name="张伟" * 30)])
    head = sink.received[0][2].split(b"\r\n\r\n", 1)[0]
    words = re.findall(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=", head)
    assert len(words) > 4 and max(len(w) for w in words) <= 75
