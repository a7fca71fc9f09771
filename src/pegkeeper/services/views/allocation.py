"""The allocation as the API shows it: each leg with its configured weight and its share of
the liability now (moved by the carry allocation when it is on, read from the store where its
allocator, in whichever process, keeps them), and the carry allocation's last decisions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.carry_records import CarryDecisionRecord
from pegkeeper.ports.allocation import AllocationRepository


@dataclass(frozen=True, slots=True)
class LegRow:
    instrument_id: str  # as configured (BTC-USD-QUARTERLY: the rolling quarterly)
    venue: str
    configured_weight: Decimal  # [allocation] legs' weight
    weight: Decimal  # its share of the liability now, the legs' add up to 1


@dataclass(frozen=True, slots=True)
class AllocationStatus:
    carry: bool  # whether the carry allocation moves the weights
    version: int  # of the stored weights (0: none stored yet)
    updated_at_ms: int | None
    legs: tuple[LegRow, ...]
    decisions: tuple[CarryDecisionRecord, ...]  # newest first


class AllocationView:
    def __init__(
        self, allocations: AllocationRepository, allocation: Allocation, carry: bool
    ) -> None:
        self._allocations = allocations
        self._allocation = allocation
        self._carry = carry

    async def status(self, limit: int) -> AllocationStatus:
        legs = self._allocation.legs
        configured = [leg.weight for leg in legs]
        stored = await self._allocations.weights()
        if self._carry:
            weights = stored.or_opening([leg.instrument_id for leg in legs])
        else:
            weights = tuple(w / sum(configured) for w in configured)
        rows = tuple(
            LegRow(leg.instrument_id, leg.venue, leg.weight, weight)
            for leg, weight in zip(legs, weights, strict=True)
        )
        decisions = tuple(await self._allocations.recent_decisions(limit))
        version, updated = (stored.version, stored.updated_at_ms) if self._carry else (0, None)
        return AllocationStatus(self._carry, version, updated, rows, decisions)
