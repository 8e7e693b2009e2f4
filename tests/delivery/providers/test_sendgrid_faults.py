"""The SendGrid provider against a small local HTTP server that scripts SendGrid's answers.

Each test scripts the answers (429 with reset headers, 5xx, a stall, a dropped connection, a 400
with SendGrid's error body), then checks the outcome, how many requests were made, and the
sleeps the provider asked for through its injected `sleep`: no test really waits to retry.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from digest.delivery import InvalidMessage, Outcome
from digest.delivery.provider import EditionMessage, Recipient
from digest.delivery.providers.sendgrid import MAX_REQUEST_BYTES, SendGridProvider

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]
NOW = 1_800_000_000.0
API_KEY = "SG.test-key-that-must-never-be-logged"


@dataclass
class Answer:
    """One scripted answer: a status with headers and body, or "stall" / "drop".

    "close" answers normally (no `Connection: close`) and then closes the connection, as a
    server whose keep-alive timeout ran out does.
    """

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    action: str = "answer"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0

    def json(self) -> Any:
        return orjson.loads(self.body)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Answer] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen = Seen(self.path, dict(self.headers.items()), body, self.client_address[1])
        self.server.seen.append(seen)
        answer = self.server.script.pop(0) if self.server.script else Answer(202)
        if answer.action == "stall":
            self.server.release.wait(10)
            self.close_connection = True
            return
        if answer.action == "drop":  # reset the connection instead of answering
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in {"Content-Length": str(len(answer.body)), **answer.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)
        if answer.action == "close":
            self.wfile.flush()
            self.close_connection = True

    def do_CONNECT(self) -> None:  # a proxy that refuses every tunnel
        self.server.seen.append(Seen(self.path, dict(self.headers.items()), b""))
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # "drop" closed the socket already
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()


@dataclass
class Harness:
    provider: SendGridProvider
    sleeps: list[float]


def harness(url: str, **kwargs: Any) -> Harness:
    sleeps: list[float] = []
    options: dict[str, Any] = {
        "timeout": 5.0,
        "max_attempts": 4,
        "sleep": sleeps.append,
        "clock": lambda: NOW,
        "jitter": lambda: 0.5,
    }
    options.update(kwargs)
    return Harness(SendGridProvider(API_KEY, host=url, **options), sleeps)


@pytest.fixture
def sg(server: ScriptedServer) -> Harness:
    return harness(server.url)


def errors_body(*messages: tuple[str, str | None]) -> bytes:
    return orjson.dumps({"errors": [{"message": m, "field": f, "help": None} for m, f in messages]})


# --- successful requests and what they carry ---------------------------------------------


def test_accepted_batch_carries_the_x_message_id(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(202, {"X-Message-Id": "abc123"})]
    results = sg.provider.send(make_message(), make_recipients(3))
    assert [(r.outcome, r.message_id) for r in results] == [(Outcome.ACCEPTED, "abc123")] * 3


def test_one_request_per_batch_to_mail_send_with_the_bearer_key(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(), make_recipients(5))
    (seen,) = server.seen
    assert seen.path == "/v3/mail/send"
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"


def test_batches_share_one_kept_alive_connection(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    for start in (1, 11, 21):
        sg.provider.send(make_message(), make_recipients(10, start))
    assert len({seen.client_port for seen in server.seen}) == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(202, action="close")]
    sg.provider.send(make_message(), make_recipients(1))
    time.sleep(0.2)  # the server's close reaches the idle connection
    (result,) = sg.provider.send(make_message(), make_recipients(1, 2))
    assert result.outcome is Outcome.ACCEPTED  # not UNCERTAIN from writing into a closed socket
    assert (len(server.seen), sg.sleeps) == (2, [])


def test_a_connection_idle_too_long_is_not_reused(
    server: ScriptedServer, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    h = harness(server.url, max_idle=0.0)
    for start in (1, 2):
        h.provider.send(make_message(), make_recipients(1, start))
    assert len({seen.client_port for seen in server.seen}) == 2


def test_an_http_proxy_from_the_environment_gets_the_absolute_url_and_credentials(
    server: ScriptedServer,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = server.url.replace("http://", "http://ops:s%40cret@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (result,) = harness("http://sendgrid.invalid").provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.ACCEPTED
    (seen,) = server.seen
    assert seen.path == "http://sendgrid.invalid/v3/mail/send"
    assert (
        seen.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"ops:s@cret").decode()
    )


def test_an_https_origin_goes_through_the_proxys_tunnel(
    server: ScriptedServer,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    h = harness("https://api.sendgrid.invalid", max_attempts=1)
    (result,) = h.provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.RETRYABLE  # the tunnel was refused: nothing was sent
    assert [seen.path for seen in server.seen] == ["api.sendgrid.invalid:443"]


def test_no_proxy_keeps_a_host_direct(
    server: ScriptedServer,
    port: int,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    (result,) = harness(server.url).provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.ACCEPTED


def test_personalizations_keep_the_recipients_order(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(), make_recipients(4, start=10))
    body = server.seen[0].json()
    assert [p["to"][0]["email"] for p in body["personalizations"]] == [
        f"reader{i}@example.com" for i in range(10, 14)
    ]


def test_custom_args_are_per_personalization_strings_never_top_level(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(), make_recipients(1, start=3))
    body = server.seen[0].json()
    assert "custom_args" not in body
    assert body["personalizations"][0]["custom_args"] == {
        "issue_id": "7",
        "edition_id": "21",
        "subscriber_id": "3",
    }


def test_substitutions_carry_both_the_html_and_the_text_tokens(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
    sample: Any,
) -> None:
    (recipient,) = make_recipients(1)
    sg.provider.send(make_message(), [recipient])
    subs = server.seen[0].json()["personalizations"][0]["substitutions"]
    assert subs == {**recipient.html_values, **recipient.text_values}
    assert {sample.NAME_HTML, sample.NAME_TEXT} <= subs.keys()


def test_each_personalization_has_one_click_unsubscribe_headers(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(), make_recipients(1))
    headers = server.seen[0].json()["personalizations"][0]["headers"]
    assert headers == {
        "List-Unsubscribe": "<https://news.example.org/u/1?t=abc&x=1>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_content_is_text_then_html_with_clean_subject_and_names(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(test=True), make_recipients(1))
    body = server.seen[0].json()
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["subject"] == "[TEST] Weekly 47 Bcc: victim@evil.example X-Injected: yes é"
    assert "\n" not in body["from"]["name"] + body["personalizations"][0]["to"][0]["name"]


def test_an_internationalized_domain_goes_to_sendgrid_in_its_ascii_form(
    server: ScriptedServer, sg: Harness, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    reader = replace(sample.recipient(1), email="reader@bücher.example")
    (result,) = sg.provider.send(make_message(), [reader])
    assert result.outcome is Outcome.ACCEPTED
    assert b'"email":"reader@xn--bcher-kva.example"' in server.seen[0].body  # the raw request


def test_a_non_ascii_mailbox_name_fails_alone_and_the_request_goes_out(
    server: ScriptedServer, sg: Harness, make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    readers = [replace(sample.recipient(1), email="jörg@example.com"), sample.recipient(2)]
    results = sg.provider.send(make_message(), readers)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.ACCEPTED]
    assert "non-ASCII" in (results[0].reason or "")
    assert [p["to"][0]["email"] for p in server.seen[0].json()["personalizations"]] == [
        "reader2@example.com"
    ]


def test_categories_and_reply_to_are_set(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    sg.provider.send(make_message(), make_recipients(1))
    body = server.seen[0].json()
    assert body["categories"] == ["digest", "2026-W47", "tier:open"]
    assert body["reply_to"] == {"email": "editor@news.example.org"}


def test_a_recipient_with_an_unusable_address_fails_alone(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    from dataclasses import replace

    first, second, third = make_recipients(3)
    results = sg.provider.send(make_message(), [first, replace(second, email="x\r\n@y"), third])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FAILED, Outcome.ACCEPTED]
    assert len(server.seen[0].json()["personalizations"]) == 2


def test_a_token_with_different_html_and_text_values_fails_that_recipient(
    server: ScriptedServer, sg: Harness, make_message: MessageFactory, sample: Any
) -> None:
    from dataclasses import replace

    reader = sample.recipient(1)
    clash = replace(reader, text_values={**reader.text_values, sample.NAME_HTML: "other"})
    (result,) = sg.provider.send(make_message(), [clash])
    assert result.outcome is Outcome.FAILED and server.seen == []


# --- limits checked before sending -------------------------------------------------------


def test_more_than_ten_categories_are_refused_before_sending(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    message = make_message(categories=tuple(f"c{i}" for i in range(11)))
    with pytest.raises(InvalidMessage, match="categories"):
        sg.provider.send(message, make_recipients(1))
    assert server.seen == []


def test_a_request_over_30_mb_is_split_in_order(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    big = "x" * (MAX_REQUEST_BYTES - 2_000)
    results = sg.provider.send(make_message(html=big), make_recipients(4))
    assert len(server.seen) == 2 and all(len(s.body) <= MAX_REQUEST_BYTES for s in server.seen)
    assert [r.subscriber_id for r in results] == [1, 2, 3, 4]


def test_one_message_over_30_mb_is_refused(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    with pytest.raises(InvalidMessage, match="30 MB"):
        sg.provider.send(make_message(html="x" * MAX_REQUEST_BYTES), make_recipients(1))
    assert server.seen == []


def test_substitutions_over_10000_bytes_fail_that_recipient(
    server: ScriptedServer, sg: Harness, make_message: MessageFactory, sample: Any
) -> None:
    results = sg.provider.send(make_message(), [sample.recipient(1, name="N" * 6_000)])
    assert results[0].outcome is Outcome.FAILED
    assert results[0].reason is not None and "substitutions" in results[0].reason


# --- retries, backoff and the server's requested delays -----------------------------------


def test_429_waits_as_long_as_retry_after_says(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(429, {"Retry-After": "7"}), Answer(202)]
    results = sg.provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    assert (sg.sleeps, len(server.seen)) == ([7.0], 2)


def test_429_waits_until_x_ratelimit_reset(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(429, {"X-RateLimit-Reset": str(int(NOW) + 12)}), Answer(202)]
    sg.provider.send(make_message(), make_recipients(1))
    assert sg.sleeps == [12.0]


def test_500_and_503_back_off_exponentially_with_full_jitter(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(500), Answer(503), Answer(500), Answer(202)]
    (result,) = sg.provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.ACCEPTED
    assert sg.sleeps == [0.5 * 1, 0.5 * 2, 0.5 * 4]  # jitter() * min(max_wait, 2**n)


def test_5xx_past_max_attempts_is_retryable(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(503)] * 4
    results = sg.provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.RETRYABLE] * 2
    assert (len(server.seen), len(sg.sleeps)) == (4, 3)


def test_a_reset_beyond_max_wait_is_retryable_at_once_with_retry_after(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(429, {"Retry-After": "3600"})]
    (result,) = sg.provider.send(make_message(), make_recipients(1))
    assert (result.outcome, result.retry_after) == (Outcome.RETRYABLE, 3600.0)
    assert (len(server.seen), sg.sleeps) == (1, [])


def test_a_refused_connection_is_retried_then_retryable(
    port: int, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    h = harness(f"http://127.0.0.1:{port}", max_attempts=3)
    (result,) = h.provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.RETRYABLE
    assert len(h.sleeps) == 2


# --- permanent errors and unknown fates ---------------------------------------------------


def test_400_fails_the_batch_with_sendgrids_messages(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    body = errors_body(("The from address does not match a verified Sender Identity.", "from"))
    server.script = [Answer(400, {"Content-Type": "application/json"}, body)]
    results = sg.provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.FAILED] * 2
    assert results[0].reason == (
        "HTTP 400: The from address does not match a verified Sender Identity. (field: from)"
    )


def test_a_permanent_error_is_not_retried(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(413, body=errors_body(("too large", None)))]
    sg.provider.send(make_message(), make_recipients(1))
    assert (len(server.seen), sg.sleeps) == (1, [])


def test_a_timeout_after_sending_is_uncertain_and_never_retried(
    server: ScriptedServer, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    h = harness(server.url, timeout=0.3)
    server.script = [Answer(action="stall")]
    results = h.provider.send(make_message(), make_recipients(2))
    assert [r.outcome for r in results] == [Outcome.UNCERTAIN] * 2
    assert (len(server.seen), h.sleeps) == (1, [])


def test_a_connection_dropped_before_the_answer_is_uncertain(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
) -> None:
    server.script = [Answer(action="drop")]
    (result,) = sg.provider.send(make_message(), make_recipients(1))
    assert result.outcome is Outcome.UNCERTAIN
    assert (len(server.seen), sg.sleeps) == (1, [])


def test_the_api_key_is_never_logged(
    server: ScriptedServer,
    sg: Harness,
    make_message: MessageFactory,
    make_recipients: RecipientsFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        sg.provider.send(make_message(), make_recipients(1))
    assert "POST /v3/mail/send" in caplog.text  # the request was logged...
    assert API_KEY not in caplog.text  # ...without the key
    assert API_KEY not in repr(sg.provider)
