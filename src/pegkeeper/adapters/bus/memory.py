"""In-process bus: one asyncio queue per subscription, fnmatch-style topic patterns.

A slow subscriber loses its oldest messages rather than stalling publishers: the bus carries
prices and notifications, never money state, which lives in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from fnmatch import fnmatchcase


class MemorySubscription:
    def __init__(self, bus: MemoryBus, pattern: str, maxsize: int) -> None:
        self._bus = bus
        self.pattern = pattern
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.members = 1  # a group's members share this subscription; the last close ends it

    def offer(self, topic: str, payload: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((topic, payload))

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self.queue.get()

    async def close(self) -> None:
        self.members -= 1
        if self.members <= 0:
            self._bus.unsubscribe(self)


class MemoryBus:
    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscriptions: list[MemorySubscription] = []
        self._groups: dict[tuple[str, str], MemorySubscription] = {}
        self._latest: dict[str, bytes] = {}
        self.published: dict[str, int] = {}  # messages by topic family ("bbo", "liability")

    async def publish(self, topic: str, payload: bytes) -> None:
        family = topic.partition(".")[0]
        published = self.published
        published[family] = published.get(family, 0) + 1
        self._latest[topic] = payload
        if not self._subscriptions:
            return  # a backtest publishes every liability change to nobody
        for subscription in self._subscriptions:
            if fnmatchcase(topic, subscription.pattern):
                subscription.offer(topic, payload)

    def subscribe(self, pattern: str, *, group: str | None = None) -> MemorySubscription:
        """A group's members in this process share one queue: each message goes to one."""
        if group is not None and (pattern, group) in self._groups:
            shared = self._groups[(pattern, group)]
            shared.members += 1
            return shared
        subscription = MemorySubscription(self, pattern, self._queue_size)
        self._subscriptions.append(subscription)
        if group is not None:
            self._groups[(pattern, group)] = subscription
        return subscription

    async def latest(self, topic: str) -> bytes | None:
        return self._latest.get(topic)

    async def close(self) -> None:
        """Nothing to release: here for callers that close any bus."""

    def unsubscribe(self, subscription: MemorySubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        self._groups = {k: v for k, v in self._groups.items() if v is not subscription}
