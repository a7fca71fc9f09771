"""The carry allocator: moves the allocation's weights toward the legs where a short earns the
most (domain/carry.py holds the rule), a step at a time, for the hedgers to follow.

A singleton (under the lease "carry" in a cluster), checking every `check_interval_seconds`:

1. nothing while a leg has an order in flight (the store's open orders on the legs'
   instruments), nor while the hedge is not yet where the weights put it (a leg's policy would
   still trade, or a leg is rolling: services/hedging/carry_inputs.py), so that a step is only
   taken once the last one was followed;
2. the carry of each leg, from the venue (funding rates, marks), and the rule's decision, with
   its memory (the last step and where it went) read from the stored decisions;
3. when the weights change: the weights, at the next version, and the decision, in one
   transaction, and an AllocationChanged on the bus (through the outbox where processes share
   the store); every hedger reads the weights from the store at the start of its cycles
   (services/hedging/carry_weights.py) and cycles on the event. A decision that holds is
   stored when its rule differs from the last one's, so the audit trail says why nothing moves.

Before the first decision the whole liability is on the first leg, as in the backtest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog

from pegkeeper.domain.allocation import Allocation, HedgeLeg, split_cents
from pegkeeper.domain.carry import (
    CarryDecision,
    CarryLeg,
    CarryParams,
    CarryState,
    decide_carry,
)
from pegkeeper.domain.carry_records import CarryDecisionRecord, state_after
from pegkeeper.domain.events import TOPIC_ALLOCATION, AllocationChanged, encode_event
from pegkeeper.domain.hedge_policy import HedgePolicy
from pegkeeper.domain.units import HOUR_MS
from pegkeeper.ports import Bus, Clock, FundingRates, Store, Venue
from pegkeeper.ports.allocation import AllocationRepository
from pegkeeper.services.hedging.carry_inputs import (
    CarryReader,
    LegMarket,
    Seen,
    carry_legs,
    leg_inputs,
    not_in_place,
)
from pegkeeper.services.ids import new_correlation_id
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop
from pegkeeper.services.unit_of_work import UnitOfWork

log = structlog.get_logger("pegkeeper.carry")


@dataclass(frozen=True, slots=True)
class CarryAllocatorSettings:
    allocation: Allocation  # at least two legs
    params: CarryParams
    trade_cost_bps: Decimal  # one way into or out of a leg: the venue's fee and the slippage
    spot_instrument_id: str = "BTC-USD-SWAP"  # its mark is spot for the futures' basis
    check_interval_seconds: float = 60.0
    funding_window_ms: int = 72 * HOUR_MS  # the perpetuals' mean funding is over this


class CarryAllocator:
    def __init__(
        self,
        store: Store,
        allocations: AllocationRepository,
        venue: Venue,
        rates: FundingRates,
        bus: Bus,
        clock: Clock,
        policy: HedgePolicy,
        settings: CarryAllocatorSettings,
        *,
        outbox: Outbox | None = None,
    ) -> None:
        if len(settings.allocation.legs) < 2:
            raise ValueError("the carry allocation moves weight between two legs or more")
        self._store = store
        self._allocations = allocations
        self._clock = clock
        self._policy = policy
        self.settings = settings
        self._reader = CarryReader(
            venue,
            rates,
            settings.spot_instrument_id,
            settings.params.roll_lead_ms,
            settings.funding_window_ms,
            settings.params.funding_blend,
        )
        self._unit = UnitOfWork(store, bus, outbox=outbox)
        self._state: CarryState | None = None  # None: read from the stored decisions
        self._last_rule = ""
        self.waiting_for = ""  # why the last check decided nothing ("" when it decided)
        self.checks = 0

    @property
    def legs(self) -> tuple[HedgeLeg, ...]:
        return self.settings.allocation.legs

    async def run(self) -> None:
        """Checks at start and every `check_interval_seconds`, until cancelled."""
        self._state, self._last_rule = None, ""  # another holder may have decided meanwhile
        loop = TriggerLoop("carry", self._clock, self.settings.check_interval_seconds)
        await loop.run(self._on_trigger, [])

    async def _on_trigger(self, trigger: Trigger) -> None:
        await self.check()

    async def check(self) -> CarryDecisionRecord | None:
        """One check: the decision, or None while the hedge has not followed the last change
        (`waiting_for` says why)."""
        self.checks += 1
        in_flight = await self._order_in_flight()
        if in_flight:
            self._wait(f"order {in_flight} is in flight")
            return None
        stored = await self._allocations.weights()
        weights = stored.or_opening([leg.instrument_id for leg in self.legs])
        now_ms = self._clock.now_ms()
        markets = await self._reader.markets(self.legs, now_ms)
        shares = split_cents(await self._liability_cents(), weights)
        why = not_in_place(markets, shares, self._policy)
        if why:
            self._wait(why)
            return None
        seen = await self._reader.seen(markets, now_ms)
        state = await self._carry_state()
        legs = carry_legs(markets, seen, weights, self.settings.trade_cost_bps)
        decision = decide_carry(legs, now_ms, state, self.settings.params)
        self.waiting_for = ""
        changed = decision.weights != tuple(weights)
        version = stored.version + 1 if changed else stored.version
        record = _record(decision, markets, seen, legs, now_ms, version, changed)
        if changed or decision.rule != self._last_rule:
            await self._store_decision(record, stored.version)
        self._state = decision.next_state(now_ms, state)
        return record

    async def _store_decision(self, record: CarryDecisionRecord, expected_version: int) -> None:
        async with self._unit() as events:
            await self._allocations.record_decision(record, expected_version)
            if record.changed:
                events.add(TOPIC_ALLOCATION, encode_event(_announced(record)))
        self._last_rule = record.rule
        if record.changed:
            log.info(
                "allocation moved",
                rule=record.rule,
                version=record.version,
                weights={leg.leg: str(leg.weight_after) for leg in record.legs},
                gain_bps=str(record.gain_bps),
                cost_bps=str(record.cost_bps),
            )

    async def _order_in_flight(self) -> str:
        """The client id of an order of a leg not yet final ("" when none)."""
        for order in await self._store.hedge.open_orders():
            if any(leg.owns(order.intent.instrument_id) for leg in self.legs):
                return order.intent.client_order_id
        return ""

    async def _liability_cents(self) -> int:
        latest = await self._store.liability.recent(1)
        return latest[0].balance_after_cents if latest else 0

    async def _carry_state(self) -> CarryState:
        if self._state is None:
            self._state = state_after(await self._allocations.last_move())
        return self._state

    def _wait(self, reason: str) -> None:
        if reason != self.waiting_for:
            log.info("carry allocation waits", reason=reason)
            self.waiting_for = reason


def _record(
    decision: CarryDecision,
    markets: Sequence[LegMarket],
    seen: Sequence[Seen],
    legs: Sequence[CarryLeg],
    now_ms: int,
    version: int,
    changed: bool,
) -> CarryDecisionRecord:
    move = decision.move
    return CarryDecisionRecord(
        decision_id=new_correlation_id(),
        created_at_ms=now_ms,
        rule=decision.rule,
        version=version,
        changed=changed,
        legs=leg_inputs(markets, seen, legs, decision.weights, now_ms),
        move_from=move.from_key if move is not None else None,
        move_to=move.to_key if move is not None else None,
        move_share=move.share if move is not None else None,
        gain_bps=decision.gain_bps,
        cost_bps=decision.cost_bps,
    )


def _announced(record: CarryDecisionRecord) -> AllocationChanged:
    return AllocationChanged(
        version=record.version,
        legs=[leg.leg for leg in record.legs],
        weights=[str(leg.weight_after) for leg in record.legs],
        rule=record.rule,
        decision_id=record.decision_id,
        ts_ms=record.created_at_ms,
    )
