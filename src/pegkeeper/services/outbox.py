"""The outbox as the services use it (domain.outbox, ports.outbox), and its one rule of
relaying, shared by a unit of work's fast path (services/unit_of_work.py) and the relay
(services/outbox_relay.py).

A pass claims the oldest unpublished events in a transaction, publishes them in id order and
marks those the bus took, then commits (adapters/store/outbox_repo.py says how the claim keeps
two relays apart). When the bus refuses one, the pass stops there: those before it are marked,
it and the rest stay for a later pass, so the order is kept. A crash before the commit
publishes the pass's events again later: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pegkeeper.ports import Bus, Clock, Store
from pegkeeper.ports.outbox import OutboxRepository


@dataclass(frozen=True, slots=True)
class Outbox:
    """The store's outbox table with the clock that stamps its rows: handed to a unit of work,
    it puts the unit in outbox mode."""

    entries: OutboxRepository
    clock: Clock


@dataclass(frozen=True, slots=True)
class Relayed:
    published: int
    error: Exception | None = None  # the bus's refusal that ended the pass early


async def relay(
    store: Store,
    outbox: Outbox,
    bus: Bus,
    *,
    limit: int,
    created_before_ms: int | None = None,
    ids: Sequence[int] | None = None,
) -> Relayed:
    """One pass over up to `limit` unpublished events (only those written before
    `created_before_ms`, or among `ids`, when given), in one transaction of `store`."""
    published: list[int] = []
    refusal: Exception | None = None
    async with store.transaction():
        claimed = await outbox.entries.unpublished(
            limit, created_before_ms=created_before_ms, ids=ids
        )
        for entry in claimed:
            try:
                await bus.publish(entry.topic, entry.payload)
            except Exception as error:
                refusal = error
                break
            published.append(entry.id)
        await outbox.entries.mark_published(published, outbox.clock.now_ms())
    return Relayed(len(published), refusal)
