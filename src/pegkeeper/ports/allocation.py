"""The port of the carry allocation's store (domain.carry_records): the legs' current weights
with their version, and the decisions that set them."""

from __future__ import annotations

from typing import Protocol

from pegkeeper.domain.carry_records import AllocationWeights, CarryDecisionRecord


class AllocationRepository(Protocol):
    async def weights(self) -> AllocationWeights:
        """The stored weights (version 0 and no legs before the first change): one small read,
        made by every hedger at each cycle."""
        ...

    async def record_decision(self, decision: CarryDecisionRecord, expected_version: int) -> None:
        """Stores the decision and, when it changed the weights, replaces the stored weights
        by its own at `decision.version`, in one transaction. Raises ConflictError, writing
        nothing, when the stored version is no longer `expected_version`, or a changing
        decision's version is not the one after it."""
        ...

    async def recent_decisions(self, limit: int) -> list[CarryDecisionRecord]:
        """Newest first."""
        ...

    async def last_move(self) -> CarryDecisionRecord | None:
        """The newest decision that moved weight from one leg to another."""
        ...
