"""The execution core's path for broker orders: the equity hedger's hedges.

1. `open`: the order row, with its client order id, is committed before any request; the
   database refuses a second order not final on the same symbol (SlotTaken): nothing is sent.
2. `send`: the request goes out and its outcome is sorted (services.execution.core): accepted
   (the broker's report is recorded), refused or not processed (failed, with the reason: the
   exposure stays and the next check decides again), uncertain (looked up at once by the
   intent; not found, it is recorded `unknown` and `resolve` looks again later).
3. `resolve`: an order not final is looked up before anything new is sent for its symbol; one
   the broker still does not know after the lookup window is `lost`.
4. `cancel`: asks the broker to cancel a working order and records its end (with any partial
   fill).

Every new state goes through `EquityRepository.record_broker_report` or `record_broker_state`.
The exposure moves only by the fills a report carries: the repository allocates each new fill
to the onchain fills it covers in the transaction that records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

import structlog

from pegkeeper.domain.equities.broker import (
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.ledger import Allocation, BrokerOrderRecord
from pegkeeper.domain.errors import OrderRejected, RateLimited, VenueError
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.leases import check_still_acting
from pegkeeper.ports import Broker, Clock, EquityRepository
from pegkeeper.services.execution.core import Attempt, Found, Waits, attempt, look_up

RATE_LIMITED_ATTEMPTS = 3  # places after a 429 before the order is recorded not processed
RATE_LIMIT_WAIT_S = 1.0  # when the broker names no wait
MAX_RATE_LIMIT_WAIT_S = 10.0  # a longer wait ends the attempt: the next check sends again

log = structlog.get_logger("pegkeeper.equities.execution")

# told of every report that brought new broker fills (the P&L replays on it)
OnFills = Callable[[BrokerOrderReport], None]


@dataclass(frozen=True, slots=True)
class BrokerSent:
    """What became of one broker order request: its outcome and the state recorded for it."""

    outcome: Outcome
    state: BrokerOrderState
    report: BrokerOrderReport | None = None
    error: str = ""


class BrokerOrderExecution:
    def __init__(
        self,
        repository: EquityRepository,
        broker: Broker,
        clock: Clock,
        *,
        lookup_window_seconds: float,
        on_fills: OnFills | None = None,
    ) -> None:
        self._repository = repository
        self._broker = broker
        self._clock = clock
        self._lookup_window_seconds = lookup_window_seconds
        self._on_fills = on_fills
        self.waits = Waits(clock)  # how long each order not final has been waited on

    @property
    def broker(self) -> Broker:
        return self._broker

    async def open(self, intent: BrokerOrderIntent, reason: str) -> None:
        """Commits the order before any request (raises SlotTaken, writing nothing, while the
        symbol has an order not final)."""
        await self._repository.open_broker_order(intent, reason)
        self.waits.started_ms(intent.client_order_id)

    async def submit(self, intent: BrokerOrderIntent, reason: str) -> BrokerSent:
        await self.open(intent, reason)
        return await self.send(intent)

    async def send(self, intent: BrokerOrderIntent) -> BrokerSent:
        """Sends an order already committed and records what became of it."""
        self.waits.started_ms(intent.client_order_id)
        result = await self._place(intent)
        if result.answer is not None:
            await self.record_report(result.answer, filled_before=Decimal(0))
            return BrokerSent(Outcome.ACCEPTED, result.answer.state, result.answer)
        error = str(result.error)
        if result.outcome is Outcome.UNCERTAIN:
            found = await self._found(intent, error)
            if found is not None:
                return BrokerSent(Outcome.ACCEPTED, found.state, found, error)
            log.warning(
                "broker order outcome unknown", client_order_id=intent.client_order_id, error=error
            )
            await self.record_state(intent, BrokerOrderState.UNKNOWN, f"uncertain: {error}")
            return BrokerSent(result.outcome, BrokerOrderState.UNKNOWN, error=error)
        prefix = "not processed: " if result.outcome is Outcome.NOT_PROCESSED else "refused: "
        await self.record_state(intent, BrokerOrderState.FAILED, prefix + error)
        return BrokerSent(result.outcome, BrokerOrderState.FAILED, error=error)

    async def _place(self, intent: BrokerOrderIntent) -> Attempt[BrokerOrderReport]:
        """Places the order; a rate limit (429: not processed, not a failure of the order) is
        waited out as the broker asks, up to a bound, and the same order sent again."""
        result = await attempt(self._broker.place_order(intent))
        for _ in range(RATE_LIMITED_ATTEMPTS):
            if not isinstance(result.error, RateLimited):
                break
            wait_s = result.error.retry_after_seconds or RATE_LIMIT_WAIT_S
            if wait_s > MAX_RATE_LIMIT_WAIT_S:
                break
            log.info(
                "broker rate limit: the order waits",
                seconds=wait_s,
                client_order_id=intent.client_order_id,
            )
            await self._clock.sleep(wait_s)
            result = await attempt(self._broker.place_order(intent))
        return result

    async def _found(self, intent: BrokerOrderIntent, error: str) -> BrokerOrderReport | None:
        """An order whose request ended uncertain, looked up at once: found, the broker's
        answer is recorded; not found (it may still arrive) or not readable, None."""
        found = await look_up(self._broker.order(intent), window_passed=False)
        if found.answer is None:
            return None
        log.warning(
            "broker order outcome was unknown; found by its intent",
            client_order_id=intent.client_order_id,
            state=found.answer.state.value,
            error=error,
        )
        report = replace(found.answer, message=found.answer.message or f"found after: {error}")
        await self.record_report(report, filled_before=Decimal(0))
        return report

    async def resolve(self, order: BrokerOrderRecord) -> BrokerOrderState | None:
        """Looks an order not final up at the broker and records what changed. Returns its
        state now, or None while the broker does not know it yet or did not answer."""
        intent = order.intent
        window_passed = self.waits.window_passed(
            intent.client_order_id, self._lookup_window_seconds
        )
        found = await look_up(self._broker.order(intent), window_passed)
        if found.found is Found.LOST:
            await self.record_state(intent, BrokerOrderState.LOST, "not found at the broker")
            return BrokerOrderState.LOST
        if found.answer is None:
            if found.found is Found.FAILED:
                log.warning(
                    "broker order lookup failed",
                    client_order_id=intent.client_order_id,
                    error=found.error,
                )
            return None
        report = found.answer
        changed = (
            report.state != order.state
            or report.filled_quantity != order.filled_quantity
            or (report.broker_order_id != order.broker_order_id and bool(report.broker_order_id))
        )
        if changed:
            await self.record_report(report, filled_before=order.filled_quantity)
        return report.state

    async def cancel(self, intent: BrokerOrderIntent) -> BrokerOrderState | None:
        """Cancels a working order; returns its state once its end is recorded, or None when
        the broker did not confirm (it ended first, or did not answer: the next lookup says).
        A holder that may no longer rely on its lease asks nothing (LeaseLost)."""
        check_still_acting()
        record = await self._repository.broker_order(intent.client_order_id)
        filled_before = record.filled_quantity if record is not None else Decimal(0)
        try:
            report = await self._broker.cancel_order(intent)
        except OrderRejected as error:
            log.info(
                "broker order ended before its cancel",
                client_order_id=intent.client_order_id,
                error=str(error),
            )
            return None
        except (VenueError, OSError, TimeoutError) as error:
            log.warning(
                "broker cancel failed", client_order_id=intent.client_order_id, error=str(error)
            )
            return None
        await self.record_report(report, filled_before=filled_before)
        return report.state

    async def record_report(
        self, report: BrokerOrderReport, *, filled_before: Decimal
    ) -> list[Allocation]:
        """The broker's report, with its new fills allocated in the same transaction."""
        allocations = await self._repository.record_broker_report(report, self._clock.now_ms())
        if report.state.is_terminal:
            self.waits.forget(report.client_order_id)
        if report.filled_quantity != filled_before and self._on_fills is not None:
            self._on_fills(report)
        return allocations

    async def record_state(
        self, intent: BrokerOrderIntent, state: BrokerOrderState, message: str
    ) -> None:
        """A new state without a report from the broker (uncertain, lost, refused)."""
        await self._repository.record_broker_state(
            intent.client_order_id, state, message, self._clock.now_ms()
        )
        if state.is_terminal:
            self.waits.forget(intent.client_order_id)
