"""The one path every order takes, whoever decided it: the hedger, a roll, an operator.

1. `open`: the decision and the order row, with its client order id, are committed together
   before any request. The database refuses, with SlotTaken, a second open order on the same
   slot (the instrument) and, given the slot's version read before deciding, an order decided
   on inputs older than the slot's last order: then nothing is sent.
2. `send`: the request goes out and its outcome is sorted (services.execution.core): accepted
   (the venue's report is recorded), refused (rejected; a close that found nothing to close is
   filled: its goal is reached), not processed (rejected: decide again later), uncertain
   (recorded `unknown`).
3. `resolve`: an order not final is looked up by its client id before anything new is sent;
   one the venue still does not know after the lookup window is `lost`.
4. `reconcile`: at start and after a reconnect, orders live at the venue that the store holds
   final (an order found after it was declared lost) are canceled and their real end recorded.

Every new state goes through `record`. What is written together is one unit of work
(services/unit_of_work.py), and its events are published on the bus after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog

from pegkeeper.domain.errors import NotFound, OrderRejected, PositionAlreadyClosed, VenueError
from pegkeeper.domain.events import (
    TOPIC_DECISION,
    TOPIC_ORDER,
    HedgeDecided,
    OrderUpdated,
    encode_event,
)
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.leases import check_still_acting
from pegkeeper.domain.orders import Fill, OrderIntent, OrderKind, OrderReport, OrderState
from pegkeeper.domain.records import DecisionRecord, LiabilityCover, OrderRecord
from pegkeeper.domain.roll import RollRecord
from pegkeeper.ports import Bus, Clock, OrderVenue, Store
from pegkeeper.services.execution.core import Found, Waits, attempt, look_up
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.unit_of_work import UnitOfWork

log = structlog.get_logger("pegkeeper.execution")

OnFinal = Callable[[OrderIntent, OrderState, Decimal], None]


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of one order request: its outcome and the state recorded for it."""

    outcome: Outcome
    state: OrderState
    report: OrderReport | None = None
    error: str = ""


