"""The interface's shared pieces: personalize, batch limits, and the memory double."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from digest.delivery import (
    MAX_BATCH,
    InvalidMessage,
    MemoryProvider,
    Outcome,
    Provider,
    Result,
    personalize,
)
from digest.delivery.provider import EditionMessage, Recipient

MessageFactory = Callable[..., EditionMessage]
RecipientsFactory = Callable[..., list[Recipient]]


def test_personalize_replaces_every_occurrence_of_each_token() -> None:
    out = personalize("Hi %%a%%, bye %%a%%; %%b%%", {"%%a%%": "Ann", "%%b%%": "x"})
    assert out == "Hi Ann, bye Ann; x"


def test_personalize_is_one_pass_so_values_are_never_substituted_again() -> None:
    out = personalize("%%a%% %%b%%", {"%%a%%": "%%b%%", "%%b%%": "B"})
    assert out == "%%b%% B"


def test_personalize_prefers_the_longest_token_when_one_prefixes_another() -> None:
    assert personalize("{x}{xy}", {"{x": "1", "{xy}": "2"}) == "1}2"


def test_personalize_leaves_unknown_tokens_and_empty_values_alone() -> None:
    assert personalize("%%z%% and %%a%%", {"%%a%%": ""}) == "%%z%% and "


def test_memory_provider_records_calls_and_answers_accepted(
    make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    provider = MemoryProvider()
    message = make_message()
    recipients = make_recipients(3)
    results = provider.send(message, recipients)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r for _, r in provider.sent] == recipients


def test_memory_provider_answers_from_its_script(
    make_message: MessageFactory, make_recipients: RecipientsFactory
) -> None:
    bounce = Result(2, Outcome.FAILED, "bounce: 550 no such user")
    provider = MemoryProvider(outcomes={2: bounce, "reader3@example.com": Outcome.UNCERTAIN})
    results = provider.send(make_message(), make_recipients(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FAILED, Outcome.UNCERTAIN]


def test_every_provider_satisfies_the_protocol(tmp_path: Path) -> None:
    from digest.delivery.providers.outbox import OutboxProvider
    from digest.delivery.providers.sendgrid import SendGridProvider
    from digest.delivery.providers.smtp import SmtpProvider

    providers = [
        MemoryProvider(),
        OutboxProvider(str(tmp_path)),
        SmtpProvider("smtp://127.0.0.1:2525"),
        SendGridProvider("SG.test", host="http://127.0.0.1:9"),
    ]
    assert all(isinstance(p, Provider) for p in providers)


def test_a_batch_over_the_limit_is_refused_before_sending(
    make_message: MessageFactory, sample: SimpleNamespace
) -> None:
    provider = MemoryProvider()
    recipients: list[Recipient] = [sample.recipient(1)] * (MAX_BATCH + 1)
    with pytest.raises(InvalidMessage):
        provider.send(make_message(), recipients)
    assert provider.calls == []
