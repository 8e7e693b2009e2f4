"""Telling the editors something by email (an issue skipped at its approval deadline).

A notice is one plain message to a few staff addresses, sent through the same provider an
unattended send uses, so it arrives wherever the publication's mail goes (the outbox on a fresh
install). It never touches the delivery ledger: editors are not subscribers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from digest.config import Settings
from digest.delivery import make_provider
from digest.delivery.provider import EditionMessage, Outcome, Provider, Recipient
from digest.delivery.providers import configured_provider

NOTICES = "notices"  # the outbox folder (period key) notices are written under


class NoticeError(RuntimeError):
    """The provider did not accept a notice for one or more editors."""


def notice_message(settings: Settings, subject: str, body: str) -> EditionMessage:
    pub = settings.publication
    return EditionMessage(
        issue_id=0,
        edition_id=0,
        period_key=NOTICES,
        tier="editors",
        locale="en",
        subject=subject,
        html=f"<pre style='font:14px/1.5 monospace;white-space:pre-wrap'>{html.escape(body)}</pre>",
        text=body,
        from_email=pub.from_email,
        from_name=pub.from_name,
        reply_to=None,
        categories=("digest-notice",),
        transactional=True,  # editors are on no list: no one-click unsubscribe to offer
    )


def notify_editors(
    settings: Settings,
    addresses: Sequence[str],
    subject: str,
    body: str,
    provider: Provider | None = None,
) -> None:
    """Send `body` to each editor; raise NoticeError naming whom the provider did not take."""
    editor_page = f"{settings.publication.base_url.rstrip('/')}/editor/"
    recipients = [
        Recipient(
            subscriber_id=-(i + 1),  # not subscribers: ids that can never match a ledger row
            email=address,
            name="",
            html_values={},
            text_values={},
            unsubscribe_url=editor_page,
        )
        for i, address in enumerate(addresses)
    ]
    provider = provider or make_provider(configured_provider(settings), settings)
    try:
        results = provider.send(notice_message(settings, subject, body), recipients)
    finally:
        provider.close()
    refused = [
        f"{r.email}: {res.outcome} {res.reason or ''}".strip()
        for r, res in zip(recipients, results, strict=True)
        if res.outcome is not Outcome.ACCEPTED
    ]
    if refused:
        raise NoticeError("; ".join(refused))
