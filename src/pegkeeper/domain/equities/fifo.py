"""FIFO P&L per symbol (specs/equities.md, "FIFO P&L"; the golden case totals 3.45).

Per symbol a queue of open lots, all in one direction. A trade in that direction (or on a flat
book) adds a lot; an opposite trade consumes the oldest lots first, realising
(price - lot price) x qty against long lots and (lot price - price) x qty against short ones,
and what is left of it opens a lot the other way. Each closed piece goes to one bucket:
`counter_trade` when a broker trade closes an onchain lot at most the window after it,
`onchain_netting` when an onchain trade closes an onchain lot, `directional_exposure`
otherwise. Amounts are exact Decimal products: nothing is rounded here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.equities.ledger import BrokerFillRecord, OnchainFillRecord
from pegkeeper.domain.equities.pnl import (
    PnlBucket,
    PnlEntry,
    Trade,
    TradeKey,
    TradeSource,
    broker_trade_key,
    onchain_trade_key,
)
from pegkeeper.domain.errors import InvalidInput

COUNTER_TRADE_WINDOW_MS = 300_000
P_AND_L_PLACES = Decimal("1e-9")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Lot:
    """An open lot: `quantity` (> 0) shares in direction `sign` (+1 long, -1 short)."""

    trade_id: str
    source: TradeSource
    sign: int
    quantity: Decimal
    price_usd: Decimal
    ts_ms: int

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity * self.sign


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    """One symbol's P&L so far; `unrealised_usd` is None without a mark price."""

    symbol: str
    realised_usd: dict[PnlBucket, Decimal]
    realised_total_usd: Decimal
    fees_total_usd: Decimal
    position: Decimal
    average_price_usd: Decimal | None  # of the open lots, None when flat
    mark_price_usd: Decimal | None
    unrealised_usd: Decimal | None

    @property
    def net_usd(self) -> Decimal:
        """Realised plus unrealised (when marked), less fees."""
        return self.realised_total_usd + (self.unrealised_usd or _ZERO) - self.fees_total_usd


@dataclass(slots=True)
class _SymbolBook:
    lots: deque[Lot] = field(default_factory=deque)
    realised: dict[PnlBucket, Decimal] = field(default_factory=lambda: _buckets())
    fees: Decimal = _ZERO

    @property
    def position(self) -> Decimal:
        return sum((lot.signed_quantity for lot in self.lots), _ZERO)


def _buckets() -> dict[PnlBucket, Decimal]:
    return dict.fromkeys(PnlBucket, _ZERO)


class FifoBook:
    """The open lots and running totals of every symbol, fed one trade at a time in time
    order. `replay` is this book applied to a whole history."""

    def __init__(self, *, counter_trade_window_ms: int = COUNTER_TRADE_WINDOW_MS) -> None:
        if counter_trade_window_ms < 0:
            raise InvalidInput(
                f"counter_trade_window_ms must be 0 or more, not {counter_trade_window_ms}"
            )
        self._window_ms = counter_trade_window_ms
        self._books: dict[str, _SymbolBook] = {}

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._books)

    def apply(self, trade: Trade) -> PnlEntry:
        book = self._books.setdefault(trade.symbol, _SymbolBook())
        realised = self._trade(book, trade)
        for bucket, amount in realised.items():
            book.realised[bucket] += amount
        book.fees += trade.fee_usd
        return PnlEntry(
            trade_id=trade.trade_id,
            symbol=trade.symbol,
            ts_ms=trade.ts_ms,
            realised_usd=realised,
            fee_usd=trade.fee_usd,
            position_after=book.position,
            realised_total_usd=sum(book.realised.values(), _ZERO),
            fees_total_usd=book.fees,
        )

    def _trade(self, book: _SymbolBook, trade: Trade) -> dict[PnlBucket, Decimal]:
        realised = _buckets()
        sign = 1 if trade.signed_quantity > 0 else -1
        left = abs(trade.signed_quantity)
        while left > 0 and book.lots and book.lots[0].sign != sign:
            lot = book.lots[0]
            closed = min(left, lot.quantity)
            # long lot closed by a sale: price - lot price; short lot closed by a buy: reverse
            gain_per_share = (trade.price_usd - lot.price_usd) * lot.sign
            realised[self._bucket(trade, lot)] += usd_amount(gain_per_share * closed)
            left -= closed
            if closed == lot.quantity:
                book.lots.popleft()
            else:
                book.lots[0] = _reduced(lot, lot.quantity - closed)
        if left > 0:
            book.lots.append(
                Lot(trade.trade_id, trade.source, sign, left, trade.price_usd, trade.ts_ms)
            )
        return realised

    def _bucket(self, trade: Trade, lot: Lot) -> PnlBucket:
        if lot.source is TradeSource.ONCHAIN and trade.source is TradeSource.ONCHAIN:
            return PnlBucket.ONCHAIN_NETTING
        if (
            lot.source is TradeSource.ONCHAIN
            and trade.source is TradeSource.BROKER
            and abs(trade.ts_ms - lot.ts_ms) <= self._window_ms
        ):
            return PnlBucket.COUNTER_TRADE
        return PnlBucket.DIRECTIONAL

    def copy(self) -> FifoBook:
        """An independent book in the same state (lots are immutable, so shared)."""
        twin = FifoBook(counter_trade_window_ms=self._window_ms)
        twin._books = {
            symbol: _SymbolBook(deque(book.lots), dict(book.realised), book.fees)
            for symbol, book in self._books.items()
        }
        return twin

    def lots(self, symbol: str) -> tuple[Lot, ...]:
        book = self._books.get(symbol)
        return tuple(book.lots) if book is not None else ()

    def position(self, symbol: str) -> Decimal:
        book = self._books.get(symbol)
        return book.position if book is not None else _ZERO

    def summary(self, symbol: str, mark_price_usd: Decimal | None = None) -> SymbolPnl:
        """The symbol's totals, with the open lots marked at `mark_price_usd` when given."""
        book = self._books.get(symbol, _SymbolBook())
        position = book.position
        lots = tuple(book.lots)
        return SymbolPnl(
            symbol=symbol,
            realised_usd=dict(book.realised),
            realised_total_usd=sum(book.realised.values(), _ZERO),
            fees_total_usd=book.fees,
            position=position,
            average_price_usd=_average_price(lots),
            mark_price_usd=mark_price_usd,
            unrealised_usd=None if mark_price_usd is None else _marked(lots, mark_price_usd),
        )