class OrderExecution:
    def __init__(
        self,
        store: Store,
        venue: OrderVenue,
        bus: Bus,
        clock: Clock,
        *,
        lookup_window_seconds: float,
        on_final: OnFinal | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """`on_final` is told every order that reaches a final state, with its filled size;
        with `outbox` the events go through the store's outbox (services/unit_of_work.py)."""
        self._orders = store.hedge
        self._rolls = store.rolls
        self._unit = UnitOfWork(store, bus, outbox=outbox)
        self._venue = venue
        self._clock = clock
        self._lookup_window_seconds = lookup_window_seconds
        self._on_final = on_final
        self.waits = Waits(clock)  # how long each order not final has been waited on

    async def open(
        self,
        decision: DecisionRecord,
        intent: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
        covers: LiabilityCover | None = None,
    ) -> None:
        """Commits the decision, the liability events it `covers` and its order (raises
        SlotTaken, writing nothing, when the slot is taken), then publishes them. A decision
        without an order is only recorded."""
        async with self._unit() as events:
            await self._orders.record_decision(
                decision, intent, slot_version=slot_version, covers=covers
            )
            events.add(TOPIC_DECISION, _decided(decision))
            if intent is not None:
                events.add(TOPIC_ORDER, self._order_event(intent, OrderState.CREATED))

    async def open_roll(
        self, decision: DecisionRecord, roll: RollRecord, legs: Sequence[OrderIntent]
    ) -> None:
        async with self._unit() as events:
            await self._rolls.record_roll(decision, roll, legs)
            events.add(TOPIC_DECISION, _decided(decision))
            for leg in legs:
                events.add(TOPIC_ORDER, self._order_event(leg, OrderState.CREATED))

    async def submit(
        self,
        decision: DecisionRecord,
        intent: OrderIntent,
        *,
        slot_version: int | None = None,
        covers: LiabilityCover | None = None,
    ) -> Sent:
        await self.open(decision, intent, slot_version=slot_version, covers=covers)
        return await self.send(intent)

    async def send(self, intent: OrderIntent) -> Sent:
        """Sends an order already committed and records what became of it."""
        self.waits.started_ms(intent.client_order_id)
        result = await attempt(self._request(intent))
        if result.answer is not None:
            await self.record_report(intent, result.answer)
            return Sent(Outcome.ACCEPTED, result.answer.state, result.answer)
        error = result.error
        if result.outcome is Outcome.UNCERTAIN and (found := await self._found(intent, error)):
            return Sent(Outcome.ACCEPTED, found.state, found, str(error))
        if result.outcome is Outcome.REFUSED:
            closed = isinstance(error, PositionAlreadyClosed)
            state, message = (OrderState.FILLED if closed else OrderState.REJECTED), str(error)
        elif result.outcome is Outcome.NOT_PROCESSED:
            state, message = OrderState.REJECTED, f"not processed: {error}"
        else:
            log.warning(
                "order outcome unknown", client_order_id=intent.client_order_id, error=str(error)
            )
            state, message = OrderState.UNKNOWN, f"uncertain: {error}"
        await self.record(intent, state, message=message)
        return Sent(result.outcome, state, error=str(error))

    async def _found(self, intent: OrderIntent, error: Exception | None) -> OrderReport | None:
        """An order whose request ended uncertain, looked up at once by its client id: found,
        its state is recorded as the answer; not found (it may still arrive) or not readable,
        the uncertainty stands and `resolve` looks again later."""
        found = await look_up(
            self._venue.order(intent.instrument_id, intent.client_order_id), window_passed=False
        )
        if found.answer is None:
            return None
        log.warning(
            "order outcome was unknown; found by its client id",
            client_order_id=intent.client_order_id,
            state=found.answer.state.value,
            error=str(error),
        )
        report = replace(
            found.answer, message=found.answer.message or f"found by client id after: {error}"
        )
        await self.record_report(intent, report)
        return report

    async def resolve(self, order: OrderRecord) -> OrderState | None:
        """Looks an order up at the venue and records what it says. Returns its state now, or
        None while the venue does not know it yet or the lookup got no answer."""
        intent = order.intent
        window_passed = self.waits.window_passed(
            intent.client_order_id, self._lookup_window_seconds
        )
        found = await look_up(
            self._venue.order(intent.instrument_id, intent.client_order_id), window_passed
        )
        if found.found is Found.LOST:
            await self.record(intent, OrderState.LOST, message="not found at the venue")
            return OrderState.LOST
        if found.answer is None:
            if found.found is Found.FAILED:
                log.warning(
                    "order lookup failed",
                    client_order_id=intent.client_order_id,
                    error=found.error,
                )
            return None
        report = found.answer
        if report.state != order.state or report.filled_contracts != order.filled_contracts:
            await self.record_report(intent, report)
        return report.state

    async def cancel(self, intent: OrderIntent) -> OrderState | None:
        """Cancels a working order; returns its state once its end is recorded, or None when
        the venue did not confirm (it ended first, or did not answer: the next lookup says).
        A holder that may no longer rely on its lease asks nothing (LeaseLost)."""
        check_still_acting()
        try:
            report = await self._venue.cancel_order(intent.instrument_id, intent.client_order_id)
        except OrderRejected as error:
            log.info(
                "order ended before its cancel",
                client_order_id=intent.client_order_id,
                error=str(error),
            )
            return None
        except (VenueError, OSError, TimeoutError) as error:
            log.warning("cancel failed", client_order_id=intent.client_order_id, error=str(error))
            return None
        await self.record_report(intent, report)
        return report.state

    async def open_orders(self, owns: Callable[[str], bool]) -> list[OrderRecord]:
        """The orders not final whose instrument `owns` accepts, oldest first."""
        return [o for o in await self._orders.open_orders() if owns(o.intent.instrument_id)]

    async def reconcile(self, instrument_id: str) -> None:
        """Orders live at the venue that the store holds final are pegkeeper's strays (found
        after they were declared lost): canceled, and their real end recorded. Orders
        pegkeeper never made are left alone and reported."""
        live = await self._venue.open_orders(instrument_id)
        open_here = {o.intent.client_order_id for o in await self._orders.open_orders()}
        for report in live:
            if report.client_order_id in open_here:
                continue
            record = await self._orders.get_order(report.client_order_id)
            if record is None:
                log.warning("an order at the venue that pegkeeper did not place", order=report)
                continue
            log.warning("a final order is live at the venue; canceling", order=report)
            try:
                final = await self._venue.cancel_order(instrument_id, report.client_order_id)
            except NotFound:
                continue
            await self.record_report(record.intent, final)

    async def record_report(self, intent: OrderIntent, report: OrderReport) -> None:
        await self.record(
            intent,
            report.state,
            venue_order_id=report.venue_order_id,
            filled_contracts=report.filled_contracts,
            avg_price_usd=report.avg_price_usd,
            message=report.message,
            fills=report.fills,
        )

    async def record(
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
        """The one place an order's new state is written (then published)."""
        async with self._unit() as events:
            await self._orders.record_order_state(
                intent.client_order_id,
                state,
                self._clock.now_ms(),
                venue_order_id=venue_order_id,
                filled_contracts=filled_contracts,
                avg_price_usd=avg_price_usd,
                message=message,
                fills=fills,
            )
            events.add(TOPIC_ORDER, self._order_event(intent, state))
        if state.is_terminal:
            self.waits.forget(intent.client_order_id)
        if state.is_terminal and self._on_final is not None:
            self._on_final(intent, state, filled_contracts)

    def _order_event(self, intent: OrderIntent, state: OrderState) -> bytes:
        event = OrderUpdated(
            client_order_id=intent.client_order_id,
            correlation_id=intent.correlation_id,
            state=state.value,
            ts_ms=self._clock.now_ms(),
        )
        return encode_event(event)

    def _request(self, intent: OrderIntent) -> Coroutine[Any, Any, OrderReport]:
        if intent.kind is OrderKind.CLOSE_POSITION:
            return self._venue.close_position(intent)
        if intent.kind.has_limit_price:
            return self._venue.place_limit_order(intent)
        return self._venue.place_market_order(intent)


def _decided(record: DecisionRecord) -> bytes:
    event = HedgeDecided(
        decision_id=record.decision_id,
        correlation_id=record.correlation_id,
        action=record.action,
        size_contracts=str(record.size_contracts),
        rule=record.rule,
        ts_ms=record.created_at_ms,
    )
    return encode_event(event)
