"""What every handler of the OKX simulator shares: the engine, its clock, the credentials it
accepts, the faults switched on, and what it has been asked to do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.ports import Clock
from pegkeeper.sim.book import SyntheticBook
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.okx_server.auth import Credentials
from pegkeeper.sim.okx_server.envelope import OkxError
from pegkeeper.sim.okx_server.faults import Faults


@dataclass(frozen=True, slots=True)
class MarketView:
    """An instrument's market data as served: frozen while `stale_tickers` is on."""

    price_usd: Decimal
    ts_ms: int
    book: SyntheticBook


@dataclass
class SimContext:
    engine: SimEngine
    clock: Clock  # the exchange's time: data timestamps, order times, funding
    credentials: Credentials
    faults: Faults = field(default_factory=Faults)
    uid: str = "44500000000001"
    order_requests: Counter[str] = field(default_factory=Counter)  # placements per clOrdId
    transfer_requests: Counter[str] = field(default_factory=Counter)  # per clientId
    # runs a callback after some real seconds (the server's event loop); None: at once
    schedule: Callable[[float, Callable[[], None]], None] | None = None
    _frozen: dict[str, MarketView] = field(default_factory=dict)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def later(self, delay_seconds: float, callback: Callable[[], None]) -> None:
        if self.schedule is None:
            callback()
        else:
            self.schedule(delay_seconds, callback)

    def instrument_or_error(self, inst_id: str) -> str:
        if inst_id not in self.engine.live_instrument_ids:
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist")
        return inst_id

    def market(self, inst_id: str) -> MarketView:
        engine = self.engine
        price = engine.mark_price_usd(inst_id)
        ts_ms = engine.price_ms(inst_id)
        if price is None or ts_ms is None:
            raise OkxError("50001", f"Service temporarily unavailable: no price for {inst_id}")
        if not self.faults.on("stale_tickers"):
            self._frozen.clear()
            return MarketView(price, ts_ms, engine.book(inst_id))
        frozen = self._frozen.get(inst_id)
        if frozen is None:
            frozen = MarketView(price, ts_ms, SyntheticBook(price, engine.book_shape))
            self._frozen[inst_id] = frozen
        return frozen
