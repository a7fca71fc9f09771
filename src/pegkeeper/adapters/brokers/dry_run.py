"""The dry-run broker: the Broker port without a brokerage. Orders are kept in memory by client
order id and filled at a real price, never a constant: the last onchain fill's price (asked of
the callable the bootstrap passes), else a configured quote, moved against the maker by the
configured slippage. A market order is working until the configured latency has passed, and
fills in one piece or, when configured, in several spread over time (the partial-fill path).

A limit order (the extended sessions') fills only at its limit or better, else keeps working.

Fault switches reproduce production failures in tests: `fail_next_with` raises instead of
placing (nothing happens at the broker), `timeout_after_accept_next` places the order and then
raises VenueUncertain (a timeout after the broker took it), `overfill_next_by` fills the next
order beyond its quantity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerFill,
    BrokerKind,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerOrderType,
    BrokerPosition,
)
from pegkeeper.domain.equities.sessions import TradingDay, always_open
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUncertain
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import BPS_PER_ONE
from pegkeeper.ports import Clock

PriceSource = Callable[[str], Awaitable[Decimal | None]]

QUANTITY_STEP = Decimal("0.000000001")  # 9 dp, as Alpaca takes them
PRICE_TICK = Decimal("0.0001")  # fill prices: buys rounded up, sells down (against the maker)


@dataclass(frozen=True, slots=True)
class DryRunSettings:
    kind: BrokerKind = BrokerKind.FRACTIONAL
    slippage_bps: Decimal = Decimal(0)  # against the maker: buys higher, sells lower
    latency_ms: int = 0  # working until then
    quotes: Mapping[str, Decimal] = field(default_factory=dict)  # USD per share, by symbol
    fill_pieces: int = 1  # > 1: partial fills, one piece every `piece_interval_ms`
    piece_interval_ms: int = 1_000
    cash_usd: Decimal = Decimal(1_000_000)  # the account's cash before any fill
    holdings: Mapping[str, Decimal] = field(default_factory=dict)  # shares before any fill
    default_holding_shares: Decimal = Decimal(1_000)  # of a symbol `holdings` does not name


@dataclass(slots=True)
class _Order:
    intent: BrokerOrderIntent
    broker_order_id: str
    placed_price_usd: Decimal  # the market price at placement: the fallback of each fill
    due_ms: list[int]  # monotonic time of each piece not filled yet
    quantities: list[Decimal]  # each piece's shares, in step with `due_ms`
    fills: list[BrokerFill] = field(default_factory=list)
    state: BrokerOrderState = BrokerOrderState.WORKING
    message: str = ""


class DryRunBroker:
    name = "dry-run"

    def __init__(
        self,
        clock: Clock,
        settings: DryRunSettings | None = None,
        *,
        last_price: PriceSource | None = None,
    ) -> None:
        self.settings = settings or DryRunSettings()
        if self.settings.fill_pieces < 1:
            raise ValueError(f"fill_pieces must be at least 1, got {self.settings.fill_pieces}")
        if self.settings.slippage_bps < 0 or self.settings.latency_ms < 0:
            raise ValueError("slippage_bps and latency_ms must not be negative")
        self.kind = self.settings.kind
        self._clock = clock
        self._last_price = last_price
        self._orders: dict[str, _Order] = {}
        self._market: dict[str, Decimal] = {}  # the market price of the last fill, by symbol
        self.sent: list[BrokerOrderIntent] = []  # every order placed, in order
        self._fail_next: Exception | None = None
        self._timeout_after_accept_next = False
        self._overfill_next = Decimal(0)

    # -- fault switches ------------------------------------------------------------------------

    def fail_next_with(self, error: Exception) -> None:
        self._fail_next = error

    def timeout_after_accept_next(self) -> None:
        self._timeout_after_accept_next = True

    def overfill_next_by(self, shares: Decimal) -> None:
        self._overfill_next = shares

    # -- the Broker port -----------------------------------------------------------------------

    async def place_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        if self._fail_next is not None:
            error, self._fail_next = self._fail_next, None
            raise error
        known = self._orders.get(intent.client_order_id)
        if known is not None:  # the same client id again: the order already placed
            if (known.intent.symbol, known.intent.side, known.intent.quantity) != (
                intent.symbol,
                intent.side,
                intent.quantity,
            ):
                raise OrderRejected("client_order_id must be unique", code="422")
            return await self._report(known)
        self._check(intent)
        price_usd = await self._price(intent.symbol)
        if price_usd is None:
            raise OrderRejected(
                f"no price for {intent.symbol}: no onchain fill yet and no quote configured "
                f"([equities.dry_run.quotes] {intent.symbol})"
            )
        order = self._new_order(intent, price_usd)
        self._orders[intent.client_order_id] = order
        self.sent.append(intent)
        report = await self._report(order)
        if self._timeout_after_accept_next:
            self._timeout_after_accept_next = False
            raise VenueUncertain("read timeout after the broker took the order")
        return report

    async def order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        order = self._orders.get(intent.client_order_id)
        if order is None:
            raise NotFound(f"no order with client id {intent.client_order_id}", code="404")
        return await self._report(order)

    async def cancel_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        order = self._orders.get(intent.client_order_id)
        if order is None:
            raise NotFound(f"no order with client id {intent.client_order_id}", code="404")
        await self._advance(order)
        if order.state.is_terminal:
            raise OrderRejected(f"order is {order.state.value}: not cancelable", code="422")
        order.state = BrokerOrderState.CANCELED
        order.message = "canceled"
        order.due_ms.clear()
        order.quantities.clear()
        return self._as_report(order)

    # -- inside --------------------------------------------------------------------------------

    def _check(self, intent: BrokerOrderIntent) -> None:
        quantity = intent.quantity
        if quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {quantity}")
        if quantity != quantity.quantize(QUANTITY_STEP, rounding=ROUND_DOWN):
            raise OrderRejected(f"quantity has more than 9 decimals: {quantity}")
        if self.kind is BrokerKind.WHOLE_SHARES and quantity != quantity.to_integral_value():
            raise OrderRejected(f"whole shares only, got {quantity}")
        limit = intent.limit_price_usd
        if intent.order_type is BrokerOrderType.LIMIT and (limit is None or limit <= 0):
            raise OrderRejected(f"a limit order needs a positive limit price, got {limit}")

    def _new_order(self, intent: BrokerOrderIntent, price_usd: Decimal) -> _Order:
        quantity = intent.quantity + self._overfill_next
        self._overfill_next = Decimal(0)
        pieces = _pieces(quantity, self.settings.fill_pieces, self.kind)
        first_ms = self._clock.monotonic_ms() + self.settings.latency_ms
        due = [first_ms + i * self.settings.piece_interval_ms for i in range(len(pieces))]
        broker_order_id = f"dry-{len(self._orders) + 1}"
        return _Order(intent, broker_order_id, price_usd, due, pieces)

    async def _report(self, order: _Order) -> BrokerOrderReport:
        await self._advance(order)
        return self._as_report(order)

    async def _advance(self, order: _Order) -> None:
        """Fills the pieces whose time has come, each at the price of that moment."""
        now_ms = self._clock.monotonic_ms()
        while order.due_ms and order.due_ms[0] <= now_ms and not order.state.is_terminal:
            market = await self._price(order.intent.symbol) or order.placed_price_usd
            self._market[order.intent.symbol] = market
            price_usd = _within_limit(self._slipped(market, order.intent.side), order.intent)
            if price_usd is None:
                return  # a limit the market has not reached: it keeps working
            order.due_ms.pop(0)
            quantity = order.quantities.pop(0)
            number = len(order.fills) + 1
            order.fills.append(
                BrokerFill(
                    fill_id=f"{order.broker_order_id}-{number}",
                    quantity=quantity,
                    price_usd=price_usd,
                    ts_ms=self._clock.now_ms(),
                )
            )
            if not order.due_ms:
                order.state = BrokerOrderState.FILLED

    async def _price(self, symbol: str) -> Decimal | None:
        """The last onchain fill's price, else the configured quote, else the market price
        of this broker's last fill of the symbol (a reorg may take every onchain fill away)."""
        if self._last_price is not None:
            price = await self._last_price(symbol)
            if price is not None and price > 0:
                return price
        return self.settings.quotes.get(symbol) or self._market.get(symbol)

    def _slipped(self, market_usd: Decimal, side: OrderSide) -> Decimal:
        move = market_usd * self.settings.slippage_bps / BPS_PER_ONE
        if side is OrderSide.BUY:
            return (market_usd + move).quantize(PRICE_TICK, rounding=ROUND_CEILING)
        return (market_usd - move).quantize(PRICE_TICK, rounding=ROUND_FLOOR)

    # -- the account: the starting cash and holdings moved by every fill ------------------------

    async def account(self) -> BrokerAccount:
        spent = sum(
            (
                f.quantity * f.price_usd * (1 if o.intent.side is OrderSide.BUY else -1) + f.fee_usd
                for o in self._orders.values()
                for f in o.fills
            ),
            Decimal(0),
        )
        cash = self.settings.cash_usd - spent
        return BrokerAccount(
            broker=self.name,
            account_id="dry-run",
            cash_usd=cash,
            buying_power_usd=cash,
            can_trade=True,
            fractional=self.kind is BrokerKind.FRACTIONAL,
            extended_hours=True,
            status="simulated",
        )

    async def positions(self) -> dict[str, BrokerPosition]:
        held: dict[str, Decimal] = {}
        reserved: dict[str, Decimal] = {}
        for order in self._orders.values():
            intent = order.intent
            filled = sum((f.quantity for f in order.fills), Decimal(0))
            signed = filled if intent.side is OrderSide.BUY else -filled
            held[intent.symbol] = held.get(intent.symbol, Decimal(0)) + signed
            if intent.side is OrderSide.SELL and not order.state.is_terminal:
                reserved[intent.symbol] = reserved.get(intent.symbol, Decimal(0)) + (
                    intent.quantity - filled
                )
        symbols = set(held) | set(self.settings.holdings)
        positions = {}
        for symbol in sorted(symbols):
            quantity = self._holding(symbol) + held.get(symbol, Decimal(0))
            available = max(quantity - reserved.get(symbol, Decimal(0)), Decimal(0))
            positions[symbol] = BrokerPosition(symbol, quantity, available)
        return positions

    def _holding(self, symbol: str) -> Decimal:
        return self.settings.holdings.get(symbol, self.settings.default_holding_shares)

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        return always_open(start, end)

    async def aclose(self) -> None:
        return None

    def _as_report(self, order: _Order) -> BrokerOrderReport:
        return BrokerOrderReport(
            client_order_id=order.intent.client_order_id,
            state=order.state,
            broker_order_id=order.broker_order_id,
            fills=tuple(order.fills),
            message=order.message,
        )


def _within_limit(price_usd: Decimal, intent: BrokerOrderIntent) -> Decimal | None:
    """A market order's fill price as is; a limit order's at the limit or better, or None when
    the price is past the limit (a buy above it, a sell below)."""
    limit = intent.limit_price_usd
    if intent.order_type is not BrokerOrderType.LIMIT or limit is None:
        return price_usd
    if intent.side is OrderSide.BUY:
        return price_usd if price_usd <= limit else None
    return price_usd if price_usd >= limit else None


def _pieces(quantity: Decimal, wanted: int, kind: BrokerKind) -> list[Decimal]:
    """`quantity` split into at most `wanted` pieces of whole steps (shares, or 9-dp units),
    the remainder in the last one."""
    step = Decimal(1) if kind is BrokerKind.WHOLE_SHARES else QUANTITY_STEP
    units = int((quantity / step).to_integral_value(rounding=ROUND_DOWN))
    count = max(min(wanted, units), 1)
    piece = (Decimal(units // count) * step) if units >= count else quantity
    if count == 1:
        return [quantity]
    return [piece] * (count - 1) + [quantity - piece * (count - 1)]
