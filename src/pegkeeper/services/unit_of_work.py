"""A unit of work: what a service writes together, and the events it publishes once that is
committed. An event is never published for a write that was rolled back, and a subscriber
that reads the store on an event finds what the event announces.

By default the events wait in memory and are published after the commit: one process on the
in-memory bus. In outbox mode (given an `Outbox`, services/outbox.py) they are written to the
outbox table inside the transaction, so a crash between the commit and the publish loses
none: after the commit the unit publishes them at once and marks them (the fast path, so that
latency does not wait for the relay's poll); whatever that misses, the bus down or the process
gone, stays unpublished and the relay (services/outbox_relay.py) sends it later.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog

from pegkeeper.ports import Bus, Store
from pegkeeper.services.outbox import Outbox, relay

log = structlog.get_logger("pegkeeper.unit_of_work")


class Events:
    """The events of one unit of work, published in order after its commit."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes]] = []

    def add(self, topic: str, payload: bytes) -> None:
        self.pending.append((topic, payload))


class UnitOfWork:
    def __init__(self, store: Store, bus: Bus, *, outbox: Outbox | None = None) -> None:
        self._store = store
        self._bus = bus
        self._outbox = outbox

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Events]:
        events = Events()
        async with self._store.transaction():
            yield events
            ids = await self._write_outbox(events)
        if self._outbox is None:
            for topic, payload in events.pending:
                await self._bus.publish(topic, payload)
        elif ids:
            await self._publish_now(self._outbox, ids)

    async def _write_outbox(self, events: Events) -> list[int]:
        if self._outbox is None:
            return []
        now_ms = self._outbox.clock.now_ms()
        return [
            await self._outbox.entries.add(topic, payload, now_ms)
            for topic, payload in events.pending
        ]

    async def _publish_now(self, outbox: Outbox, ids: list[int]) -> None:
        """The fast path: the unit's work is committed whatever happens here, so a failure is
        only logged and its events are left to the relay."""
        try:
            relayed = await relay(self._store, outbox, self._bus, limit=len(ids), ids=ids)
        except Exception as error:
            log.warning("events left to the outbox relay", events=len(ids), error=repr(error))
            return
        if relayed.error is not None:
            unsent = len(ids) - relayed.published
            log.warning("events left to the outbox relay", events=unsent, error=repr(relayed.error))
