"""The order desk of the simulated exchange: places, fills, rests and cancels orders.

Market orders walk the synthetic book. A limit order takes what the book offers at its price
or better at once (as a taker) and rests with the rest; a resting order fills in full at its
own price (as a maker) when a later price makes the book cross it. A post-only order that
would take liquidity is canceled instead. A market order may be filled only in part (the
fault injection of the wire server asks for that); its remainder is then filled or canceled
later with `fill_remaining` or `cancel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.errors import NotFound, OrderRejected, PositionAlreadyClosed
from pegkeeper.domain.orders import CLIENT_ID_PATTERN, Fill, OrderSide
from pegkeeper.domain.units import ceil_1e8, round_1e8
from pegkeeper.sim.accounts import Accounts
from pegkeeper.sim.book import BookLevel, InsufficientDepth, SyntheticBook
from pegkeeper.sim.events import ChangeReason, OrderChanged
from pegkeeper.sim.market import Market
from pegkeeper.sim.orders import OrderType, SimOrder, check_limit_price, check_size

ZERO = Decimal(0)

OrderListener = Callable[[OrderChanged], None]


@dataclass(frozen=True, slots=True)
class FeeRates:
    taker: Decimal = Decimal("0.0005")
    maker: Decimal = Decimal("0.0002")


@dataclass(frozen=True, slots=True)
class DeskHooks:
    """What the desk needs of the engine around it."""

    market_for_order: Callable[[str], Market]  # raises OrderRejected when not tradable
    book_of: Callable[[Market], SyntheticBook]
    check_margin: Callable[[Market, Decimal], None]  # signed contracts to add
    position_changed: Callable[[Market, ChangeReason, int], None]
    next_id: Callable[[], str]


class OrderDesk:
    def __init__(self, accounts: Accounts, fees: FeeRates, hooks: DeskHooks) -> None:
        self._accounts = accounts
        self._fees = fees
        self._hooks = hooks
        self._orders: dict[str, SimOrder] = {}
        self._open: dict[str, SimOrder] = {}  # the open ones, in the order they were placed
        self._listeners: list[OrderListener] = []

    def add_listener(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    # -- placing -------------------------------------------------------------------------------

    def place(
        self,
        client_order_id: str,
        instrument_id: str,
        side: OrderSide,
        size_contracts: Decimal,
        now_ms: int,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price_usd: Decimal | None = None,
        max_fill_contracts: Decimal | None = None,
    ) -> SimOrder:
        market = self._market_for_new_order(client_order_id, instrument_id)
        side = OrderSide(side)
        size = check_size(market.instrument, size_contracts)
        price = check_limit_price(market.instrument, OrderType(order_type), limit_price_usd)
        self._hooks.check_margin(market, size if side is OrderSide.BUY else -size)
        order = SimOrder(
            client_order_id=client_order_id,
            venue_order_id=self._hooks.next_id(),
            instrument_id=market.instrument_id,
            side=side,
            order_type=OrderType(order_type),
            size_contracts=size,
            limit_price_usd=price,
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        if order.order_type is OrderType.MARKET:
            return self._take_market(market, order, now_ms, max_fill_contracts)
        return self._place_limit(market, order, now_ms)

    def close(
        self,
        client_order_id: str,
        instrument_id: str,
        now_ms: int,
        max_fill_contracts: Decimal | None = None,
    ) -> SimOrder:
        market = self._market_for_new_order(client_order_id, instrument_id)
        if market.size_contracts == 0:
            raise PositionAlreadyClosed(
                f"position does not exist for {instrument_id}", code="51023"
            )
        side = OrderSide.SELL if market.size_contracts > 0 else OrderSide.BUY
        order = SimOrder(
            client_order_id=client_order_id,
            venue_order_id=self._hooks.next_id(),
            instrument_id=market.instrument_id,
            side=side,
            order_type=OrderType.MARKET,
            size_contracts=abs(market.size_contracts),
            limit_price_usd=None,
            created_ms=now_ms,
            updated_ms=now_ms,
            reduce_only=True,
        )
        return self._take_market(market, order, now_ms, max_fill_contracts)

    # -- later ---------------------------------------------------------------------------------

    def cancel(self, client_order_id: str, instrument_id: str | None, now_ms: int) -> SimOrder:
        order = self.get(client_order_id, instrument_id, missing_code="51400")
        if order.is_open:
            return self._save(order.canceled("canceled by the user", now_ms))
        if order.filled_contracts >= order.size_contracts:
            raise OrderRejected(f"order {client_order_id} is already filled", code="51402")
        raise OrderRejected(f"order {client_order_id} is already canceled", code="51401")

    def fill_remaining(self, client_order_id: str, market: Market, now_ms: int) -> SimOrder:
        """A market order left partly filled takes its remainder from the book now; what the
        book cannot give is canceled."""
        order = self.get(client_order_id, market.instrument_id)
        if not order.is_open or order.order_type is not OrderType.MARKET:
            return order
        remaining = order.remaining_contracts
        if order.reduce_only:
            remaining = min(remaining, abs(market.size_contracts))
        if remaining <= 0:
            return self._save(order.canceled("nothing left to reduce", now_ms))
        try:
            levels = self._hooks.book_of(market).walk(order.side, remaining)
        except InsufficientDepth:
            return self._save(order.canceled("the book ran out", now_ms))
        return self._execute(market, order, levels, now_ms, self._fees.taker)

    def match_resting(self, market: Market, now_ms: int) -> None:
        """Fills the resting limit orders of `market` that the current book crosses."""
        if not self._open:
            return  # the common case on every price update: nothing rests
        book = self._hooks.book_of(market)
        for order in self.open_orders(market.instrument_id):
            price = order.limit_price_usd
            if price is None or not _crosses(book, order.side, price):
                continue
            level = BookLevel(price, order.remaining_contracts)
            self._execute(market, order, [level], now_ms, self._fees.maker)

    def cancel_all(self, instrument_id: str, reason: str, now_ms: int) -> None:
        for order in self.open_orders(instrument_id):
            self._save(order.canceled(reason, now_ms))

    # -- reading -------------------------------------------------------------------------------

    def get(
        self, client_order_id: str, instrument_id: str | None = None, missing_code: str = "51603"
    ) -> SimOrder:
        order = self._orders.get(client_order_id)
        if order is None or instrument_id not in (None, order.instrument_id):
            raise NotFound(f"order {client_order_id!r} does not exist", code=missing_code)
        return order

    def orders(self, instrument_id: str | None = None) -> list[SimOrder]:
        return [o for o in self._orders.values() if instrument_id in (None, o.instrument_id)]

    @property
    def has_open_orders(self) -> bool:
        return bool(self._open)

    def open_orders(self, instrument_id: str | None = None) -> list[SimOrder]:
        return [o for o in self._open.values() if instrument_id in (None, o.instrument_id)]

    # -- internals -----------------------------------------------------------------------------

    def _market_for_new_order(self, client_order_id: str, instrument_id: str) -> Market:
        if not CLIENT_ID_PATTERN.match(client_order_id):
            raise OrderRejected(
                f"clOrdId {client_order_id!r} must be 1 to 32 letters or digits", code="51000"
            )
        if client_order_id in self._orders:
            raise OrderRejected(f"duplicated clOrdId {client_order_id!r}", code="51016")
        market = self._hooks.market_for_order(instrument_id)
        market.mark()  # VenueUnavailable before the first price
        return market

    def _take_market(
        self, market: Market, order: SimOrder, now_ms: int, max_fill_contracts: Decimal | None
    ) -> SimOrder:
        try:
            levels = self._hooks.book_of(market).walk(order.side, order.size_contracts)
        except InsufficientDepth as exc:
            raise OrderRejected(str(exc), code="51202") from exc
        if max_fill_contracts is not None:
            levels = _first(levels, max_fill_contracts)
        if not levels:
            return self._save(order)
        return self._execute(market, order, levels, now_ms, self._fees.taker)

    def _place_limit(self, market: Market, order: SimOrder, now_ms: int) -> SimOrder:
        price = order.limit_price_usd
        assert price is not None
        book = self._hooks.book_of(market)
        if order.order_type is OrderType.POST_ONLY:
            if _crosses(book, order.side, price):
                return self._save(order.canceled("post-only order would take liquidity", now_ms))
            return self._save(order)
        levels = book.walk_to(order.side, order.size_contracts, price)
        if not levels:
            return self._save(order)
        return self._execute(market, order, levels, now_ms, self._fees.taker)

    def _execute(
        self,
        market: Market,
        order: SimOrder,
        levels: list[BookLevel],
        now_ms: int,
        fee_rate: Decimal,
    ) -> SimOrder:
        currency = market.settle_currency
        fills = tuple(
            Fill(
                fill_id=self._hooks.next_id(),
                client_order_id=order.client_order_id,
                size_contracts=level.size_contracts,
                price_usd=level.price_usd,
                fee=ceil_1e8(market.value(level.size_contracts, level.price_usd) * fee_rate),
                fee_currency=currency,
                ts_ms=now_ms,
            )
            for level in levels
        )
        size = sum((level.size_contracts for level in levels), ZERO)
        self._accounts.pay_fees(sum((fill.fee for fill in fills), ZERO), currency)
        signed = size if order.side is OrderSide.BUY else -size
        realised = market.apply_fill(signed, market.average_price_usd(levels))
        self._accounts.realise(round_1e8(realised), currency)
        all_fills = order.fills + fills
        average = market.average_price_usd(_levels_of(all_fills))
        updated = self._save(order.with_fills(all_fills, average, now_ms))
        self._hooks.position_changed(market, ChangeReason.FILL, now_ms)
        return updated

    def _save(self, order: SimOrder) -> SimOrder:
        self._orders[order.client_order_id] = order
        if order.is_open:
            self._open[order.client_order_id] = order
        else:
            self._open.pop(order.client_order_id, None)
        event = OrderChanged(
            order.client_order_id, order.instrument_id, order.state, order.updated_ms
        )
        for listener in self._listeners:
            listener(event)
        return order


def _crosses(book: SyntheticBook, side: OrderSide, limit_price_usd: Decimal) -> bool:
    best = book.best_price_usd(side)
    if best is None:
        return False
    return best <= limit_price_usd if side is OrderSide.BUY else best >= limit_price_usd


def _first(levels: list[BookLevel], size_contracts: Decimal) -> list[BookLevel]:
    taken: list[BookLevel] = []
    remaining = size_contracts
    for level in levels:
        if remaining <= 0:
            break
        size = min(remaining, level.size_contracts)
        taken.append(BookLevel(level.price_usd, size))
        remaining -= size
    return taken


def _levels_of(fills: Iterable[Fill]) -> list[BookLevel]:
    return [BookLevel(fill.price_usd, fill.size_contracts) for fill in fills]
