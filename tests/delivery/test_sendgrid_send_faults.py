"""SendGrid faults during a real `send_period`, against a local HTTP server on a free port.

The SendGrid provider is the real one; the server plays Mail Send and counts, per recipient,
the copies it took responsibility for. A request it hangs on past the timeout or whose
connection it drops after reading it may have been taken (it is counted: the answer was lost,
not the mail), so its recipients must be `uncertain`, and no other recipient may be; a 5xx is
certainly not a send, so it is retried and every recipient gets exactly one copy.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import Engine, select

from digest.delivery.providers.sendgrid import SendGridProvider
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.schema import deliveries, subscribers
from tests.delivery.conftest import QuietHandler, serving


class MailSend(ThreadingHTTPServer):
    """Mail Send on a free port: `hang`, `drop` and `fail_once` name a recipient whose request
    gets that fault; `copies` counts what the server took."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.copies: Counter[str] = Counter()
        self.hang: set[str] = set()
        self.drop: set[str] = set()
        self.fail_once: set[str] = set()
        self.in_flight: set[str] = set()
        """Recipients of the requests hung on or dropped: the only ones that may be uncertain."""
        self.release = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(QuietHandler):
    server: MailSend

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        emails = {p["to"][0]["email"] for p in body["personalizations"]}
        with self.server.lock:
            failing = emails & self.server.fail_once
            self.server.fail_once -= failing
            if not failing:
                self.server.copies.update(emails)  # taken: whatever becomes of the answer
        if not failing and emails & (self.server.hang | self.server.drop):
            with self.server.lock:
                self.server.in_flight |= emails
        if failing:
            self._answer(503)
        elif emails & self.server.hang:
            self.server.release.wait(10)  # past the client's timeout
            self.close_connection = True
        elif emails & self.server.drop:
            self.reset()
        else:
            self._answer(202)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def mail_send() -> Iterator[MailSend]:
    srv = MailSend()
    with serving(srv, srv.release):
        yield srv


def states(engine: Engine) -> dict[str, str]:
    query = select(subscribers.c.email, deliveries.c.state).join(
        subscribers, subscribers.c.id == deliveries.c.subscriber_id
    )
    with engine.connect() as conn:
        return {str(email): str(state) for email, state in conn.execute(query)}


def send(engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace, url: str) -> None:
    """Eight readers in requests of two, through the real provider (no backoff waits)."""
    seeded.issue(engine)
    seeded.subscribers(engine, 8)
    settings = seeded.settings(db_url, tmp_path / "outbox")
    provider = SendGridProvider("SG.test", host=url, timeout=0.5, sleep=lambda _: None)
    send_period(settings, engine, parse_period(seeded.PERIOD), provider, batch_size=2)


def assert_exactly_once_or_uncertain(
    found: dict[str, str], copies: Counter[str], in_flight: set[str]
) -> None:
    assert len(found) == 8
    assert {a for a, s in found.items() if s == "uncertain"} == in_flight
    assert all(copies[a] == 1 and s == "accepted" for a, s in found.items() if a not in in_flight)


@pytest.mark.parametrize("fault", ["hang", "drop"])
def test_a_request_hung_on_or_dropped_makes_only_its_recipients_uncertain(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    seeded: SimpleNamespace,
    mail_send: MailSend,
    fault: str,
) -> None:
    """Hung past the timeout or reset after the server read it: that request's fate is unknown."""
    setattr(mail_send, fault, {"reader3@example.com"})
    send(engine, db_url, tmp_path, seeded, mail_send.url)
    assert len(mail_send.in_flight) == 2
    assert_exactly_once_or_uncertain(states(engine), mail_send.copies, mail_send.in_flight)


def test_a_5xx_is_retried_and_every_reader_gets_exactly_one_copy(
    engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace, mail_send: MailSend
) -> None:
    mail_send.fail_once = {"reader1@example.com", "reader8@example.com"}
    send(engine, db_url, tmp_path, seeded, mail_send.url)
    assert_exactly_once_or_uncertain(states(engine), mail_send.copies, mail_send.in_flight)
    assert mail_send.in_flight == set()
    assert mail_send.fail_once == set()  # both 503s were really answered


def test_all_faults_in_one_send_leave_only_the_hung_and_dropped_requests_uncertain(
    engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace, mail_send: MailSend
) -> None:
    mail_send.hang, mail_send.drop = {"reader1@example.com"}, {"reader5@example.com"}
    mail_send.fail_once = {"reader3@example.com", "reader7@example.com"}
    send(engine, db_url, tmp_path, seeded, mail_send.url)
    assert len(mail_send.in_flight) == 4
    assert_exactly_once_or_uncertain(states(engine), mail_send.copies, mail_send.in_flight)
