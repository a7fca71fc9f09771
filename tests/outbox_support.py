"""Buses for the outbox tests: they record what they carried and can be taken down."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from pegkeeper.adapters.bus.memory import MemoryBus


class BusDown(ConnectionError):
    pass


class RecordingBus(MemoryBus):
    """The memory bus, recording every message it took. While `down` it refuses them; with
    `accept` set it refuses every message after that many more."""

    def __init__(self) -> None:
        super().__init__()
        self.carried: list[tuple[str, bytes]] = []
        self.down = False
        self.accept: int | None = None

    async def publish(self, topic: str, payload: bytes) -> None:
        if self.accept is not None:
            self.down = self.accept <= 0
            self.accept -= 1
        if self.down:
            raise BusDown("bus unreachable")
        self.carried.append((topic, payload))
        await super().publish(topic, payload)


class PausingBus(MemoryBus):
    """Counts each payload it carried in a counter shared with other buses, pausing a random
    moment at each message so that relays on other buses run in between."""

    def __init__(self, counts: Counter[bytes], seed: int) -> None:
        super().__init__()
        self._counts = counts
        self._rng = random.Random(seed)

    async def publish(self, topic: str, payload: bytes) -> None:
        await asyncio.sleep(self._rng.uniform(0, 0.002))
        self._counts[payload] += 1
        await super().publish(topic, payload)