def _reduced(lot: Lot, quantity: Decimal) -> Lot:
    return Lot(lot.trade_id, lot.source, lot.sign, quantity, lot.price_usd, lot.ts_ms)


def _average_price(lots: Sequence[Lot]) -> Decimal | None:
    quantity = sum((lot.quantity for lot in lots), _ZERO)
    if quantity == 0:
        return None
    return sum((lot.quantity * lot.price_usd for lot in lots), _ZERO) / quantity


def _marked(lots: Iterable[Lot], mark_price_usd: Decimal) -> Decimal:
    marked = ((mark_price_usd - lot.price_usd) * lot.signed_quantity for lot in lots)
    return sum((usd_amount(amount) for amount in marked), _ZERO)


def usd_amount(amount: Decimal) -> Decimal:
    """A P&L amount of one lot, to 1e-9 USD half-even: an onchain price (USDC / shares) does
    not terminate, and the stored running totals must replay to the same digits."""
    return amount.quantize(P_AND_L_PLACES, rounding=ROUND_HALF_EVEN)


def replay(
    trades: Sequence[Trade], *, counter_trade_window_ms: int = COUNTER_TRADE_WINDOW_MS
) -> list[PnlEntry]:
    """One entry per trade, in the order given (time order), with running totals per symbol."""
    book = FifoBook(counter_trade_window_ms=counter_trade_window_ms)
    return [book.apply(trade) for trade in trades]


def unrealised_usd(trades: Sequence[Trade], mark_price_usd: Decimal) -> Decimal:
    """The open lots of one symbol after `trades`, marked at `mark_price_usd`."""
    symbols = {trade.symbol for trade in trades}
    if len(symbols) > 1:
        raise InvalidInput(
            f"unrealised_usd marks one symbol's trades, got {', '.join(sorted(symbols))}"
        )
    book = FifoBook()
    for trade in trades:
        book.apply(trade)
    return _marked(book.lots(symbols.pop()), mark_price_usd) if symbols else _ZERO


def onchain_trade(fill: OnchainFillRecord) -> Trade:
    """A live onchain fill as a trade: its USDC price per underlying share, at block time."""
    return Trade(
        trade_id=fill.fill_id,
        symbol=fill.symbol,
        source=TradeSource.ONCHAIN,
        signed_quantity=fill.signed_shares,
        price_usd=fill.price_usd,
        ts_ms=fill.block_timestamp_s * 1000,
    )


def broker_trade(fill: BrokerFillRecord) -> Trade:
    return Trade(
        trade_id=fill.piece_id,
        symbol=fill.symbol,
        source=TradeSource.BROKER,
        signed_quantity=fill.signed_quantity,
        price_usd=fill.price_usd,
        ts_ms=fill.ts_ms,
        fee_usd=fill.fee_usd,
    )


def keyed_trades(
    onchain: Iterable[OnchainFillRecord], broker: Iterable[BrokerFillRecord]
) -> list[tuple[TradeKey, Trade]]:
    """Live onchain fills and broker fills as trades, each with its time-order key."""
    keyed = [
        (
            onchain_trade_key(f.block_timestamp_s * 1000, f.block_number, f.log_index),
            onchain_trade(f),
        )
        for f in onchain
        if not f.reverted
    ]
    return keyed + [(broker_trade_key(f.ts_ms, f.piece_id), broker_trade(f)) for f in broker]


def trades_in_time_order(
    onchain: Iterable[OnchainFillRecord], broker: Iterable[BrokerFillRecord]
) -> list[Trade]:
    """Live onchain fills and broker fills in time order (`pnl.TradeKey`)."""
    return [trade for _, trade in sorted(keyed_trades(onchain, broker), key=lambda p: p[0])]
