"""Forgetting a person across the stages that hold their data: the audience and the ledger.

Erasure spans two stages: the audience keeps the subscriber row and the suppression list, the
delivery stage the ledger rows and the events about them. The audience sits below delivery and
must not reach up into its tables, so the whole operation is composed here, one floor up, in the
caller's transaction: the audience's part first (the keyed hash goes on the list), then the
ledger's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, or_, select

from digest.audience.store import forget_subscriber
from digest.storage.schema import deliveries, events


@dataclass(frozen=True)
class Forgotten:
    subscriber: bool
    deliveries: int
    events: int


def forget_history(conn: Connection, subscriber_id: int) -> tuple[int, int]:
    """Delete the ledger rows of a subscriber and every event about them or those rows;
    returns (deliveries, events) deleted."""
    their_deliveries = select(deliveries.c.id).where(deliveries.c.subscriber_id == subscriber_id)
    gone_events = conn.execute(
        delete(events).where(
            or_(
                events.c.subscriber_id == subscriber_id,
                events.c.delivery_id.in_(their_deliveries),
            )
        )
    ).rowcount
    gone_deliveries = conn.execute(
        delete(deliveries).where(deliveries.c.subscriber_id == subscriber_id)
    ).rowcount
    return int(gone_deliveries or 0), int(gone_events or 0)


def forget(conn: Connection, raw_email: str) -> Forgotten:
    """Erase the person everywhere (subscriber, deliveries, events) and keep only the hash.

    The hash goes on the suppression list (reason `forgotten` unless one is already there), so
    a later import of the same address cannot quietly mail them again.
    """
    subscriber_id = forget_subscriber(conn, raw_email)
    if subscriber_id is None:
        return Forgotten(False, 0, 0)
    gone_deliveries, gone_events = forget_history(conn, subscriber_id)
    return Forgotten(True, gone_deliveries, gone_events)
