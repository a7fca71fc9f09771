"""The hedger: keeps the venue's short equal to the liability, as the policy says.

It is a trigger loop (services/trigger_loop.py) around one hedge cycle (services/hedging/cycle.py,
where the order of operations that keeps an order from being sent twice is written down).
Liability events on the bus, the venue's position changes and reconnections, the periodic
check, operators, the carry allocation's changes of weights and the cycle's own rechecks
trigger it; triggers that arrive during a cycle are folded into the next one. With weights
that the carry allocation moves, they are read from the store at the start of every cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pegkeeper.domain.events import (
    TOPIC_ALLOCATION,
    TOPIC_LIABILITY,
    TOPIC_OPERATOR,
    LiabilityChanged,
    decode_event,
)
from pegkeeper.domain.hedge_policy import HedgePolicy
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.domain.venue import VenuePosition, VenueResync
from pegkeeper.ports import Bus, Clock, ReadinessGate, Store, Venue
from pegkeeper.services.hedging.carry_weights import SharedWeights
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.cycle import HedgeCycle, HedgerSettings
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop

__all__ = ["HedgerService", "HedgerSettings"]


class HedgerService:
    def __init__(
        self,
        store: Store,
        venue: Venue,
        bus: Bus,
        clock: Clock,
        policy: HedgePolicy,
        settings: HedgerSettings,
        control: HedgeControl | None = None,
        *,
        gate: ReadinessGate | None = None,
        outbox: Outbox | None = None,
        weights: SharedWeights | None = None,
    ) -> None:
        """`weights`: the allocation's, moved by the carry allocation (None: as configured)."""
        self.hedge = HedgeCycle(
            store, venue, bus, clock, policy, settings, control, gate=gate, outbox=outbox,
            weights=weights,
        )  # fmt: skip
        self.weights = weights
        self._instrument_id = settings.instrument_id
        # where processes share the store: the operators' switch and requests read first
        self.before_cycle: Callable[[], Awaitable[None]] | None = None
        self._venue = venue
        self._bus = bus
        self._loop = TriggerLoop("hedge", clock, settings.check_interval_seconds)
        self.ready = asyncio.Event()

    @property
    def control(self) -> HedgeControl:
        return self.hedge.control

    @property
    def instrument_id(self) -> str:
        """The instrument this hedger's leg trades (its lease is named after it)."""
        return self._instrument_id

    @property
    def paused(self) -> bool:
        return self.hedge.paused

    @property
    def waiting_for(self) -> str:
        return self.hedge.waiting_for

    @property
    def consecutive_failures(self) -> int:
        """Cycles that failed in a row (the venue unreachable, most often); 0 after a success."""
        return self.hedge.failures

    @property
    def cycles(self) -> int:
        return self.hedge.cycles

    @property
    def reconciliations(self) -> int:
        return self.hedge.reconciliations

    def would_act(self, liability_cents: int, position: VenuePosition) -> bool:
        return self.hedge.would_act(liability_cents, position)

    def trigger(self, reason: str, correlation_id: str | None = None) -> None:
        """Ask for a cycle; triggers that arrive during a cycle are folded into the next one."""
        if reason in ("startup", "reconnect"):
            self.hedge.needs_reconcile = True
        self._loop.trigger(reason, correlation_id)

    async def cycle(self, reason: str, correlation_id: str) -> DecisionRecord | None:
        """One cycle in the operators' turn; a recheck it asks for is scheduled."""
        if self.before_cycle is not None:
            await self.before_cycle()
        if self.weights is not None:
            await self.weights.refresh()
        async with self.control.turn:
            decision = await self.hedge.cycle(reason, correlation_id)
        if self.hedge.recheck_in_seconds is not None:
            self._loop.recheck_in(self.hedge.recheck_in_seconds)
        return decision

    async def run(self) -> None:
        await self.hedge.instrument()  # an unknown instrument fails here, at start
        self.hedge.needs_reconcile = True
        listeners = [self._listen_liability(), self._listen_operators(), self._listen_positions()]
        if self.weights is not None:
            listeners.append(self._listen_allocation())
        await self._loop.run(
            self._run_cycle, listeners, on_failure=self._failed, started=self.ready
        )

    async def _run_cycle(self, trigger: Trigger) -> None:
        await self.cycle(trigger.reason, trigger.correlation_id)

    def _failed(self) -> None:
        self.hedge.failures += 1
        self.hedge.recheck_in_seconds = None
        self._loop.recheck_in(self.hedge.backoff_seconds())

    async def _listen_liability(self) -> None:
        subscription = self._bus.subscribe(TOPIC_LIABILITY)
        try:
            async for _, payload in subscription:
                event = decode_event(payload)
                if isinstance(event, LiabilityChanged):
                    self.trigger("liability", event.correlation_id)
        finally:
            await subscription.close()

    async def _listen_operators(self) -> None:
        """An operator's action through another process: the cycle reads what it changed."""
        subscription = self._bus.subscribe(TOPIC_OPERATOR)
        try:
            async for _ in subscription:
                self.trigger("operator")
        finally:
            await subscription.close()

    async def _listen_allocation(self) -> None:
        """New weights (the carry allocation): the cycle reads them and looks at the leg."""
        subscription = self._bus.subscribe(TOPIC_ALLOCATION)
        try:
            async for _ in subscription:
                self.trigger("allocation")
        finally:
            await subscription.close()

    async def _listen_positions(self) -> None:
        instrument_id = (await self.hedge.instrument()).instrument_id
        async for change in self._venue.position_changes(instrument_id):
            self.trigger("reconnect" if isinstance(change, VenueResync) else "position")
