"""One hedge cycle: settle the orders in flight, decide, record, act.

Order of operations that keeps an order from being sent twice (the execution core,
services/execution/orders.py, keeps the rules of each step):
1. at start and after the venue's stream was interrupted (a reconnection), orders live at the
   venue are compared with the store (`reconcile`);
2. the slot's version is read, then every order not final is looked up at the venue by its
   client id; while one is in flight or its fate is unknown, nothing new is sent; one the
   venue does not know after the lookup window is `lost`, and the hedge is recomputed;
3. the decision is made from the liability and the venue's position, and recorded with its
   inputs together with its order: the database refuses the order when another writer opened
   one on the slot since step 2 (SlotTaken), and nothing is sent;
4. the order is sent; an uncertain outcome is recorded `unknown` and resolved by step 2.

A policy may ask for a post-only order (a maker at the mark): it rests until filled, or until
the cycle cancels it, after `limit_order_timeout_seconds` or as soon as the policy, looking at
the hedge now, wants a market order. After a post-only order ended unfilled (the venue
refused or canceled it: it would have taken liquidity) the next order is a market one, so that
a book away from the mark cannot keep the hedge waiting.

With an allocation the cycle carries one leg: its share of the liability, on its instrument,
and only that leg's orders are its own. A leg of dated futures rolls to the next expiry before
the one it holds settles (services/hedging/legs.py): while anything is left on the older expiry
the cycle rolls instead of deciding.

A cycle never sleeps: `recheck_in_seconds` says when it wants to run again (None: at the next
trigger), and whoever drives it (the hedger's trigger loop, the backtester) obliges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

import structlog

from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.errors import SlotTaken
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.hedge_policy import (
    ActionKind,
    HedgeAction,
    HedgeDecision,
    HedgeInputs,
    HedgePolicy,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderState, maker_limit_price_usd
from pegkeeper.domain.records import DecisionRecord, LiabilityCover, OrderRecord
from pegkeeper.domain.venue import VenuePosition
from pegkeeper.ports import Bus, Clock, ReadinessGate, Store, Venue
from pegkeeper.services.execution.orders import OrderExecution
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.legs import LegScope, OlderPosition, WeightSource
from pegkeeper.services.hedging.snapshots import take_snapshot
from pegkeeper.services.ids import new_client_order_id, new_correlation_id
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.tracing import tag_correlation, traced
from pegkeeper.services.trigger_loop import backoff_delay_seconds

log = structlog.get_logger("pegkeeper.hedger")

_WOKEN_BY_OTHERS = ("periodic", "recheck", "position")


@dataclass(frozen=True, slots=True)
class HedgerSettings:
    instrument_id: str = "BTC-USD-SWAP"
    check_interval_seconds: float = 10.0
    order_lookup_window_seconds: float = 10.0
    recheck_open_order_seconds: float = 0.5
    snapshot_interval_seconds: float = 60.0
    limit_order_timeout_seconds: float = 30.0  # a post-only order resting longer is canceled
    allocation: Allocation | None = None  # None: `instrument_id` carries the whole liability
    leg_index: int = 0  # this hedger's leg of the allocation
    roll_lead_seconds: float = 86_400.0  # dated futures roll this long before they settle
    venue_leverage: Decimal = Decimal(4)  # sizes a roll step to the margin available
    # With a funding manager beside it: an order the margin cannot carry waits for collateral
    # (rechecked with backoff) instead of being sent to be refused.
    wait_for_collateral: bool = False


class HedgeCycle:
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
        weights: WeightSource | None = None,
    ) -> None:
        """With `outbox` its events go through the store's outbox (services/unit_of_work.py);
        with `weights` the allocation's legs are weighted by what it answers at each cycle."""
        self.control = control or HedgeControl()  # operators pause hedging here
        self._store = store
        self._gate = gate  # closed (a half-imported ledger): nothing new is sent
        self._venue = venue
        self._clock = clock
        self._policy = policy
        self._settings = settings
        self._execution = OrderExecution(
            store,
            venue,
            bus,
            clock,
            lookup_window_seconds=settings.order_lookup_window_seconds,
            on_final=self._on_final,
            outbox=outbox,
        )
        self._scope = LegScope(
            venue,
            clock,
            settings.instrument_id,
            settings.allocation,
            settings.leg_index,
            int(settings.roll_lead_seconds * 1000),
            settings.venue_leverage,
            weights,
        )
        self.waiting_for = ""  # why the gate is closed, while it is
        self.waiting_on: OrderRecord | None = None  # the oldest order in flight, while any is
        self.failures = 0  # cycles that failed or waited in a row; 0 after a success
        self.recheck_in_seconds: float | None = None  # asked for by the last cycle
        self.needs_reconcile = True
        self.cycles = 0
        self.reconciliations = 0  # reads of the venue's open orders after start or reconnect
        self._last_recorded: tuple[str, int, int] | None = None
        self._last_wait: tuple[str, int, int] | None = None
        self._last_snapshot_ms = 0
        self._acted_on_seq = 0
        self._latest_seq = 0  # the newest liability event the last cycle read
        # The newest liability event this leg's recorded decisions answered (None: not read
        # from the store yet); a decision links every event after it.
        self._covered_seq: int | None = None
        self._maker_missed = False  # a post-only order ended unfilled: the next is a market one
        self._instrument: Instrument | None = None  # the last cycle's, for would_act
        # would_act: an exposure, and the lowest and highest liabilities found holding at it
        self._held: tuple[tuple[int, Decimal], int, int] | None = None

    @property
    def paused(self) -> bool:
        return self.control.paused

    async def instrument(self) -> Instrument:
        return await self._scope.instrument()

    async def instruments_held(self) -> list[str]:
        """The instrument this leg trades now and the older expiries it still holds."""
        older = await self._scope.older_positions()
        now = (await self._scope.instrument()).instrument_id
        return [now, *(o.instrument.instrument_id for o in older)]

    async def cycle(self, reason: str, correlation_id: str) -> DecisionRecord | None:
        """One pass. Returns the decision (None while orders are in flight, the gate is closed
        or another writer holds the slot)."""
        with traced("hedge.cycle", correlation_id) as span:
            span.set_attribute("pegkeeper.reason", reason)
            return await self._cycle(reason, correlation_id)

    async def _cycle(self, reason: str, correlation_id: str) -> DecisionRecord | None:
        self.cycles += 1
        self.recheck_in_seconds = None
        seq_before = self._acted_on_seq
        if self.needs_reconcile or reason in ("startup", "reconnect"):
            await self._execution.reconcile((await self._scope.instrument()).instrument_id)
            self.reconciliations += 1
            self.needs_reconcile = False
        instrument = await self._scope.instrument()
        slot_version = await self._store.hedge.slot_version(instrument.instrument_id)
        if await self._orders_in_flight() or not await self._gate_open():
            return None
        self._instrument = instrument
        liability_cents, correlation_id = await self._liability(correlation_id)
        tag_correlation(correlation_id)  # the newest liability event's, which this answers
        if self._acted_on_seq != seq_before and reason in _WOKEN_BY_OTHERS:
            reason = "liability"  # a new liability event, whichever wake-up found it first
        position = await self._venue.position(instrument.instrument_id)
        older = await self._scope.older_positions()
        decision = self._decide(instrument, liability_cents, position, older)
        record = self._record_of(decision, reason, correlation_id, instrument, position)
        if older and not self.paused:
            return await self._roll(record, instrument, older[0])
        await self._maybe_snapshot(instrument, position, correlation_id, force=False)
        if self.paused:
            return record
        if decision.action.is_hold:
            self.failures = 0  # the venue answered everything asked
            if self._worth_recording(record):
                cover = await self._cover()
                await self._execution.open(record, covers=cover)
                self._covered_seq = cover.through_seq
            return record
        if self._settings.wait_for_collateral and await self._scope.lacks_margin(
            instrument, position, decision.action.signed_contracts
        ):
            self._acted_on_seq = seq_before  # the order that follows answers the same event
            return await self._wait_for_collateral(record)
        if not await self._act(record, decision.action, slot_version):
            self._acted_on_seq = seq_before
            return None
        position = await self._venue.position(instrument.instrument_id)
        await self._maybe_snapshot(instrument, position, correlation_id, force=True)
        return record

    async def _cover(self) -> LiabilityCover:
        """The liability events the decision about to be recorded answers."""
        if self._covered_seq is None:
            self._covered_seq = await self._store.hedge.last_covered_seq(self._scope.name)
        return LiabilityCover(self._scope.name, self._covered_seq, self._latest_seq)

    def share_cents(self, liability_cents: int) -> int:
        """This leg's share of the whole liability."""
        return self._scope.share_cents(liability_cents)

    def would_act(self, liability_cents: int, position: VenuePosition) -> bool:
        """Whether the policy trades on these inputs, without reading anything: a driver that
        knows them (the backtester) skips the cycles that could only hold. After a cycle.

        For one exposure, the liabilities a policy holds at are one interval (it trades when
        the hedge is too small or too large for the liability, or the liability too small to
        hedge): the lowest and highest found holding for the last exposure asked about are
        kept, and a liability between them holds without asking the policy again (a driver
        asks after every flow, and flows move the liability a little each time)."""
        assert self._instrument is not None, "the first cycle reads the instrument"
        exposure = self._exposure(self._instrument, position)
        held = self._held
        if held is not None and held[0] == exposure and held[1] <= liability_cents <= held[2]:
            return False
        inputs = HedgeInputs(liability_cents, *exposure)
        if not self._policy.decide(inputs).action.is_hold:
            return True
        if held is None or held[0] != exposure:
            self._held = (exposure, liability_cents, liability_cents)
        else:
            self._held = (exposure, min(held[1], liability_cents), max(held[2], liability_cents))
        return False

    async def _gate_open(self) -> bool:
        """The periodic check and the liability events reopen the question when it opens."""
        readiness = await self._gate.readiness() if self._gate is not None else None
        reason = "" if readiness is None or readiness.ready else readiness.reason
        if reason != self.waiting_for:
            log.info("hedger waits" if reason else "hedger resumes", reason=reason)
            self.waiting_for = reason
        return not reason

    async def _wait_for_collateral(self, record: DecisionRecord) -> DecisionRecord:
        waiting = replace(
            record,
            action=ActionKind.HOLD.value,
            size_contracts=Decimal(0),
            rule=f"{record.rule}-waits-for-collateral",
        )
        key = (waiting.rule, waiting.liability_cents, waiting.exposure_cents)
        if key != self._last_wait:
            self._last_wait = key
            # Linked, and linked again to the order that follows: that one covers them.
            await self._execution.open(waiting, covers=await self._cover())
        self.failures += 1  # rechecked later each time, up to the periodic check
        self._recheck()
        return waiting

    async def _act(self, record: DecisionRecord, action: HedgeAction, slot_version: int) -> bool:
        """Records and sends the order; False when another writer took the slot first."""
        intent = self._intent_for(record, action)
        self._last_recorded = None
        cover = await self._cover()
        try:
            sent = await self._execution.submit(
                record, intent, slot_version=slot_version, covers=cover
            )
        except SlotTaken as error:
            log.info("another writer acted on the slot first", detail=str(error))
            self._recheck()
            return False
        if sent.state is not OrderState.REJECTED:  # else the next order covers them too
            self._covered_seq = cover.through_seq
        if sent.outcome is Outcome.NOT_PROCESSED:
            self.failures += 1  # a rate limit: decide again after a backoff
            self._recheck()
        elif sent.outcome is Outcome.UNCERTAIN:
            self._recheck()  # looked up before anything else
        elif sent.outcome is Outcome.ACCEPTED:
            self.failures = 0
            missed = intent.kind is OrderKind.POST_ONLY and self._maker_missed
            if not sent.state.is_terminal or missed:
                self._recheck()  # resting, or a maker canceled at once: the taker follows soon
        return True

    async def _liability(self, correlation_id: str) -> tuple[int, str]:
        """The current liability, and the correlation id to act under: a liability event not
        yet acted on lends its own, whatever woke the cycle, so the order traces back to it."""
        latest = await self._store.liability.recent(1)
        if not latest:
            return 0, correlation_id
        event = latest[0]
        self._latest_seq = event.seq
        if event.seq != self._acted_on_seq:
            self._acted_on_seq = event.seq
            correlation_id = event.correlation_id
        return self._scope.share_cents(event.balance_after_cents), correlation_id

    def _decide(
        self,
        instrument: Instrument,
        liability_cents: int,
        position: VenuePosition,
        older: Sequence[OlderPosition] = (),
    ) -> HedgeDecision:
        exposure_cents, contract_value_cents = self._exposure(instrument, position, older)
        inputs = HedgeInputs(
            liability_cents=liability_cents,
            exposure_cents=exposure_cents,
            contract_value_cents=contract_value_cents,
        )
        return self._policy.decide(inputs)

    @staticmethod
    def _exposure(
        instrument: Instrument, position: VenuePosition, older: Sequence[OlderPosition] = ()
    ) -> tuple[int, Decimal]:
        """The policy's inputs besides the liability: the exposure in cents and a contract's
        value in cents, at the position's mark."""
        mark = position.mark_price_usd
        exposure_cents = instrument.exposure_cents(position.size_contracts, mark)
        for old in older:  # not rolled yet: still part of the hedge
            exposure_cents += old.instrument.exposure_cents(old.position.size_contracts, mark)
        return exposure_cents, instrument.contract_value_cents(mark)

    def _record_of(
        self,
        decision: HedgeDecision,
        reason: str,
        correlation_id: str,
        instrument: Instrument,
        position: VenuePosition,
    ) -> DecisionRecord:
        return DecisionRecord(
            decision_id=new_correlation_id(),
            correlation_id=correlation_id,
            created_at_ms=self._clock.now_ms(),
            trigger=reason,
            policy=decision.policy,
            rule=decision.rule,
            action=decision.action.kind.value,
            size_contracts=abs(position.size_contracts)
            if decision.action.kind is ActionKind.CLOSE
            else decision.action.size_contracts,
            instrument_id=instrument.instrument_id,
            liability_cents=decision.inputs.liability_cents,
            exposure_cents=decision.inputs.exposure_cents,
            position_contracts=position.size_contracts,
            hedge_ratio=_ratio(decision.inputs.hedge_ratio),
            btc_price_usd=position.mark_price_usd,
        )

    def _worth_recording(self, record: DecisionRecord) -> bool:
        """Every action and every change of inputs is recorded; a periodic check that finds
        nothing new to do is not, so the audit trail stays readable."""
        key = (record.action, record.liability_cents, record.exposure_cents)
        periodic_hold = record.action == ActionKind.HOLD.value and record.trigger == "periodic"
        if periodic_hold and key == self._last_recorded:
            return False
        self._last_recorded = key
        return True

    async def _roll(
        self, record: DecisionRecord, target: Instrument, older: OlderPosition
    ) -> DecisionRecord:
        """One roll step: both legs recorded, the new expiry opened, then the old one closed."""
        assert self._scope.roller is not None
        record = replace(record, action="roll", rule="roll-to-next-expiry")
        plan = await self._scope.roller.plan(target, older, record)
        if plan is None:
            record = replace(record, action="hold", rule="roll-waits-for-margin")
            if self._worth_recording(record):
                await self._store.hedge.record_decision(record)
            self._recheck()
            return record
        record = replace(record, size_contracts=plan.roll.size_contracts)
        self._last_recorded = None
        await self._execution.open_roll(record, plan.roll, [plan.open_leg, plan.close_leg])
        opened = await self._execution.send(plan.open_leg)
        if opened.state is OrderState.FILLED:
            await self._execution.send(plan.close_leg)
        else:
            why = f"not sent: the opening leg {plan.open_leg.client_order_id} is {opened.state}"
            await self._execution.record(plan.close_leg, OrderState.REJECTED, message=why)
        if not opened.state.is_terminal:
            self._recheck()
        position = await self._venue.position(target.instrument_id)
        await self._maybe_snapshot(target, position, record.correlation_id, force=True)
        return record

    def _intent_for(self, record: DecisionRecord, action: HedgeAction) -> OrderIntent:
        side = action.side
        kind = OrderKind.MARKET if side is not None else OrderKind.CLOSE_POSITION
        limit_price_usd = None
        if side is not None and action.post_only:
            if self._maker_missed:
                self._maker_missed = False  # this one as a taker; the next may rest again
            else:
                kind = OrderKind.POST_ONLY
                tick = self._instrument.tick_size_usd if self._instrument else Decimal("0.1")
                limit_price_usd = maker_limit_price_usd(side, record.btc_price_usd, tick)
        return OrderIntent(
            client_order_id=new_client_order_id(),
            instrument_id=record.instrument_id,
            kind=kind,
            side=side,
            size_contracts=action.size_contracts if side is not None else record.size_contracts,
            decision_id=record.decision_id,
            correlation_id=record.correlation_id,
            created_at_ms=record.created_at_ms,
            limit_price_usd=limit_price_usd,
        )

    async def _orders_in_flight(self) -> bool:
        """Resolve every order of this leg not yet final; True while any is still in flight."""
        in_flight: list[OrderRecord] = []
        for order in await self._execution.open_orders(self._scope.owns):
            state = await self._execution.resolve(order)
            if state is not None and not state.is_terminal and await self._resting_too_long(order):
                state = await self._execution.cancel(order.intent)
                if state is not None:
                    self._maker_missed = False  # canceled by the cycle: it may rest again
            if state is None or not state.is_terminal:
                in_flight.append(order)
        self.waiting_on = in_flight[0] if in_flight else None
        if in_flight:
            self._recheck()
        return bool(in_flight)

    def order_waited_on(self) -> tuple[OrderRecord, float] | None:
        """The oldest order the last cycle found in flight, and how long it has waited."""
        order = self.waiting_on
        return None if order is None else (order, self.waited_seconds(order))

    @property
    def longest_order_wait_seconds(self) -> float:
        """The longest a healthy order can keep the hedger waiting (clock seconds): a resting
        limit order's timeout, then the lookup window of its cancel."""
        settings = self._settings
        return settings.limit_order_timeout_seconds + settings.order_lookup_window_seconds

    def waited_seconds(self, order: OrderRecord) -> float:
        """How long the cycle has waited on an order not final (this process's monotonic
        time, in the clock's seconds)."""
        return self._execution.waits.seconds(order.intent.client_order_id)

    async def _resting_too_long(self, order: OrderRecord) -> bool:
        """A limit order waits `limit_order_timeout_seconds` at most, and not at all once the
        policy, looking at the hedge now, wants a market order: the gap outgrew patience."""
        intent = order.intent
        if not intent.kind.has_limit_price:
            return False
        if self.waited_seconds(order) >= self._settings.limit_order_timeout_seconds:
            return True
        latest = await self._store.liability.recent(1)
        liability_cents = self._scope.share_cents(latest[0].balance_after_cents if latest else 0)
        position = await self._venue.position(intent.instrument_id)
        action = self._decide(await self._scope.instrument(), liability_cents, position).action
        return not action.is_hold and not action.post_only

    def _on_final(self, intent: OrderIntent, state: OrderState, filled: Decimal) -> None:
        if intent.kind is OrderKind.POST_ONLY:
            self._maker_missed = filled < intent.size_contracts

    async def _maybe_snapshot(
        self, instrument: Instrument, position: VenuePosition, correlation_id: str, *, force: bool
    ) -> None:
        now_ms = self._clock.now_ms()
        due = now_ms - self._last_snapshot_ms >= self._settings.snapshot_interval_seconds * 1000
        if not (force or due):
            return
        balances = await self._venue.balances(instrument.settle_currency)
        snapshot = take_snapshot(instrument, position, balances, now_ms, correlation_id)
        await self._store.hedge.record_position(snapshot)
        self._last_snapshot_ms = now_ms

    def backoff_seconds(self) -> float:
        """Soon; after failures in a row, later each time, up to the periodic check."""
        settings = self._settings
        return backoff_delay_seconds(
            settings.recheck_open_order_seconds, settings.check_interval_seconds, self.failures
        )

    def _recheck(self) -> None:
        self.recheck_in_seconds = self.backoff_seconds()


def _ratio(value: Decimal | None) -> Decimal | None:
    """Recorded to 6 decimals: enough to replay the decision (brackets have 2 decimals)."""
    return None if value is None else value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
