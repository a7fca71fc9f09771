"""Each fill of a run's orders, booked once.

A fill's fee, its slippage against the mark of its instrument at its moment (a taker's; a
maker's fill is booked at its own price, as the market traded through it, so it has none) and
a future's basis (backtest/basis_book.py) go to the costs; the fill itself goes to the tracking
error as the same contracts at spot. The fills of the opening trade, before the first tick,
are counted apart.
"""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.backtest.basis_book import BasisBook
from pegkeeper.backtest.metrics import Recorder
from pegkeeper.backtest.results import FillMark
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import Fill, OrderSide
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import OrderChanged
from pegkeeper.sim.orders import OPEN_STATES, OrderType


class FillBook:
    def __init__(
        self, engine: SimEngine, recorder: Recorder, basis: BasisBook, inverse: bool
    ) -> None:
        self._engine = engine
        self._recorder = recorder
        self._basis = basis
        self._inverse = inverse
        self._seen: dict[str, int] = {}
        self.resting: set[str] = set()  # orders open at the venue
        self.marks: list[FillMark] = []
        self.opening = True  # the opening trade's fills: their costs apart
        self.opening_cost_usd = 0.0

    def on_order(self, event: OrderChanged, spot: Decimal, spot_usd: float, tick: int) -> None:
        if event.state in OPEN_STATES:
            self.resting.add(event.client_order_id)
        else:
            self.resting.discard(event.client_order_id)
        order = self._engine.order_details(event.client_order_id)
        seen = self._seen.get(order.client_order_id, 0)
        if len(order.fills) == seen:
            return
        self._seen[order.client_order_id] = len(order.fills)
        instrument = self._engine.instrument(order.instrument_id)
        own_mark = float(self._engine.mark_price_usd(order.instrument_id) or spot)
        maker = order.order_type is OrderType.POST_ONLY  # fills only as the price trades through
        sign = 1.0 if order.side is OrderSide.BUY else -1.0
        for fill in order.fills[seen:]:
            fee_usd = float(fill.fee) * (spot_usd if self._inverse else 1.0)
            booked = float(fill.price_usd) if maker else own_mark  # in the instrument's price
            slippage_usd = self._slippage_usd(instrument, order.side, fill, own_mark)
            basis = 0.0
            if instrument.expiry_ms is not None:  # a future: its basis is apart
                basis = own_mark / spot_usd - 1
                signed = sign * float(fill.size_contracts)
                earned = self._basis.trade(instrument.instrument_id, signed, basis)
                if not self.opening:
                    self._recorder.cost(fill.ts_ms, "basis", -earned)
            if self.opening:
                self.opening_cost_usd += fee_usd + slippage_usd
                continue
            self._recorder.cost(fill.ts_ms, "fees", fee_usd)
            if not maker:
                self._recorder.cost(fill.ts_ms, "slippage", slippage_usd)
            spot_booked = booked / (1 + basis)  # the same contracts at spot
            self._recorder.fill(tick, sign * float(fill.size_contracts), spot_booked)
            self.marks.append((order.client_order_id, order.side, fill.size_contracts, booked))

    def _slippage_usd(
        self, instrument: Instrument, side: OrderSide, fill: Fill, mark: float
    ) -> float:
        """What the fill cost against `mark` (positive: worse than the mark)."""
        sign = 1.0 if side is OrderSide.SELL else -1.0
        face, price = float(instrument.contract_value), float(fill.price_usd)
        size = float(fill.size_contracts)
        if self._inverse:
            return sign * size * face * (1 / price - 1 / mark) * mark
        return sign * size * face * (mark - price)
