"""The outbox (specs/distributed.md): money events written in the same transaction as the
state they announce, and relayed to the bus after the commit, so that a crash between the
commit and the publish loses no event. Delivery is at least once; consumers are level-triggered
(a message only wakes them, they read the state from the store)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int  # the order the events were written in
    topic: str
    payload: bytes
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """The events not relayed yet: how many, and when the oldest of them was written."""

    count: int
    oldest_created_at_ms: int | None  # None when there is none

    def oldest_age_ms(self, now_ms: int) -> int:
        """How long the oldest has waited at `now_ms` (0 when none waits)."""
        if self.oldest_created_at_ms is None:
            return 0
        return max(now_ms - self.oldest_created_at_ms, 0)
