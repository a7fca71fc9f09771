"""The backtest's venue: the simulated exchange in-process, where an order reaches the book
`latency_ms` after the hedger decided it, at the price the path has then."""

from __future__ import annotations

from collections.abc import Callable

from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.orders import OrderIntent, OrderReport
from pegkeeper.ports import Clock
from pegkeeper.sim.engine import SimEngine


class LatentSimVenue(SimVenue):
    """`move_to(ms)` advances the simulation (clock, prices, funding) to `ms`; it is called
    before every order with the moment the order arrives."""

    def __init__(
        self, engine: SimEngine, clock: Clock, move_to: Callable[[int], None], latency_ms: int
    ) -> None:
        super().__init__(engine, clock, name="backtest")
        self._move_to = move_to
        self.latency_ms = latency_ms

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        self._arrive()
        return await super().place_market_order(intent)

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        self._arrive()
        return await super().place_limit_order(intent)

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        self._arrive()
        return await super().close_position(intent)

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        self._arrive()
        return await super().cancel_order(instrument_id, client_order_id)

    def _arrive(self) -> None:
        self._move_to(self._clock.now_ms() + self.latency_ms)
