"""Notices on the bus: prices, books, pegs, liability changes, operator actions. Each only wakes
or informs a consumer that reads the state it acts on from the store, so one lost while the bus
is down (Redis restarting) is dropped with a warning, once per outage, instead of failing the
service that sent it. Money events do not go this way: they go through the outbox."""

from __future__ import annotations

import structlog

from pegkeeper.domain.errors import BusUnavailable
from pegkeeper.ports import Bus, Subscription

log = structlog.get_logger("pegkeeper.bus")


class LossyBus:
    """`bus` whose publishes never raise BusUnavailable: the message is dropped instead."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self.dropped = 0
        self._down = False

    @property
    def published(self) -> dict[str, int]:
        return getattr(self._bus, "published", {})

    async def publish(self, topic: str, payload: bytes) -> None:
        try:
            await self._bus.publish(topic, payload)
        except BusUnavailable as error:
            self.dropped += 1
            if not self._down:
                self._down = True
                log.warning("bus unreachable: notices dropped until it is back", error=str(error))
            return
        if self._down:
            self._down = False
            log.info("bus reachable again", dropped=self.dropped)

    def subscribe(self, pattern: str, *, group: str | None = None) -> Subscription:
        return self._bus.subscribe(pattern, group=group)

    async def latest(self, topic: str) -> bytes | None:
        return await self._bus.latest(topic)
