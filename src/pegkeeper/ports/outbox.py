"""The port of the outbox table (domain.outbox): events written with the state they announce,
relayed to the bus afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pegkeeper.domain.outbox import OutboxBacklog, OutboxEntry


class OutboxRepository(Protocol):
    async def add(self, topic: str, payload: bytes, now_ms: int) -> int:
        """Writes one event (inside the open unit of work: in its transaction); returns its
        id, which orders it after every event written before it."""
        ...

    async def unpublished(
        self,
        limit: int,
        *,
        created_before_ms: int | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[OutboxEntry]:
        """Up to `limit` events not marked published, oldest first; only those written before
        `created_before_ms`, or only those among `ids`, when given. Inside a unit of work the
        rows are claimed until it ends: another unit's read skips them, so two relays never
        publish the same row at once."""
        ...

    async def mark_published(self, ids: Sequence[int], now_ms: int) -> int:
        """Marks those of `ids` not marked yet; returns how many it marked."""
        ...

    async def delete_published_before(self, cutoff_ms: int) -> int:
        """Deletes the events published before `cutoff_ms` (never one not published);
        returns how many."""
        ...

    async def backlog(self) -> OutboxBacklog: ...
