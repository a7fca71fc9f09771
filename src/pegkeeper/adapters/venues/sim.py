"""The `Venue` port over the in-process simulated exchange engine.

Fault switches let callers' tests reproduce production failures: `fail_next_order_with` raises
instead of sending (nothing happens at the venue); `timeout_after_accept_next` executes the
order and then raises `VenueUncertain`, as a timeout after the venue accepted it would.
"""

from __future__ import annotations

import asyncio
import weakref
from decimal import Decimal

from pegkeeper.domain.errors import OrderRejected, VenueUncertain
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import OrderIntent, OrderReport
from pegkeeper.domain.venue import VenueBalances, VenuePosition
from pegkeeper.ports import Clock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import AccountType, PositionChanged, TransferResult
from pegkeeper.sim.orders import OrderType


class PositionStream:
    """Positions of one instrument as they change; subscribed from the moment it is made."""

    def __init__(self, instrument_id: str) -> None:
        self.instrument_id = instrument_id
        self._queue: asyncio.Queue[VenuePosition] = asyncio.Queue()

    def __aiter__(self) -> PositionStream:
        return self

    async def __anext__(self) -> VenuePosition:
        return await self._queue.get()

    def push(self, position: VenuePosition) -> None:
        self._queue.put_nowait(position)


class SimVenue:
    def __init__(self, engine: SimEngine, clock: Clock, name: str = "sim") -> None:
        self.name = name
        self.engine = engine
        self._clock = clock
        # Streams a consumer has dropped disappear on their own.
        self._streams: weakref.WeakSet[PositionStream] = weakref.WeakSet()
        self._fail_next: Exception | None = None
        self._timeout_after_accept_next = False
        engine.add_listener(self._on_position_changed)

    # -- the Venue port ------------------------------------------------------------------------

    async def instrument(self, instrument_id: str) -> Instrument:
        return self.engine.instrument(instrument_id)

    async def position(self, instrument_id: str) -> VenuePosition:
        return self.engine.position(instrument_id)

    async def balances(self, currency: str) -> VenueBalances:
        return self.engine.balances(currency)

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        self._raise_injected_failure()
        if intent.side is None:
            raise OrderRejected("a market order needs a side", code="51000")
        report = self.engine.place_market_order(
            intent.client_order_id,
            intent.instrument_id,
            intent.side,
            intent.size_contracts,
            self._clock.now_ms(),
        )
        return self._after_accept(report)

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        self._raise_injected_failure()
        if intent.side is None or not intent.kind.has_limit_price:
            raise OrderRejected(f"not a limit order: {intent.kind}", code="51000")
        order = self.engine.place_order(
            intent.client_order_id,
            intent.instrument_id,
            intent.side,
            intent.size_contracts,
            self._clock.now_ms(),
            order_type=OrderType(intent.kind.value),
            limit_price_usd=intent.limit_price_usd,
        )
        return self._after_accept(order.report())

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        self._raise_injected_failure()
        report = self.engine.close_position(
            intent.client_order_id, intent.instrument_id, self._clock.now_ms()
        )
        return self._after_accept(report)

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        return self.engine.order(client_order_id, instrument_id)

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        return [order.report() for order in self.engine.open_orders(instrument_id)]

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        return self.engine.cancel_order(
            client_order_id, instrument_id, self._clock.now_ms()
        ).report()

    def position_changes(self, instrument_id: str) -> PositionStream:
        self.engine.instrument(instrument_id)  # NotFound for an unknown instrument
        stream = PositionStream(instrument_id)
        self._streams.add(stream)
        return stream

    # -- beyond the port: money, prices, faults ------------------------------------------------

    async def transfer(
        self,
        client_id: str,
        amount_btc: Decimal,
        from_account: AccountType | str,
        to_account: AccountType | str,
    ) -> TransferResult:
        return self.engine.transfer(
            client_id, amount_btc, from_account, to_account, self._clock.now_ms()
        )

    def set_price(self, price_usd: Decimal, instrument_id: str | None = None) -> None:
        self.engine.set_price(self._clock.now_ms(), price_usd, instrument_id)

    def fail_next_order_with(self, error: Exception) -> None:
        """The next order or close raises `error` without reaching the engine."""
        self._fail_next = error

    def timeout_after_accept_next(self) -> None:
        """The next order or close is executed, then the call raises `VenueUncertain`."""
        self._timeout_after_accept_next = True

    # -- internals -----------------------------------------------------------------------------

    def _raise_injected_failure(self) -> None:
        error, self._fail_next = self._fail_next, None
        if error is not None:
            raise error

    def _after_accept(self, report: OrderReport) -> OrderReport:
        if self._timeout_after_accept_next:
            self._timeout_after_accept_next = False
            raise VenueUncertain("request timed out after the venue accepted it", code="50004")
        return report

    def _on_position_changed(self, event: PositionChanged) -> None:
        streams = [s for s in self._streams if s.instrument_id == event.instrument_id]
        if not streams:
            return
        position = self.engine.position(event.instrument_id)
        for stream in streams:
            stream.push(position)
