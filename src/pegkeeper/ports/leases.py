"""The port of leases with fencing (domain.leases): one holder at a time per singleton."""

from __future__ import annotations

from typing import Protocol

from pegkeeper.domain.leases import Lease


class LeaseRepository(Protocol):
    async def acquire(self, name: str, holder: str, ttl_ms: int) -> Lease | None:
        """Takes the lease when free or expired, renews it for its holder (its epoch rises
        when it is taken, not when it is renewed); None while another process holds it."""
        ...

    async def release(self, lease: Lease) -> bool:
        """Gives it up at once; False when it was no longer held at that epoch."""
        ...

    async def current(self, name: str) -> Lease | None: ...

    async def all(self) -> list[Lease]:
        """Every lease row, held or expired, by name."""
        ...
