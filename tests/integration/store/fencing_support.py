"""Writes made as a lease holder believes it holds, shared by the store tests of fencing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pegkeeper.domain.leases import Lease, LeaseLost, act_under

T = TypeVar("T")


class HeldLease:
    """What a woken holder believes: `lease`, and whether its local deadline passed."""

    def __init__(self, lease: Lease, deadline_passed: bool = False) -> None:
        self.lease = lease
        self.deadline_passed = deadline_passed

    def lease_for_write(self) -> Lease:
        if self.deadline_passed:
            raise LeaseLost("deadline passed")
        return self.lease


async def as_holder(held: HeldLease, body: Callable[[], Awaitable[T]]) -> T:
    """Runs `body` in a task of its own acting under `held`, as a singleton's task does."""

    async def run() -> T:
        act_under(held)
        return await body()

    return await asyncio.create_task(run())
