"""Fakes behind the carry allocation's ports: its store (fenced as the SQL store fences a lease
holder's writes), a venue's funding rates, and a venue holding positions on several
instruments at set marks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from pegkeeper.domain.carry_records import AllocationWeights, CarryDecisionRecord
from pegkeeper.domain.errors import ConflictError, NotFound
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.leases import acting_lease
from pegkeeper.domain.venue import FundingRate, SettledFundingRate, VenuePosition


class FakeAllocationRepository:
    def __init__(self) -> None:
        self.stored = AllocationWeights()
        self.decisions: list[CarryDecisionRecord] = []

    async def weights(self) -> AllocationWeights:
        return self.stored

    async def record_decision(self, decision: CarryDecisionRecord, expected_version: int) -> None:
        acting_lease()  # a holder that lost its lease writes nothing, as in the SQL store
        if self.stored.version != expected_version:
            raise ConflictError(f"at version {self.stored.version}, not {expected_version}")
        self.decisions.append(decision)
        if decision.changed:
            self.stored = AllocationWeights(
                decision.version,
                decision.stored_weights,
                decision.created_at_ms,
                decision.decision_id,
            )

    async def recent_decisions(self, limit: int) -> list[CarryDecisionRecord]:
        return list(reversed(self.decisions))[:limit]

    async def last_move(self) -> CarryDecisionRecord | None:
        return next((d for d in reversed(self.decisions) if d.move_to is not None), None)


@dataclass
class FakeRates:
    """One perpetual's published rate and settled history."""

    rate: Decimal
    funding_time_ms: int
    settled: list[SettledFundingRate] = field(default_factory=list)

    async def funding_rate(self, instrument_id: str) -> FundingRate:
        next_ms = self.funding_time_ms + 8 * 3_600_000
        return FundingRate(instrument_id, self.rate, self.funding_time_ms, next_ms)

    async def funding_rate_history(
        self, instrument_id: str, since_ms: int
    ) -> list[SettledFundingRate]:
        return [s for s in self.settled if s.funding_time_ms >= since_ms]


class FakeMarkets:
    """A venue's instruments, each with a position and a mark the test sets."""

    name = "fake"

    def __init__(self, instruments: list[Instrument], mark_usd: Decimal) -> None:
        self.instruments = {i.instrument_id: i for i in instruments}
        self.positions = {
            i.instrument_id: VenuePosition(i.instrument_id, Decimal(0), None, mark_usd)
            for i in instruments
        }
        self.reads = 0

    def hold(self, instrument_id: str, size_contracts: int | Decimal) -> None:
        position = self.positions[instrument_id]
        self.positions[instrument_id] = replace(position, size_contracts=Decimal(size_contracts))

    def mark(self, instrument_id: str, mark_usd: Decimal) -> None:
        position = self.positions[instrument_id]
        self.positions[instrument_id] = replace(position, mark_price_usd=mark_usd)

    async def instrument(self, instrument_id: str) -> Instrument:
        if instrument_id not in self.instruments:
            raise NotFound(f"no instrument {instrument_id}")
        return self.instruments[instrument_id]

    async def position(self, instrument_id: str) -> VenuePosition:
        self.reads += 1
        if instrument_id not in self.positions:
            raise NotFound(f"no instrument {instrument_id}")
        return self.positions[instrument_id]
