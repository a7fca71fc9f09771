"""In-memory funding and roll repositories (the Store port's `funding` and `rolls`): for the
backtest, whose store lives in memory, and for unit tests of the services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from pegkeeper.domain.collateral import (
    AlertRecord,
    CollateralDecisionRecord,
    CollateralOperation,
    FeeBump,
    LeverageSnapshot,
    OperationRecord,
    OperationState,
    OperationUpdate,
)
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.domain.orders import OrderIntent
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.roll import RollRecord
from pegkeeper.domain.venue import FundingPayment


class MemorySlots:
    """What the SQL store enforces on slots (an instrument, an account's class of funding
    operations): one open holder each, and a version that refuses a decision made before the
    slot's last order opened."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._held: dict[str, str] = {}

    def version(self, slot: str) -> int:
        return self._versions.get(slot, 0)

    def claim(self, slot: str, holder: str, expected_version: int | None = None) -> None:
        if slot in self._held:
            raise SlotTaken(f"{self._held[slot]} is still open on {slot}: {holder} is not sent")
        if expected_version is not None and expected_version != self.version(slot):
            raise SlotTaken(f"an order was opened on {slot} since: {holder} is not sent")
        self._versions[slot] = self.version(slot) + 1
        self._held[slot] = holder

    def release(self, slot: str, holder: str) -> None:
        if self._held.get(slot) == holder:
            del self._held[slot]


class HedgeTrail(Protocol):
    decisions: list[DecisionRecord]

    async def create_order(self, intent: OrderIntent) -> None: ...


class MemoryCollateralRepository:
    def __init__(self) -> None:
        self.decisions: list[CollateralDecisionRecord] = []
        self.operations: dict[str, OperationRecord] = {}
        self.states: list[tuple[str, OperationState]] = []
        self.bumps: list[FeeBump] = []
        self.leverage: list[LeverageSnapshot] = []
        self.alerts: list[AlertRecord] = []
        self.payments: dict[tuple[str, str], FundingPayment] = {}  # by (venue, bill id)
        self._last_payment_ms: dict[tuple[str, str], int] = {}  # the newest, by (venue, currency)
        self.slots = MemorySlots()

    async def record_decision(
        self, decision: CollateralDecisionRecord, operation: CollateralOperation | None = None
    ) -> None:
        if operation is not None:
            if operation.operation_id in self.operations:
                raise ConflictError(f"operation {operation.operation_id} exists")
            self.slots.claim(operation.slot, operation.operation_id)
        self.decisions.append(decision)
        if operation is not None:
            self.operations[operation.operation_id] = OperationRecord(
                operation, OperationState.CREATED, operation.created_at_ms, "", "", ""
            )
            self.states.append((operation.operation_id, OperationState.CREATED))

    async def record_operation_state(
        self,
        operation_id: str,
        update: OperationUpdate,
        now_ms: int,
        *,
        expected: OperationState | None = None,
    ) -> None:
        record = self.operations.get(operation_id)
        if record is None:
            raise ValueError(f"unknown funding operation {operation_id!r}")
        if record.state.is_terminal:
            raise ConflictError(
                f"funding operation {operation_id} is {record.state.value}: its state is final, "
                f"{update.state.value} is not recorded"
            )
        if expected is not None and record.state is not expected:
            raise ConflictError(
                f"funding operation {operation_id} is {record.state.value}, no longer "
                f"{expected.value}: {update.state.value} is not recorded"
            )
        self.operations[operation_id] = replace(
            record,
            state=update.state,
            updated_at_ms=now_ms,
            venue_id=update.venue_id,
            tx_id=update.tx_id,
            message=update.message,
        )
        self.states.append((operation_id, update.state))
        if update.state.is_terminal:
            self.slots.release(record.operation.slot, operation_id)

    async def get_operation(self, operation_id: str) -> OperationRecord | None:
        return self.operations.get(operation_id)

    async def open_operations(self) -> list[OperationRecord]:
        return [r for r in self.operations.values() if not r.state.is_terminal]

    async def recent_operations(self, limit: int) -> list[OperationRecord]:
        return list(reversed(self.operations.values()))[:limit]

    async def last_decision(self) -> CollateralDecisionRecord | None:
        return self.decisions[-1] if self.decisions else None

    async def recent_decisions(self, limit: int) -> list[CollateralDecisionRecord]:
        return list(reversed(self.decisions))[:limit]

    async def record_fee_bump(self, bump: FeeBump, update: OperationUpdate) -> None:
        await self.record_operation_state(bump.operation_id, update, bump.created_at_ms)
        self.bumps.append(bump)

    async def fee_bumps(self, operation_id: str) -> list[FeeBump]:
        return [b for b in self.bumps if b.operation_id == operation_id]

    async def record_leverage(self, snapshot: LeverageSnapshot) -> None:
        self.leverage.append(snapshot)

    async def recent_leverage(self, limit: int) -> list[LeverageSnapshot]:
        return list(reversed(self.leverage))[:limit]

    async def record_funding_payments(
        self, venue: str, payments: Sequence[FundingPayment], now_ms: int
    ) -> int:
        new = {(venue, p.bill_id): p for p in payments if (venue, p.bill_id) not in self.payments}
        self.payments |= new
        for payment in new.values():
            key = (venue, payment.currency)
            last_ms = self._last_payment_ms.get(key)
            if last_ms is None or payment.ts_ms > last_ms:
                self._last_payment_ms[key] = payment.ts_ms
        return len(new)

    async def last_funding_payment_ms(self, venue: str, currency: str) -> int | None:
        return self._last_payment_ms.get((venue, currency))

    async def record_alert(self, record: AlertRecord) -> None:
        self.alerts.append(record)

    async def recent_alerts(self, limit: int) -> list[AlertRecord]:
        return list(reversed(self.alerts))[:limit]

    def of_kind(self, kind: str) -> list[OperationRecord]:
        return [r for r in self.operations.values() if r.operation.kind.value == kind]


class MemoryRollRepository:
    def __init__(self, hedge: HedgeTrail) -> None:
        self.hedge = hedge
        self.rolls: list[RollRecord] = []

    async def record_roll(
        self, decision: DecisionRecord, roll: RollRecord, legs: Sequence[OrderIntent]
    ) -> None:
        self.hedge.decisions.append(decision)
        for leg in legs:
            await self.hedge.create_order(leg)
        self.rolls.append(roll)

    async def recent_rolls(self, limit: int) -> list[RollRecord]:
        return list(reversed(self.rolls))[:limit]
