"""Orders on the simulated exchange: their types, their state, and the checks at placement."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.errors import OrderRejected
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.orders import Fill, OrderReport, OrderSide, OrderState

ZERO = Decimal(0)
OPEN_STATES = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    POST_ONLY = "post_only"


@dataclass(frozen=True, slots=True)
class SimOrder:
    """One order as the venue knows it. `reduce_only` marks close-position orders."""

    client_order_id: str
    venue_order_id: str
    instrument_id: str
    side: OrderSide
    order_type: OrderType
    size_contracts: Decimal
    limit_price_usd: Decimal | None
    created_ms: int
    updated_ms: int
    reduce_only: bool = False
    state: OrderState = OrderState.ACCEPTED
    fills: tuple[Fill, ...] = ()
    avg_price_usd: Decimal | None = None
    cancel_reason: str = ""

    @property
    def filled_contracts(self) -> Decimal:
        return sum((fill.size_contracts for fill in self.fills), ZERO)

    @property
    def remaining_contracts(self) -> Decimal:
        return self.size_contracts - self.filled_contracts

    @property
    def fees(self) -> Decimal:
        return sum((fill.fee for fill in self.fills), ZERO)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def with_fills(self, fills: tuple[Fill, ...], avg_price_usd: Decimal, now_ms: int) -> SimOrder:
        done = sum((f.size_contracts for f in fills), ZERO) >= self.size_contracts
        state = OrderState.FILLED if done else OrderState.PARTIALLY_FILLED
        return replace(
            self, fills=fills, avg_price_usd=avg_price_usd, state=state, updated_ms=now_ms
        )

    def canceled(self, reason: str, now_ms: int) -> SimOrder:
        return replace(self, state=OrderState.CANCELED, cancel_reason=reason, updated_ms=now_ms)

    def report(self) -> OrderReport:
        return OrderReport(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            state=self.state,
            filled_contracts=self.filled_contracts,
            avg_price_usd=self.avg_price_usd,
            fills=self.fills,
            message=self.cancel_reason,
        )


def check_size(instrument: Instrument, size_contracts: Decimal) -> Decimal:
    size = Decimal(size_contracts)
    lot = instrument.lot_size_contracts
    if not size.is_finite() or size < instrument.min_size_contracts or size % lot != 0:
        raise OrderRejected(
            f"size {size} must be a positive multiple of {lot} contracts", code="51000"
        )
    return size


def check_limit_price(
    instrument: Instrument, order_type: OrderType, limit_price_usd: Decimal | None
) -> Decimal | None:
    if order_type is OrderType.MARKET:
        if limit_price_usd is not None:
            raise OrderRejected("a market order takes no price", code="51000")
        return None
    if limit_price_usd is None or not limit_price_usd.is_finite() or limit_price_usd <= 0:
        raise OrderRejected(f"a {order_type} order needs a positive px", code="51000")
    tick = instrument.tick_size_usd
    if limit_price_usd % tick != 0:
        raise OrderRejected(f"px {limit_price_usd} must be a multiple of {tick}", code="51000")
    return limit_price_usd
