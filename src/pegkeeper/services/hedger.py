"""The hedger: keeps the venue's short equal to the liability, as the policy says.

Order of operations that keeps an order from being sent twice:
1. at start and after the venue's stream was interrupted (a reconnection), orders live at the
   venue are compared with the store: one of pegkeeper's that the store holds final is
   canceled and its real end recorded;
2. any order not in a final state is looked up at the venue by its client id first; while one
   is in flight or its fate is unknown, nothing new is sent; one the venue does not know after
   the lookup window is `lost`, and the hedge is recomputed from the venue's position;
3. the decision is recorded with its inputs;
4. the order row (with its client order id) is committed, and only then sent;
5. an uncertain outcome (timeout, 5xx) is recorded as `unknown` and resolved by step 2.

A policy may ask for a post-only order (a maker at the mark): it rests until filled, or until
the hedger cancels it, after `limit_order_timeout_seconds` or as soon as the policy, looking at
the hedge now, wants a market order. After a post-only order the venue refused or canceled
(it would have taken liquidity) the next order is a market one, so that a book away from the
mark cannot keep the hedge waiting.

With an allocation the hedger carries one leg: its share of the liability, on its instrument,
and only that leg's orders are its own. A leg of dated futures rolls to the next expiry before
the one it holds settles (services/hedge_legs.py): while anything is left on the older expiry
the cycle rolls instead of deciding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

import structlog

from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.errors import (
    NotFound,
    OrderRejected,
    PositionAlreadyClosed,
    VenueError,
    VenueUnavailable,
)
from pegkeeper.domain.events import (
    TOPIC_DECISION,
    TOPIC_LIABILITY,
    TOPIC_ORDER,
    HedgeDecided,
    LiabilityChanged,
    OrderUpdated,
    decode_event,
    encode_event,
)
from pegkeeper.domain.hedge_policy import (
    ActionKind,
    HedgeAction,
    HedgeDecision,
    HedgeInputs,
    HedgePolicy,
)
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import (
    Fill,
    OrderIntent,
    OrderKind,
    OrderReport,
    OrderSide,
    OrderState,
    maker_limit_price_usd,
)
from pegkeeper.domain.records import DecisionRecord, OrderRecord
from pegkeeper.domain.venue import VenuePosition, VenueResync
from pegkeeper.ports import Bus, Clock, ReadinessGate, Store, Venue
from pegkeeper.services.control import HedgeControl
from pegkeeper.services.hedge_legs import LegScope, OlderPosition
from pegkeeper.services.ids import new_client_order_id, new_correlation_id
from pegkeeper.services.snapshots import take_snapshot

log = structlog.get_logger("pegkeeper.hedger")


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


@dataclass(slots=True)
class _Trigger:
    reason: str
    correlation_id: str


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
        on_recheck: Callable[[float], None] | None = None,
    ) -> None:
        """`on_recheck`: told the delay whenever the hedger wants another cycle, instead of a
        task sleeping on the clock (the backtester drives the cycles itself)."""
        self.control = control or HedgeControl()  # operators pause hedging here
        self._store = store
        self._gate = gate  # closed (a half-imported ledger): nothing new is sent
        self.waiting_for = ""  # why the gate is closed, while it is
        self._venue = venue
        self._bus = bus
        self._clock = clock
        self._policy = policy
        self._settings = settings
        self._wake = asyncio.Event()
        self._pending: _Trigger | None = None
        self._last_recorded: tuple[str, int, int] | None = None
        self._last_snapshot_ms = 0
        self._acted_on_seq = 0
        self._background: set[asyncio.Task[None]] = set()
        self._needs_reconcile = True
        self._failures = 0
        self._on_recheck = on_recheck
        self._maker_missed = False  # a post-only order ended unfilled: the next is a market one
        self._last_wait: tuple[str, int, int] | None = None
        self._instrument: Instrument | None = None  # the last cycle's, for would_act
        self._scope = LegScope(
            venue,
            clock,
            settings.instrument_id,
            settings.allocation,
            settings.leg_index,
            int(settings.roll_lead_seconds * 1000),
            settings.venue_leverage,
        )
        self.ready = asyncio.Event()
        self.cycles = 0
        self.reconciliations = 0  # reads of the venue's open orders after start or reconnect

    def trigger(self, reason: str, correlation_id: str | None = None) -> None:
        """Ask for a cycle; triggers that arrive during a cycle are folded into the next one."""
        if reason in ("startup", "reconnect"):
            self._needs_reconcile = True
        if self._pending is None or reason == "liability":
            self._pending = _Trigger(reason, correlation_id or new_correlation_id())
        self._wake.set()

    async def run(self) -> None:
        await self._scope.instrument()  # an unknown instrument fails here, at start
        listeners = [
            asyncio.create_task(self._listen_liability(), name="hedger-liability"),
            asyncio.create_task(self._listen_positions(), name="hedger-positions"),
            asyncio.create_task(self._periodic(), name="hedger-periodic"),
        ]
        try:
            self.trigger("startup")
            self.ready.set()
            while True:
                await self._wake.wait()
                self._wake.clear()
                trigger, self._pending = self._pending, None
                if trigger is not None:
                    await self._cycle_safely(trigger)
        finally:
            for task in listeners:
                task.cancel()
            # a listener stuck in an adapter must not keep the hedger from stopping
            await asyncio.wait(listeners, timeout=5)

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def consecutive_failures(self) -> int:
        """Cycles that failed in a row (the venue unreachable, most often); 0 after a success."""
        return self._failures

    async def _cycle_safely(self, trigger: _Trigger) -> None:
        try:
            async with self.control.turn:
                await self.cycle(trigger.reason, trigger.correlation_id)
        except VenueError as error:
            self._failures += 1
            log.warning("hedge cycle waits for the venue", trigger=trigger.reason, error=str(error))
            self._schedule_recheck()
        except Exception:
            self._failures += 1
            log.exception("hedge cycle failed", trigger=trigger.reason)
            self._schedule_recheck()

    async def cycle(self, reason: str, correlation_id: str) -> DecisionRecord | None:
        """One pass: settle orders in flight, decide, record, and act. Returns the decision."""
        self.cycles += 1
        seq_before = self._acted_on_seq
        if self._needs_reconcile or reason in ("startup", "reconnect"):
            await self._reconcile_venue_orders()
            self._needs_reconcile = False
        if await self._orders_in_flight():
            self._schedule_recheck()
            return None
        if not await self._gate_open():
            return None
        instrument = await self._scope.instrument()
        self._instrument = instrument
        liability_cents, correlation_id = await self._liability(correlation_id)
        if self._acted_on_seq != seq_before and reason in ("periodic", "recheck", "position"):
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
            self._failures = 0  # the venue answered everything asked
            if self._worth_recording(record):
                await self._store.hedge.record_decision(record)
                await self._publish_decision(record)
            return record
        signed = _signed(record)
        if self._settings.wait_for_collateral and await self._scope.lacks_margin(
            instrument, position, signed
        ):
            self._acted_on_seq = seq_before  # the order that follows answers the same event
            return await self._wait_for_collateral(record)
        await self._act(record, decision.action)
        position = await self._venue.position(instrument.instrument_id)
        await self._maybe_snapshot(instrument, position, correlation_id, force=True)
        return record

    async def _gate_open(self) -> bool:
        """The periodic check and the liability events reopen the question when it opens."""
        readiness = await self._gate.readiness() if self._gate is not None else None
        reason = "" if readiness is None or readiness.ready else readiness.reason
        if reason != self.waiting_for:
            log.info("hedger waits" if reason else "hedger resumes", reason=reason)
            self.waiting_for = reason
        return not reason

    def would_act(self, liability_cents: int, position: VenuePosition) -> bool:
        """Whether the policy trades on these inputs, without reading anything: a driver that
        knows them (the backtester) skips the cycles that could only hold. After a cycle."""
        assert self._instrument is not None, "the first cycle reads the instrument"
        return not self._decide(self._instrument, liability_cents, position).action.is_hold

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
            await self._store.hedge.record_decision(waiting)
            await self._publish_decision(waiting)
        self._failures += 1  # rechecked later each time, up to the periodic check
        self._schedule_recheck()
        return waiting

    async def _act(self, record: DecisionRecord, action: HedgeAction) -> None:
        intent = self._intent_for(record, action)
        self._last_recorded = None
        await self._store.hedge.record_decision(record, intent)  # committed before it is sent
        await self._publish_decision(record)
        await self._publish_order(intent, OrderState.CREATED)
        await self._send(intent)

    async def _liability(self, correlation_id: str) -> tuple[int, str]:
        """The current liability, and the correlation id to act under: a liability event not
        yet acted on lends its own, whatever woke the hedger, so the order traces back to it."""
        latest = await self._store.liability.recent(1)
        if not latest:
            return 0, correlation_id
        event = latest[0]
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
        mark = position.mark_price_usd
        exposure_cents = instrument.exposure_cents(position.size_contracts, mark)
        for old in older:  # not rolled yet: still part of the hedge
            exposure_cents += old.instrument.exposure_cents(old.position.size_contracts, mark)
        inputs = HedgeInputs(
            liability_cents=liability_cents,
            exposure_cents=exposure_cents,
            contract_value_cents=instrument.contract_value_cents(position.mark_price_usd),
        )
        return self._policy.decide(inputs)

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
            size_contracts=decision.action.size_contracts,
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

    async def _send(self, intent: OrderIntent) -> OrderState:
        """Sends the order and records its outcome; returns the state recorded."""
        try:
            if intent.kind is OrderKind.CLOSE_POSITION:
                report = await self._venue.close_position(intent)
            else:
                report = await self._place(intent)
        except OrderRejected as error:
            closed = isinstance(error, PositionAlreadyClosed)
            state = OrderState.FILLED if closed else OrderState.REJECTED
            await self._set_state(intent, state, message=str(error))
            return state
        except VenueUnavailable as error:
            await self._set_state(intent, OrderState.REJECTED, message=f"not processed: {error}")
            self._failures += 1  # a rate limit: decide again after a backoff
            self._schedule_recheck()
            return OrderState.REJECTED
        except Exception as error:  # timeout, 5xx, dropped connection, anything unforeseen
            log.warning(
                "order outcome unknown", client_order_id=intent.client_order_id, error=str(error)
            )
            await self._set_state(intent, OrderState.UNKNOWN, message=f"uncertain: {error}")
            self._schedule_recheck()
            return OrderState.UNKNOWN
        self._failures = 0
        await self._apply_report(intent, report)
        missed = intent.kind is OrderKind.POST_ONLY and self._maker_missed
        if not report.state.is_terminal or missed:
            self._schedule_recheck()  # a maker canceled at once: the taker follows soon
        return report.state

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
            self._schedule_recheck()
            return record
        record = replace(record, size_contracts=plan.roll.size_contracts)
        self._last_recorded = None
        await self._store.rolls.record_roll(record, plan.roll, [plan.open_leg, plan.close_leg])
        await self._publish_decision(record)
        opened = await self._send(plan.open_leg)
        if opened is OrderState.FILLED:
            await self._send(plan.close_leg)
        else:
            why = f"not sent: the opening leg {plan.open_leg.client_order_id} is {opened.value}"
            await self._set_state(plan.close_leg, OrderState.REJECTED, message=why)
        position = await self._venue.position(target.instrument_id)
        await self._maybe_snapshot(target, position, record.correlation_id, force=True)
        return record

    async def _place(self, intent: OrderIntent) -> OrderReport:
        if intent.kind.has_limit_price:
            return await self._venue.place_limit_order(intent)
        return await self._venue.place_market_order(intent)

    def _intent_for(self, record: DecisionRecord, action: HedgeAction) -> OrderIntent:
        close = record.action == ActionKind.CLOSE.value
        side = None if close else OrderSide(record.action)
        kind = OrderKind.CLOSE_POSITION if close else OrderKind.MARKET
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
            size_contracts=Decimal(0) if close else record.size_contracts,
            decision_id=record.decision_id,
            correlation_id=record.correlation_id,
            created_at_ms=record.created_at_ms,
            limit_price_usd=limit_price_usd,
        )

    async def _reconcile_venue_orders(self) -> None:
        """Orders live at the venue that the store holds final are pegkeeper's strays (an order
        found after it was declared lost): canceled, and their real end recorded. Orders
        pegkeeper never made are left alone and reported."""
        instrument_id = (await self._scope.instrument()).instrument_id
        live = await self._venue.open_orders(instrument_id)
        self.reconciliations += 1
        open_here = {o.intent.client_order_id for o in await self._store.hedge.open_orders()}
        for report in live:
            if report.client_order_id in open_here:
                continue
            record = await self._store.hedge.get_order(report.client_order_id)
            if record is None:
                log.warning("an order at the venue that pegkeeper did not place", order=report)
                continue
            log.warning("a final order is live at the venue; canceling", order=report)
            try:
                final = await self._venue.cancel_order(instrument_id, report.client_order_id)
            except NotFound:
                continue
            await self._apply_report(record.intent, final)

    async def _orders_in_flight(self) -> bool:
        """Resolve every order not yet final; True while any is still in flight or unknown."""
        in_flight = False
        for order in await self._store.hedge.open_orders():
            if not self._scope.owns(order.intent.instrument_id):
                continue  # another leg's
            if not await self._resolve(order):
                in_flight = True
        return in_flight

    async def _resolve(self, order: OrderRecord) -> bool:
        """Look an order up at the venue and record what it says; True once it is final."""
        intent = order.intent
        try:
            report = await self._venue.order(intent.instrument_id, intent.client_order_id)
        except NotFound:
            age_s = (self._clock.now_ms() - intent.created_at_ms) / 1000
            if age_s < self._settings.order_lookup_window_seconds:
                return False
            await self._set_state(intent, OrderState.LOST, message="not found at the venue")
            return True
        except (VenueError, OSError, TimeoutError) as error:
            log.warning(
                "order lookup failed", client_order_id=intent.client_order_id, error=str(error)
            )
            return False
        if report.state != order.state or report.filled_contracts != order.filled_contracts:
            await self._apply_report(intent, report)
        if not report.state.is_terminal and await self._resting_too_long(intent):
            return await self._cancel_resting(intent)
        return report.state.is_terminal

    async def _resting_too_long(self, intent: OrderIntent) -> bool:
        """A limit order waits `limit_order_timeout_seconds` at most, and not at all once the
        policy, looking at the hedge now, wants a market order: the gap outgrew patience."""
        if not intent.kind.has_limit_price:
            return False
        age_s = (self._clock.now_ms() - intent.created_at_ms) / 1000
        if age_s >= self._settings.limit_order_timeout_seconds:
            return True
        latest = await self._store.liability.recent(1)
        liability_cents = self._scope.share_cents(latest[0].balance_after_cents if latest else 0)
        position = await self._venue.position(intent.instrument_id)
        action = self._decide(await self._scope.instrument(), liability_cents, position).action
        return not action.is_hold and not action.post_only

    async def _cancel_resting(self, intent: OrderIntent) -> bool:
        """Cancels a limit order that rested too long; True once its end is recorded."""
        try:
            report = await self._venue.cancel_order(intent.instrument_id, intent.client_order_id)
        except OrderRejected as error:  # filled or canceled meanwhile: the next lookup reads it
            log.info(
                "resting order ended first",
                client_order_id=intent.client_order_id,
                error=str(error),
            )
            return False
        except (VenueError, OSError, TimeoutError) as error:
            log.warning("cancel failed", client_order_id=intent.client_order_id, error=str(error))
            return False
        await self._apply_report(intent, report)
        self._maker_missed = False  # canceled by the hedger, not refused: it may rest again
        return report.state.is_terminal

    async def _apply_report(self, intent: OrderIntent, report: OrderReport) -> None:
        await self._set_state(
            intent,
            report.state,
            venue_order_id=report.venue_order_id,
            filled_contracts=report.filled_contracts,
            avg_price_usd=report.avg_price_usd,
            message=report.message,
            fills=report.fills,
        )

    async def _set_state(
        self,
        intent: OrderIntent,
        state: OrderState,
        *,
        venue_order_id: str = "",
        filled_contracts: Decimal = Decimal(0),
        avg_price_usd: Decimal | None = None,
        message: str = "",
        fills: Sequence[Fill] = (),
    ) -> None:
        if intent.kind is OrderKind.POST_ONLY and state.is_terminal:
            self._maker_missed = filled_contracts < intent.size_contracts
        await self._store.hedge.record_order_state(
            intent.client_order_id,
            state,
            self._clock.now_ms(),
            venue_order_id=venue_order_id,
            filled_contracts=filled_contracts,
            avg_price_usd=avg_price_usd,
            message=message,
            fills=fills,
        )
        await self._publish_order(intent, state)

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

    def _schedule_recheck(self) -> None:
        """Soon; after failures in a row, later each time, up to the periodic check."""
        settings = self._settings
        delay = settings.recheck_open_order_seconds * 2 ** min(self._failures, 16)
        delay = min(
            delay, max(settings.check_interval_seconds, settings.recheck_open_order_seconds)
        )
        if self._on_recheck is not None:
            self._on_recheck(delay)
            return

        async def later() -> None:
            await self._clock.sleep(delay)
            self.trigger("recheck")

        task = asyncio.get_running_loop().create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _listen_liability(self) -> None:
        subscription = self._bus.subscribe(TOPIC_LIABILITY)
        try:
            async for _, payload in subscription:
                event = decode_event(payload)
                if isinstance(event, LiabilityChanged):
                    self.trigger("liability", event.correlation_id)
        finally:
            await subscription.close()

    async def _listen_positions(self) -> None:
        instrument_id = (await self._scope.instrument()).instrument_id
        async for change in self._venue.position_changes(instrument_id):
            self.trigger("reconnect" if isinstance(change, VenueResync) else "position")

    async def _periodic(self) -> None:
        while True:
            await self._clock.sleep(self._settings.check_interval_seconds)
            self.trigger("periodic")

    async def _publish_decision(self, record: DecisionRecord) -> None:
        event = HedgeDecided(
            decision_id=record.decision_id,
            correlation_id=record.correlation_id,
            action=record.action,
            size_contracts=str(record.size_contracts),
            rule=record.rule,
            ts_ms=record.created_at_ms,
        )
        await self._bus.publish(TOPIC_DECISION, encode_event(event))

    async def _publish_order(self, intent: OrderIntent, state: OrderState) -> None:
        event = OrderUpdated(
            client_order_id=intent.client_order_id,
            correlation_id=intent.correlation_id,
            state=state.value,
            ts_ms=self._clock.now_ms(),
        )
        await self._bus.publish(TOPIC_ORDER, encode_event(event))


def _signed(record: DecisionRecord) -> Decimal:
    """The order's signed size (a close counts as none: it never needs margin)."""
    if record.action == ActionKind.BUY.value:
        return record.size_contracts
    return -record.size_contracts if record.action == ActionKind.SELL.value else Decimal(0)


def _ratio(value: Decimal | None) -> Decimal | None:
    """Recorded to 6 decimals: enough to replay the decision (brackets have 2 decimals)."""
    return None if value is None else value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
