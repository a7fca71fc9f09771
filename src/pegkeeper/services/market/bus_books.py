"""The order books another process's feed publishes on the bus (`book.<source>.<instId>`), for
price servers that run no feed of their own: any number of them quote from one feed.

Only the newest message of each book is kept, and decoded when a quote asks for it: a server
that falls behind the feed skips to the newest book instead of working through the backlog.
Staleness is the pricer's to judge, by the exchange's time of the book.
"""

from __future__ import annotations

from pegkeeper.domain.market_events import BookSnapshot, book_topic, decode_book
from pegkeeper.ports import Bus

SOURCE = "okx"


class BusBooks:
    def __init__(self, bus: Bus, inst_ids: list[str]) -> None:
        self._bus = bus
        self._inst_ids = list(inst_ids)
        self._raw: dict[str, bytes] = {}
        self._decoded: dict[str, BookSnapshot] = {}
        self.received = 0  # book messages taken from the bus

    def latest(self, inst_id: str) -> BookSnapshot | None:
        decoded = self._decoded.get(inst_id)
        if decoded is None and (raw := self._raw.get(inst_id)) is not None:
            decoded = BookSnapshot.from_message(decode_book(raw))
            self._decoded[inst_id] = decoded
        return decoded

    def health(self) -> dict[str, str]:
        return {
            inst_id: "ok" if inst_id in self._raw else "no book on the bus yet (market-data?)"
            for inst_id in self._inst_ids
        }

    async def run(self) -> None:
        """Follows the books until cancelled, from the newest each already has on the bus."""
        subscription = self._bus.subscribe(f"book.{SOURCE}.*")
        try:
            for inst_id in self._inst_ids:
                payload = await self._bus.latest(book_topic(SOURCE, inst_id))
                if payload is not None:
                    self._take(inst_id, payload)
            async for topic, payload in subscription:
                self._take(topic.split(".", 2)[2], payload)
        finally:
            await subscription.close()

    def _take(self, inst_id: str, payload: bytes) -> None:
        self.received += 1
        self._raw[inst_id] = payload
        self._decoded.pop(inst_id, None)
