"""What every handler of the OKX simulator shares: the engine, its clock, the credentials it
accepts, the faults switched on, and what it has been asked to do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.sim.book import SyntheticBook
from pegkeeper.sim.clock import SimClock
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import OrderChanged, PositionChanged
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
    clock: SimClock  # the exchange's time: data timestamps, order times, funding
    credentials: Credentials
    faults: Faults = field(default_factory=Faults)
    uid: str = "44500000000001"
    order_requests: Counter[str] = field(default_factory=Counter)  # placements per clOrdId
    transfer_requests: Counter[str] = field(default_factory=Counter)  # per clientId
    withdrawal_requests: Counter[str] = field(default_factory=Counter)  # per clientId
    exp_times: dict[str, int] = field(default_factory=dict)  # expTime headers per clOrdId
    # every /api/v5 request received, refused ones too, as "GET account/positions"
    rest_requests: Counter[str] = field(default_factory=Counter)
    # runs a callback after some real seconds (the server's event loop); None: at once
    schedule: Callable[[float, Callable[[], None]], None] | None = None
    # brings the operator's simulated chain up to a time, paying the exchange what its blocks
    # confirmed (sim/chain_link.py), when the simulator serves that wallet; None: no chain
    onchain: Callable[[int], None] | None = None
    _frozen: dict[str, MarketView] = field(default_factory=dict)
    # per instrument, as OKX's position rows carry them: the last trade id, and when the
    # position last changed (uTime)
    last_trade_ids: dict[str, str] = field(default_factory=dict)
    position_times_ms: dict[str, int] = field(default_factory=dict)
    # what /asset/deposit-address answers besides the address, per currency: its chain and
    # the account OKX credits (`to`: 6 funding, 18 trading), changed by /sim/v1/deposit-address
    deposit_terms: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "BTC": {"chain": "BTC-Bitcoin", "to": "6"},
            "USDT": {"chain": "USDT-TRC20", "to": "6"},
        }
    )

    def __post_init__(self) -> None:
        self.faults.on_switch = self._switched
        # the desk reports an order's fills before the position change they make, so a
        # position pushed on that change already carries the fill's trade id
        self.engine.add_order_listener(self._order_changed)
        self.engine.add_listener(self._position_changed)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self) -> None:
        """Time passes: the chain mines what is due, deposits and withdrawals move on."""
        now_ms = self.now_ms()
        if self.onchain is not None:
            self.onchain(now_ms)
        self.engine.advance(now_ms)

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
        frozen = self._frozen.get(inst_id)
        if frozen is not None:
            return frozen
        engine = self.engine
        price = engine.mark_price_usd(inst_id)
        ts_ms = engine.price_ms(inst_id)
        if price is None or ts_ms is None:
            raise OkxError("50001", f"Service temporarily unavailable: no price for {inst_id}")
        view = MarketView(price, ts_ms, SyntheticBook(price, engine.book_shape))
        if self.faults.on("stale_tickers"):
            self._frozen[inst_id] = view  # an instrument first priced while stale
        return view

    def _order_changed(self, event: OrderChanged) -> None:
        fills = self.engine.order_details(event.client_order_id, event.instrument_id).fills
        if not fills:
            return
        last = fills[-1].fill_id
        known = self.last_trade_ids.get(event.instrument_id)
        if known is None or int(last) > int(known):
            self.last_trade_ids[event.instrument_id] = last

    def _position_changed(self, event: PositionChanged) -> None:
        self.position_times_ms[event.instrument_id] = event.ts_ms

    def _switched(self, name: str, on: bool) -> None:
        """Market data freezes the moment `stale_tickers` is switched on."""
        if name != "stale_tickers":
            return
        self._frozen.clear()
        if on:
            for inst_id in self.engine.live_instrument_ids:
                if self.engine.mark_price_usd(inst_id) is not None:
                    self._frozen[inst_id] = self.market(inst_id)
