"""Operator actions: pause and resume hedging, close the position, acknowledge an alert.

Each is recorded in the audit trail with who, when, on what and what came of it. A close
pauses hedging first (the hedger would open the short again at once), then takes the hedger's
turn and closes every leg's position through the execution core, as the hedger's own orders
go: the decision and the order row are committed before the request, and an uncertain answer
is left `unknown` for the hedger to look up by its client id before anything else is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from pegkeeper.domain.errors import BusUnavailable, SlotTaken, VenueError
from pegkeeper.domain.events import TOPIC_OPERATOR, OperatorActed, encode_event
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.hedge_policy import ActionKind
from pegkeeper.domain.operator import (
    OperatorAction,
    OperatorActionKind,
    OperatorResult,
    validate_alert_id,
    validate_note,
)
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderState
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.ports import Bus, Clock, OperatorActionRepository, Store, Venue
from pegkeeper.services.execution.orders import OrderExecution, Sent
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.snapshots import take_snapshot
from pegkeeper.services.ids import new_client_order_id, new_correlation_id
from pegkeeper.services.outbox import Outbox

log = structlog.get_logger("pegkeeper.operator")


class AlertDesk(Protocol):
    """Where alerts live (the funding manager's, once configured)."""

    async def acknowledge(self, alert_id: str, operator: str, now_ms: int) -> str:
        """Marks the alert acknowledged; returns what happened in words. LookupError for an
        unknown alert."""
        ...


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks: the operator named by the token, and the address the request came from."""

    operator: str
    client_address: str = ""


_Outcome = tuple[OperatorResult, str]


class OperatorService:
    def __init__(
        self,
        control: HedgeControl,
        store: Store,
        actions: OperatorActionRepository,
        venue: Venue,
        bus: Bus,
        clock: Clock,
        instrument_id: str,
        wake_hedger: Callable[[str], None] = lambda reason: None,
        *,
        held_instruments: Callable[[], Awaitable[list[str]]] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """`instrument_id` names the hedge in the records; `held_instruments` lists the
        instruments a close must close (every leg's), by default `instrument_id` alone; with
        `outbox` the orders' events go through the store's outbox."""
        self._held = held_instruments
        self._execution = OrderExecution(
            store, venue, bus, clock, lookup_window_seconds=0.0, outbox=outbox
        )
        self._control = control
        self._store = store
        self._actions = actions
        self._venue = venue
        self._bus = bus
        self._clock = clock
        self._instrument_id = instrument_id
        self._wake_hedger = wake_hedger
        self.alerts: AlertDesk | None = None
        self.shared_store = False  # True: a close is requested here, executed by the holder

    @property
    def control(self) -> HedgeControl:
        return self._control

    async def sync(self) -> None:
        """Where processes share the store, before every hedge cycle: the switch as the
        operators' last action left it, through whichever process, and a close requested
        through another process executed here (only the hedger's lease holder calls this)."""
        last = await self._last_switch()
        if last is None:
            return
        if last.action.leaves_hedging_paused:
            self._control.pause(last.operator, last.created_at_ms, last.note)
        else:
            self._control.resume(last.operator, last.created_at_ms, last.note)
        if last.result is OperatorResult.REQUESTED:
            await self._execute_requested_close()

    async def _last_switch(self) -> OperatorAction | None:
        return await self._actions.last_of([k for k in OperatorActionKind if k.sets_hedging_state])

    async def _execute_requested_close(self) -> None:
        async with self._control.turn:
            request = await self._last_switch()  # again: another leg may have done it
            if request is None or request.result is not OperatorResult.REQUESTED:
                return
            who = Requester(request.operator, request.client_address)
            try:
                outcome = await self._close(who, request.correlation_id)
            except VenueError as error:
                outcome = (OperatorResult.FAILED, f"the venue did not answer: {error}")
        await self._recorded(
            OperatorActionKind.CLOSE_POSITION,
            who,
            request.target,
            request.note,
            outcome,
            correlation_id=request.correlation_id,
        )

    async def restore(self) -> None:
        """After a restart hedging stays as the last operator left it."""
        kinds = [k for k in OperatorActionKind if k.sets_hedging_state]
        last = await self._actions.last_of(kinds)
        if last is None or not last.action.leaves_hedging_paused:
            return
        self._control.pause(last.operator, last.created_at_ms, last.note)
        log.warning(
            "hedging is paused, as an operator left it; resume it from the dashboard",
            by=last.operator,
            action=last.action.value,
            since_ms=last.created_at_ms,
        )

    async def pause(self, who: Requester, note: object = None) -> OperatorAction:
        text = validate_note(note)
        state = self._control.state
        if state.paused:
            outcome = (OperatorResult.UNCHANGED, f"already paused by {state.by or 'an operator'}")
        else:
            outcome = (OperatorResult.DONE, "hedging paused: no order is sent until resumed")
        return await self._recorded(
            OperatorActionKind.PAUSE_HEDGING, who, self._instrument_id, text, outcome
        )

    async def resume(self, who: Requester, note: object = None) -> OperatorAction:
        text = validate_note(note)
        if self._control.paused:
            outcome = (OperatorResult.DONE, "hedging resumed: the hedger decides again now")
        else:
            outcome = (OperatorResult.UNCHANGED, "hedging was not paused")
        action = await self._recorded(
            OperatorActionKind.RESUME_HEDGING, who, self._instrument_id, text, outcome
        )
        self._wake_hedger("operator")
        return action

    async def close_position(self, who: Requester, note: object = None) -> OperatorAction:
        text = validate_note(note)
        correlation_id = new_correlation_id()
        self._control.pause(who.operator, self._clock.now_ms(), text)
        if self.shared_store:
            outcome = (OperatorResult.REQUESTED, "the hedger's active process closes it")
            action = await self._recorded(
                OperatorActionKind.CLOSE_POSITION,
                who,
                self._instrument_id,
                text,
                outcome,
                correlation_id=correlation_id,
            )
            self._wake_hedger("operator")
            return action
        async with self._control.turn:
            try:
                outcome = await self._close(who, correlation_id)
            except VenueError as error:
                outcome = (OperatorResult.FAILED, f"the venue did not answer: {error}")
        return await self._recorded(
            OperatorActionKind.CLOSE_POSITION,
            who,
            self._instrument_id,
            text,
            outcome,
            correlation_id=correlation_id,
        )

    async def acknowledge_alert(
        self, who: Requester, alert_id: object, note: object = None
    ) -> OperatorAction:
        chosen = validate_alert_id(alert_id)
        text = validate_note(note)
        outcome: _Outcome = (OperatorResult.RECORDED, "acknowledged")
        if self.alerts is not None:
            try:
                detail = await self.alerts.acknowledge(chosen, who.operator, self._clock.now_ms())
                outcome = (OperatorResult.RECORDED, detail)
            except LookupError as error:
                outcome = (OperatorResult.FAILED, f"no such alert: {error}")
        return await self._recorded(
            OperatorActionKind.ACKNOWLEDGE_ALERT, who, chosen, text, outcome
        )

    async def recent(self, limit: int) -> list[OperatorAction]:
        return await self._actions.recent(limit)

    async def _close(self, who: Requester, correlation_id: str) -> _Outcome:
        instrument_ids = await self._held_instruments()
        in_flight = await self._execution.open_orders(lambda i: i in instrument_ids)
        if in_flight:
            order = in_flight[0]
            return (
                OperatorResult.FAILED,
                f"order {order.intent.client_order_id} is still {order.state.value}: try again "
                "once it is final (hedging stays paused)",
            )
        outcomes = [await self._close_one(who, i, correlation_id) for i in instrument_ids]
        closed = [o for o in outcomes if o[0] is not OperatorResult.UNCHANGED]
        if not closed:
            return OperatorResult.UNCHANGED, "; ".join(detail for _, detail in outcomes)
        await self._snapshot(correlation_id)
        for result in (OperatorResult.FAILED, OperatorResult.UNCERTAIN):
            if any(o[0] is result for o in closed):
                return result, "; ".join(detail for _, detail in closed)
        return OperatorResult.DONE, "; ".join(detail for _, detail in closed)

    async def _close_one(self, who: Requester, instrument_id: str, correlation_id: str) -> _Outcome:
        instrument = await self._venue.instrument(instrument_id)
        position = await self._venue.position(instrument_id)
        if position.size_contracts == 0:
            return OperatorResult.UNCHANGED, f"no position to close on {instrument_id}"
        now_ms = self._clock.now_ms()
        decision = DecisionRecord(
            decision_id=new_correlation_id(),
            correlation_id=correlation_id,
            created_at_ms=now_ms,
            trigger="operator",
            policy="operator",
            rule=f"operator-close by {who.operator}",
            action=ActionKind.CLOSE.value,
            size_contracts=abs(position.size_contracts),
            instrument_id=instrument.instrument_id,
            liability_cents=await self._store.liability.balance_cents(),
            exposure_cents=instrument.exposure_cents(
                position.size_contracts, position.mark_price_usd
            ),
            position_contracts=position.size_contracts,
            hedge_ratio=None,
            btc_price_usd=position.mark_price_usd,
        )
        intent = OrderIntent(
            client_order_id=new_client_order_id(),
            instrument_id=instrument.instrument_id,
            kind=OrderKind.CLOSE_POSITION,
            side=None,
            size_contracts=abs(position.size_contracts),
            decision_id=decision.decision_id,
            correlation_id=correlation_id,
            created_at_ms=now_ms,
        )
        try:
            sent = await self._execution.submit(decision, intent)
        except SlotTaken as error:
            return OperatorResult.FAILED, f"{error} (hedging stays paused)"
        return self._described(sent, intent.client_order_id)

    def _described(self, sent: Sent, order_id: str) -> _Outcome:
        if sent.outcome is Outcome.REFUSED:
            if sent.state is OrderState.FILLED:
                return (
                    OperatorResult.UNCHANGED,
                    f"the venue had no position to close ({sent.error})",
                )
            return OperatorResult.FAILED, f"the venue refused order {order_id}: {sent.error}"
        if sent.outcome is Outcome.NOT_PROCESSED:
            return (
                OperatorResult.FAILED,
                f"the venue did not process order {order_id}: {sent.error}",
            )
        if sent.outcome is Outcome.UNCERTAIN:
            self._wake_hedger("recheck")
            return (
                OperatorResult.UNCERTAIN,
                f"order {order_id}: the venue's answer is unknown ({sent.error}); it is looked "
                "up by its client id before anything else is sent",
            )
        report = sent.report
        assert report is not None
        if not report.state.is_terminal:
            self._wake_hedger("recheck")
            return OperatorResult.DONE, f"order {order_id} is {report.state.value} at the venue"
        if report.state is OrderState.FILLED:
            price = f" at {report.avg_price_usd} USD" if report.avg_price_usd else ""
            return (
                OperatorResult.DONE,
                f"order {order_id} closed {report.filled_contracts} contracts{price}",
            )
        return OperatorResult.FAILED, f"order {order_id} ended {report.state.value}"

    async def _held_instruments(self) -> list[str]:
        if self._held is None:
            return [self._instrument_id]
        return await self._held()

    async def _snapshot(self, correlation_id: str) -> None:
        """The position after the close, for the audit trail and the dashboard."""
        try:
            instrument = await self._venue.instrument((await self._held_instruments())[0])
            position = await self._venue.position(instrument.instrument_id)
            balances = await self._venue.balances(instrument.settle_currency)
        except VenueError as error:
            log.warning("no position snapshot after the close", error=str(error))
            return
        snapshot = take_snapshot(
            instrument, position, balances, self._clock.now_ms(), correlation_id
        )
        await self._store.hedge.record_position(snapshot)

    async def _recorded(
        self,
        kind: OperatorActionKind,
        who: Requester,
        target: str,
        note: str,
        outcome: _Outcome,
        *,
        correlation_id: str | None = None,
    ) -> OperatorAction:
        result, detail = outcome
        now_ms = self._clock.now_ms()
        action = OperatorAction(
            action_id=new_correlation_id(),
            created_at_ms=now_ms,
            operator=who.operator,
            action=kind,
            target=target,
            note=note,
            result=result,
            detail=detail,
            correlation_id=correlation_id or new_correlation_id(),
            client_address=who.client_address[:128],
        )
        await self._actions.record(action)  # written before the switch moves
        if kind is OperatorActionKind.PAUSE_HEDGING and result is OperatorResult.DONE:
            self._control.pause(who.operator, now_ms, note)
        elif kind is OperatorActionKind.RESUME_HEDGING and result is OperatorResult.DONE:
            self._control.resume(who.operator, now_ms, note)
        log.info(
            "operator action",
            operator=who.operator,
            action=kind.value,
            target=target,
            result=result.value,
            detail=detail,
            correlation_id=action.correlation_id,
        )
        await self._publish(TOPIC_OPERATOR, acted(action, self._control.paused))
        return action

    async def _publish(self, topic: str, event: OperatorActed) -> None:
        """A notice: the action is recorded already, and hedgers read it from the store."""
        try:
            await self._bus.publish(topic, encode_event(event))
        except BusUnavailable as error:
            log.warning("operator action not announced: the bus is down", error=str(error))


def acted(action: OperatorAction, paused: bool) -> OperatorActed:
    """An operator's action as announced on the bus; `paused` is the switch it moved, after."""
    return OperatorActed(
        action_id=action.action_id,
        operator=action.operator,
        action=action.action.value,
        target=action.target,
        result=action.result.value,
        detail=action.detail,
        hedging_paused=paused,
        correlation_id=action.correlation_id,
        ts_ms=action.created_at_ms,
    )
