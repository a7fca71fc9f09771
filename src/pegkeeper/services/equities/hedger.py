"""The equity hedger: keeps each symbol's exposure at the broker near zero.

A trigger loop (services/trigger_loop.py): a new onchain fill, a reverted one, an operator's
switch, its own rechecks while an order is in flight, and the periodic check (60 s) each run
one cycle; triggers that arrive during a cycle are folded into the next one. A cycle:

1. resolves every broker order not final (at start, those an earlier process left) before
   anything new is sent: their fills move the exposure;
2. for each symbol not paused and with no order in flight, sizes the hedge with the domain's
   `hedge_size` and, when it is an order, sends it through the execution core with a client
   order id derived from the symbol and the slot's sequence. A failed order leaves the
   exposure where it was; the next check fires again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.accumulation import HedgeSize, Wait, hedge_size
from pegkeeper.domain.equities.broker import (
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.ledger import SymbolExposure
from pegkeeper.domain.equities.session_orders import SessionOrder, Upkeep
from pegkeeper.domain.errors import ConflictError, SlotTaken
from pegkeeper.ports import Broker, Clock, EquityRepository
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.hedge_gate import HedgeGate
from pegkeeper.services.equities.status import SymbolStatus, flat, shown, symbol_status
from pegkeeper.services.execution.broker_orders import BrokerOrderExecution, BrokerSent
from pegkeeper.services.ids import broker_client_order_id, new_correlation_id
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop, backoff_delay_seconds

log = structlog.get_logger("pegkeeper.equities.hedger")

_FAILED = (BrokerOrderState.FAILED, BrokerOrderState.LOST)
_MAX_ID_PROBES = 1_000  # ids taken past the counted sequence (orders of another process)


@dataclass(frozen=True, slots=True)
class EquityHedgerSettings:
    check_interval_seconds: float = 60.0
    min_notional_usd: Decimal = Decimal(2)
    order_lookup_window_seconds: float = 30.0
    recheck_open_order_seconds: float = 1.0  # while an order is in flight
    unhedged_alert_seconds: float = 600.0
    backoff_cap_seconds: float = 60.0
    client_id_prefix: str = "eq"


class EquityHedger:
    def __init__(
        self,
        repository: EquityRepository,
        broker: Broker,
        clock: Clock,
        settings: EquityHedgerSettings,
        *,
        symbols: Sequence[str] = (),
        control: EquityControl | None = None,
        alerter: Alerter | None = None,
        on_broker_fills: Callable[[str], None] | None = None,
        gate: HedgeGate | None = None,
    ) -> None:
        """`symbols` are the configured ones (shown even before their first fill);
        `on_broker_fills` is told of every report that brought broker fills; `gate` says what
        the market session and the account allow (None: a market order at any time)."""
        self._repository = repository
        self._broker = broker
        self._clock = clock
        self.settings = settings
        self._symbols = tuple(symbols)
        self.control = control
        self._alerter = alerter
        self._on_broker_fills = on_broker_fills
        self.gate = gate
        self.execution = BrokerOrderExecution(
            repository,
            broker,
            clock,
            lookup_window_seconds=settings.order_lookup_window_seconds,
            on_fills=self._fills_reported,
        )
        self._loop = TriggerLoop("equity-hedge", clock, settings.check_interval_seconds)
        self._sequence: dict[str, int] | None = None  # the next order's number, per symbol
        self._free: set[str] = set()  # symbols whose next number needs no lookup
        self._waiting: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._prices: dict[str, Decimal] = {}  # the last price seen per symbol
        self._status: dict[str, SymbolStatus] = {}
        self.cycles = 0
        self.consecutive_failures = 0
        self.orders_sent = 0
        self.last_cycle_ms: int | None = None
        self.ready = asyncio.Event()
        self.reload_switches = False  # processes sharing the store: read them every cycle
        if control is not None:
            control.on_change(lambda target: self.trigger("operator"))

    def trigger(self, reason: str, correlation_id: str | None = None) -> None:
        """Ask for a cycle (a new fill, a revert, an operator); folded while one runs."""
        self._loop.trigger(reason, correlation_id)

    async def run(self) -> None:
        if self.control is not None and not self.control.loaded:
            await self.control.load()  # never an order before the switches are restored
        await self._loop.run(self._run_cycle, [], on_failure=self._failed, started=self.ready)

    async def _run_cycle(self, trigger: Trigger) -> None:
        if self.reload_switches and self.control is not None:
            await self.control.load()  # an operator may have acted through another process
        await self.cycle(trigger.reason, trigger.correlation_id)

    def _failed(self) -> None:
        self.consecutive_failures += 1
        delay = backoff_delay_seconds(
            self.settings.recheck_open_order_seconds,
            self.settings.backoff_cap_seconds,
            self.consecutive_failures,
        )
        self._loop.recheck_in(delay)

    async def cycle(self, reason: str, correlation_id: str = "") -> list[BrokerSent]:
        """One cycle: resolve the orders in flight, then hedge what is left. Returns what
        became of each order sent."""
        if self._sequence is None:
            self._sequence = await self._load_history()
        in_flight = await self._resolve_open()
        exposures = await self._repository.exposures()
        sent: list[BrokerSent] = []
        symbols = sorted(set(self._symbols) | set(exposures))
        for symbol in symbols:
            exposure = exposures.get(symbol) or flat(symbol)
            result = await self._hedge(exposure, reason, correlation_id, in_flight)
            if result is not None:
                sent.append(result)
        if sent:  # the fills reported move the books: show them as they are now
            exposures = await self._repository.exposures()
        statuses = {s: self._status_of(exposures.get(s) or flat(s)) for s in symbols}
        for status in statuses.values():
            self._alert_unhedged(status)
        self._status = statuses
        self.cycles += 1
        self.consecutive_failures = 0
        self.last_cycle_ms = self._clock.now_ms()
        waiting_on_broker = any(s.in_flight is not None for s in statuses.values())
        if waiting_on_broker or any(not r.state.is_terminal for r in sent):
            self._loop.recheck_in(self.settings.recheck_open_order_seconds)
        return sent

    async def _resolve_open(self) -> set[str]:
        """Looks up every order not final; returns the symbols that still have one."""
        still: set[str] = set()
        for order in await self._repository.open_broker_orders():
            state = await self.execution.resolve(order)
            if state is not None and not state.is_terminal:
                state = await self._upkeep(order.intent) or state
            if state is None or not state.is_terminal:
                still.add(order.intent.symbol)
            else:
                record = await self._repository.broker_order(order.intent.client_order_id)
                self._order_outcome(order.intent, state, record.message if record else "")
        return still

    async def _upkeep(self, intent: BrokerOrderIntent) -> BrokerOrderState | None:
        """A working limit order the session moved past is canceled (repriced, replaced by a
        market order at the open, or held): the next order is sized from what it left."""
        if self.gate is None:
            return None
        step = await self.gate.upkeep(intent)
        if step is Upkeep.KEEP:
            return None
        log.info(
            "working limit order canceled", client_order_id=intent.client_order_id, step=step.value
        )
        return await self.execution.cancel(intent)

    async def _hedge(
        self, exposure: SymbolExposure, reason: str, correlation_id: str, in_flight: set[str]
    ) -> BrokerSent | None:
        symbol = exposure.symbol
        self._waiting[symbol] = ""
        if exposure.in_flight is not None or symbol in in_flight:
            self._waiting[symbol] = "an order is in flight"
            return None
        size = self._size(exposure)
        if isinstance(size, Wait):
            self._waiting[symbol] = size.reason
            return None
        if self.control is not None and self.control.paused(symbol):
            self._waiting[symbol] = "paused by an operator"
            return None
        order: SessionOrder | None = None
        if self.gate is not None:
            allowed = await self.gate.order_for(size, symbol, self._price_of(exposure))
            if not isinstance(allowed, SessionOrder):
                self._waiting[symbol] = allowed.waiting
                return None
            order = allowed
        intent = await self._intent(exposure, size, correlation_id)
        if order is not None:
            intent = order.applied_to(intent)
        try:
            await self.execution.open(intent, f"{reason}: exposure {shown(exposure.exposure)}")
        except SlotTaken as error:
            self._waiting[symbol] = f"another order holds the slot: {error}"
            return None
        except ConflictError as error:  # the id was taken meanwhile: count again at once
            self._sequence = None
            self._free.clear()
            self._waiting[symbol] = f"order id taken: {error}"
            self.trigger("order id taken", correlation_id)
            return None
        self._bump(symbol)
        result = await self.execution.send(intent)
        self.orders_sent += 1
        self._after_send(intent, result)
        return result

    def _size(self, exposure: SymbolExposure) -> HedgeSize | Wait:
        return hedge_size(
            exposure.exposure,
            self._broker.kind,
            last_price_usd=self._price_of(exposure),
            min_notional_usd=self.settings.min_notional_usd,
        )

    def _price_of(self, exposure: SymbolExposure) -> Decimal | None:
        """The last onchain fill's price; when a reorg took every live fill away (the
        correcting hedge of a reverted one), the last price seen of the symbol."""
        if exposure.last_price_usd is not None:
            self._prices[exposure.symbol] = exposure.last_price_usd
            return exposure.last_price_usd
        return self._prices.get(exposure.symbol)

    async def _intent(
        self, exposure: SymbolExposure, size: HedgeSize, correlation_id: str
    ) -> BrokerOrderIntent:
        symbol = exposure.symbol
        sequence = await self._next_sequence(symbol)
        return BrokerOrderIntent(
            client_order_id=broker_client_order_id(
                symbol, sequence, self.settings.client_id_prefix
            ),
            symbol=symbol,
            side=size.side,
            quantity=size.quantity,
            created_at_ms=self._clock.now_ms(),
            correlation_id=correlation_id or new_correlation_id(),
        )

    async def _load_history(self) -> dict[str, int]:
        """Read once: each symbol's orders so far (the next one's number) and the last
        prices its fills had (the fallback of `_price_of` after a restart)."""
        snapshot = await self._repository.ledger_snapshot()
        fills = sorted(snapshot.broker_fills, key=lambda f: f.ts_ms)
        live = sorted(
            (f for f in snapshot.onchain_fills if not f.reverted),
            key=lambda f: (f.block_number, f.log_index),
        )
        known = {f.symbol: f.price_usd for f in fills} | {f.symbol: f.price_usd for f in live}
        self._prices = known | self._prices
        return dict(Counter(o.intent.symbol for o in snapshot.broker_orders))

    async def _next_sequence(self, symbol: str) -> int:
        """The symbol's next order number: its orders counted once at start, then past any
        id already taken (an order another process opened)."""
        if self._sequence is None:
            self._sequence = await self._load_history()
        sequence = self._sequence.get(symbol, 0)
        if symbol in self._free:
            return sequence
        prefix = self.settings.client_id_prefix
        for _ in range(_MAX_ID_PROBES):
            taken = await self._repository.broker_order(
                broker_client_order_id(symbol, sequence, prefix)
            )
            if taken is None:
                break
            sequence += 1
        self._sequence[symbol] = sequence
        return sequence

    def _bump(self, symbol: str) -> None:
        """After this process opened the symbol's order: the next number is free unless
        another process takes it, which the database refuses (ConflictError)."""
        if self._sequence is not None:
            self._sequence[symbol] = self._sequence.get(symbol, 0) + 1
            self._free.add(symbol)

    def _after_send(self, intent: BrokerOrderIntent, result: BrokerSent) -> None:
        message = result.error or (result.report.message if result.report else "")
        self._order_outcome(intent, result.state, message)

    def _order_outcome(
        self, intent: BrokerOrderIntent, state: BrokerOrderState, message: str
    ) -> None:
        """A failed or lost order leaves its reason on the symbol (and an alert) until an
        order of the symbol goes through; any other outcome clears them."""
        symbol = intent.symbol
        if state.is_terminal:
            log.info(
                "broker order ended",
                symbol=symbol,
                client_order_id=intent.client_order_id,
                state=state.value,
                message=message,
            )
        if state not in _FAILED:
            if self._errors.pop(symbol, None) is not None and self._alerter is not None:
                self._alerter.cleared(
                    AlertKind.EQUITY_ORDER_FAILED, symbol, f"{symbol} hedge order accepted", ""
                )
            return
        reason = message or state.value
        if self.gate is not None:
            self.gate.account_changed()  # a refusal may be the account's: read it again
        self._errors[symbol] = f"{state.value}: {reason}"
        self._waiting[symbol] = f"the broker did not take the order: {reason}"
        log.warning(
            "broker order failed; the exposure stays and the next check fires again",
            symbol=symbol,
            client_order_id=intent.client_order_id,
            state=state.value,
            reason=reason,
        )
        if self._alerter is not None:
            self._alerter.condition(
                AlertKind.EQUITY_ORDER_FAILED,
                symbol,
                f"{symbol} hedge order {state.value}",
                f"{intent.side.value} {shown(intent.quantity)} {symbol}: {reason}; "
                "the exposure stays and the next check fires again",
                {"client_order_id": intent.client_order_id, "state": state.value},
            )

    def _fills_reported(self, report: BrokerOrderReport) -> None:
        if self._on_broker_fills is not None:
            self._on_broker_fills("broker_fill")

    def _status_of(self, exposure: SymbolExposure) -> SymbolStatus:
        symbol = exposure.symbol
        return symbol_status(
            exposure,
            now_ms=self._clock.now_ms(),
            price_usd=self._price_of(exposure),
            paused=self.control is not None and self.control.paused(symbol),
            waiting=self._waiting.get(symbol, ""),
            last_error=self._errors.get(symbol, ""),
        )

    def _alert_unhedged(self, status: SymbolStatus) -> None:
        """An exposure big enough to hedge, left longer than the limit, raises an alert (a
        remainder under the broker's minimum is not one: it waits for the next fill)."""
        if self._alerter is None:
            return
        age = status.exposure_age_seconds
        sizeable = isinstance(
            hedge_size(
                status.exposure,
                self._broker.kind,
                last_price_usd=status.last_price_usd,
                min_notional_usd=self.settings.min_notional_usd,
            ),
            HedgeSize,
        )
        symbol = status.symbol
        if sizeable and age is not None and age >= self.settings.unhedged_alert_seconds:
            why = status.waiting or status.last_error or "an order is in flight"
            self._alerter.condition(
                AlertKind.EQUITY_UNHEDGED,
                symbol,
                f"{symbol} exposure unhedged for {age:.0f} s",
                f"{shown(status.exposure)} shares (about {shown(status.unhedged_usd)} USD) "
                f"wait: {why}",
                {"symbol": symbol, "exposure": shown(status.exposure)},
            )
        else:
            self._alerter.cleared(
                AlertKind.EQUITY_UNHEDGED, symbol, f"{symbol} exposure hedged again", ""
            )

    def waiting_reasons(self) -> dict[str, str]:
        """Per symbol, why the last cycle sent no order ("" when nothing held it back)."""
        return {s: status.waiting for s, status in self._status.items()}

    def status(self) -> dict[str, SymbolStatus]:
        """Each symbol as of the last cycle."""
        return dict(self._status)

    async def statuses(self) -> dict[str, SymbolStatus]:
        """Each symbol now: its books read again, the reasons of the last cycle."""
        exposures = await self._repository.exposures()
        return {
            symbol: self._status_of(exposures.get(symbol) or flat(symbol))
            for symbol in sorted(set(self._symbols) | set(exposures))
        }
