"""The SendGrid provider's requests against Twilio SendGrid's official OpenAPI description.

Prism (`@stoplight/prism-cli`, npm) serves `../shared/sendgrid/tsg_mail_v3.yaml` and answers 400
with an `sl-violations` header for any request the official schema rejects. The spec lives beside
the repository, never inside it; where it or Prism is missing, these tests skip and say what to
install where.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from digest.delivery import MAX_BATCH, Outcome
from digest.delivery.provider import EditionMessage, Recipient
from digest.delivery.providers.sendgrid import CONTENT_TYPE, SendGridProvider, personalization

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / ".." / "shared" / "sendgrid" / "tsg_mail_v3.yaml"
LOCAL_PRISM = REPO / ".tools" / "node_modules" / ".bin" / "prism"
INSTALL = "npm install --prefix .tools @stoplight/prism-cli@5 (at the repo root; needs Node.js)"

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]


def _prism() -> str | None:
    if LOCAL_PRISM.exists():
        return str(LOCAL_PRISM)
    return shutil.which("prism")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer (404 for "/") means Prism is up
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `prism mock` on a free port for the session; skip when it cannot run here."""
    if not SPEC.is_file():
        pytest.skip(f"SendGrid's OpenAPI spec is missing at {SPEC.resolve()} (../shared/sendgrid)")
    prism = _prism()
    if prism is None or shutil.which("node") is None:
        pytest.skip(f"Prism is not installed: {INSTALL}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC.resolve())],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prism did not start; its log:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Answers:
    """Every HTTP answer the provider saw, through its `observe` hook."""

    seen: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def __call__(self, status: int, headers: Mapping[str, str]) -> None:
        self.seen.append((status, dict(headers)))

    @property
    def violations(self) -> list[str]:
        return [h["sl-violations"] for _, h in self.seen if "sl-violations" in h]


def provider_for(url: str, answers: Answers) -> SendGridProvider:
    """A provider that never retries, so every request the schema rejects is visible."""
    return SendGridProvider("SG.contract-test", host=url, max_attempts=1, observe=answers)


def test_a_multi_batch_send_passes_the_official_schema(
    prism_url: str, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    answers = Answers()
    provider = provider_for(prism_url, answers)
    recipients = make_recipients(2_500)
    results = []
    for start in range(0, len(recipients), MAX_BATCH):
        results += provider.send(make_message(), recipients[start : start + MAX_BATCH])
    assert answers.violations == []
    assert [status for status, _ in answers.seen] == [202, 202, 202]
    assert {r.outcome for r in results} == {Outcome.ACCEPTED} and len(results) == 2_500


def test_a_minimal_test_send_passes_the_official_schema(
    prism_url: str, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    answers = Answers()
    message = make_message(reply_to=None, categories=(), from_name="", test=True)
    provider_for(prism_url, answers).send(message, make_recipients(1))
    assert answers.violations == []
    assert [status for status, _ in answers.seen] == [202]


def test_internationalized_domains_pass_the_official_schema(
    prism_url: str, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    answers = Answers()
    readers = [
        replace(r, email=f"reader{r.subscriber_id}@bücher.example") for r in make_recipients(3)
    ]
    results = provider_for(prism_url, answers).send(make_message(), readers)
    assert answers.violations == []
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3


def test_a_transactional_message_passes_the_official_schema_without_list_headers(
    prism_url: str, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    answers = Answers()
    message, (reader,) = make_message(transactional=True), make_recipients(1)
    assert "headers" not in personalization(message, reader)
    provider_for(prism_url, answers).send(message, [reader])
    assert answers.violations == [] and [status for status, _ in answers.seen] == [202]


def test_prism_does_flag_what_the_schema_forbids(prism_url: str) -> None:
    """The control: with the provider's Content-Type, a duplicated category is a violation."""
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": "a@example.com"}]}],
        "from": {"email": "digest@news.example.org"},
        "subject": "x",
        "content": [{"type": "text/plain", "value": "x"}],
        "categories": ["same", "same"],
    }
    request = urllib.request.Request(
        f"{prism_url}/v3/mail/send",
        data=orjson.dumps(body),
        headers={"Authorization": "Bearer SG.x", "Content-Type": CONTENT_TYPE},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 400
    assert "uniqueItems" in (raised.value.headers.get("sl-violations") or "")


def test_list_id_feedback_id_and_reply_to_pass_the_official_schema(
    prism_url: str, make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    answers = Answers()
    message = make_message(
        list_id="Signal Weekly <signal-weekly.news.example.org>",
        feedback_id="digest:strategy_circle:2026-W47:signal-weekly",
    )
    provider_for(prism_url, answers).send(message, make_recipients(2))
    assert answers.violations == []
    assert [status for status, _ in answers.seen] == [202]


def test_substitutions_over_sendgrids_limit_fail_that_recipient(
    make_message: MessageFactory, sample: Any
) -> None:
    within = sample.recipient(1, name="A" * 1500)  # over the quick bound, within the limit
    assert personalization(make_message(), within)["substitutions"]
    beyond = sample.recipient(2, name="\x1b" * 1700)  # each written as \u001b: over 10,000
    with pytest.raises(ValueError, match="substitutions exceed"):
        personalization(make_message(), beyond)
