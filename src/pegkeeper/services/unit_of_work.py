"""A unit of work: what a service writes together, and the events it publishes once that is
committed. An event is never published for a write that was rolled back, and a subscriber
that reads the store on an event finds what the event announces."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pegkeeper.ports import Bus, Store


class Events:
    """The events of one unit of work, published in order after its commit."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes]] = []

    def add(self, topic: str, payload: bytes) -> None:
        self.pending.append((topic, payload))


class UnitOfWork:
    def __init__(self, store: Store, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Events]:
        events = Events()
        async with self._store.transaction():
            yield events
        for topic, payload in events.pending:
            await self._bus.publish(topic, payload)
