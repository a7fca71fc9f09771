"""The weights the hedgers of a process split the liability by, when the carry allocation moves
them: read from the store (where the carry allocator, whichever process runs it, keeps them),
so that every hedger of a cluster uses the same ones.

The hedger refreshes them at the start of each cycle (one read of a row per leg) and cycles
when an AllocationChanged arrives; in between the cycle asks for them synchronously, from here.
Before the first decision everything is on the first leg.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pegkeeper.domain.carry_records import opening_weights
from pegkeeper.ports.allocation import AllocationRepository


class SharedWeights:
    def __init__(self, allocations: AllocationRepository, legs: Sequence[str]) -> None:
        """`legs`: the allocation's legs in order, by their configured instrument."""
        self._allocations = allocations
        self._legs = tuple(legs)
        self._weights = opening_weights(len(self._legs))
        self.version = 0  # of the weights last read (0: none stored yet)

    def __call__(self) -> tuple[Decimal, ...]:
        return self._weights

    async def refresh(self) -> None:
        stored = await self._allocations.weights()
        self._weights = stored.or_opening(self._legs)
        self.version = stored.version
