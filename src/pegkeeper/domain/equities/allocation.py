"""Allocating fills to each other, oldest first, and the ledger's invariants (see ledger.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    LedgerSnapshot,
    OnchainFillRecord,
    OpenPiece,
)
from pegkeeper.domain.orders import OrderSide

_ZERO = Decimal(0)
_T = TypeVar("_T")


def allocate(
    sign: int, quantity: Decimal, opposite: Sequence[OpenPiece]
) -> list[tuple[str, Decimal]]:
    """How much of `quantity` (> 0, direction `sign`) each open piece of the opposite sign
    covers, oldest `position` first, until the quantity or the pieces run out. Pieces of the
    same sign, or with nothing remaining, are passed over."""
    covered: list[tuple[str, Decimal]] = []
    left = quantity
    for piece in sorted(opposite, key=lambda p: p.position):
        if left <= 0:
            break
        if piece.sign == sign or piece.remaining <= 0:
            continue
        take = min(left, piece.remaining)
        covered.append((piece.piece_id, take))
        left -= take
    return covered


def oldest_unhedged(exposure: Decimal, onchain: Iterable[OpenPiece]) -> OpenPiece | None:
    """The oldest open onchain piece in the direction of `exposure`: the one a hedge would
    cover first, so its age is how long exposure has waited. None when nothing is exposed,
    even if onchain fills of both signs stay open (they net each other; no hedge follows)."""
    if exposure == 0:
        return None
    sign = 1 if exposure > 0 else -1
    open_pieces = [p for p in onchain if p.sign == sign and p.remaining > 0]
    return min(open_pieces, key=lambda p: p.position, default=None)


@dataclass(frozen=True, slots=True)
class LedgerBreak:
    """One broken invariant: `scope` is "order", "fill" or "symbol", `key` its id."""

    scope: str
    key: str
    detail: str


def ledger_breaks(snapshot: LedgerSnapshot) -> list[LedgerBreak]:
    """Every invariant of the fill-to-hedge ledger that `snapshot` breaks:
    per broker order, its fills sum to its filled quantity and their allocations never exceed
    it; per broker fill and per onchain fill, allocations never exceed its quantity and only
    join opposite signs of the same symbol; no allocation points at a reverted fill; per
    symbol, the sum of uncovered onchain and broker remainders equals onchain net + broker net,
    and open onchain and broker remainders of opposite signs never coexist. A symbol also has
    at most one broker order that is not final."""
    ledger = _Ledger(snapshot)
    return [
        *ledger.allocation_breaks(),
        *ledger.order_breaks(),
        *ledger.fill_breaks(),
        *ledger.symbol_breaks(),
    ]


def _sign(quantity: Decimal) -> int:
    return 1 if quantity > 0 else -1 if quantity < 0 else 0


def _side_sign(order: BrokerOrderRecord) -> int:
    return 1 if order.intent.side is OrderSide.BUY else -1


class _Ledger:
    """The snapshot indexed once for the checks below."""

    def __init__(self, snapshot: LedgerSnapshot) -> None:
        self.snapshot = snapshot
        self.onchain: dict[str, OnchainFillRecord] = {}
        self.orders: dict[str, BrokerOrderRecord] = {}
        self.fills: dict[str, BrokerFillRecord] = {}
        self.duplicates: list[LedgerBreak] = []
        for fill in snapshot.onchain_fills:
            self._index(self.onchain, fill.fill_id, fill, "onchain fill")
        for order in snapshot.broker_orders:
            self._index(self.orders, order.intent.client_order_id, order, "broker order")
        for broker_fill in snapshot.broker_fills:
            self._index(self.fills, broker_fill.piece_id, broker_fill, "broker fill")
        self.onchain_covered: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.broker_covered: defaultdict[str, Decimal] = defaultdict(Decimal)

    def _index(self, into: dict[str, _T], key: str, value: _T, what: str) -> None:
        if key in into:
            scope = "order" if what == "broker order" else "fill"
            self.duplicates.append(LedgerBreak(scope, key, f"{what} {key} is recorded twice"))
        into[key] = value

    def allocation_breaks(self) -> list[LedgerBreak]:
        breaks = list(self.duplicates)
        for allocation in self.snapshot.allocations:
            breaks += self._allocation(allocation)
        return breaks

    def _allocation(self, allocation: Allocation) -> list[LedgerBreak]:
        piece_id = f"{allocation.client_order_id}/{allocation.broker_fill_id}"
        key = f"{piece_id}->{allocation.onchain_fill_id}"
        onchain = self.onchain.get(allocation.onchain_fill_id)
        broker = self.fills.get(piece_id)
        if onchain is None or broker is None:
            missing = allocation.onchain_fill_id if onchain is None else piece_id
            return [LedgerBreak("fill", key, f"allocation names {missing}, which is not recorded")]
        self.onchain_covered[onchain.fill_id] += allocation.shares
        self.broker_covered[piece_id] += allocation.shares
        breaks: list[LedgerBreak] = []
        if allocation.shares <= 0:
            breaks.append(LedgerBreak("fill", key, f"allocation of {allocation.shares} shares"))
        if onchain.reverted:
            breaks.append(LedgerBreak("fill", key, f"{onchain.fill_id} was reverted"))
        if onchain.symbol != broker.symbol:
            detail = f"joins {onchain.symbol} onchain with {broker.symbol} at the broker"
            breaks.append(LedgerBreak("fill", key, detail))
        if _sign(onchain.signed_shares) != -_sign(broker.signed_quantity):
            detail = (
                f"joins {onchain.signed_shares} onchain with {broker.signed_quantity} at the "
                "broker: not opposite signs"
            )
            breaks.append(LedgerBreak("fill", key, detail))
        return breaks

    def order_breaks(self) -> list[LedgerBreak]:
        filled: defaultdict[str, Decimal] = defaultdict(Decimal)
        allocated: defaultdict[str, Decimal] = defaultdict(Decimal)
        for fill in self.fills.values():
            filled[fill.client_order_id] += abs(fill.signed_quantity)
            allocated[fill.client_order_id] += self.broker_covered[fill.piece_id]
        breaks: list[LedgerBreak] = []
        for coid, order in self.orders.items():
            if filled[coid] != order.filled_quantity:
                detail = f"fills sum to {filled[coid]}, the order says {order.filled_quantity}"
                breaks.append(LedgerBreak("order", coid, detail))
            if allocated[coid] > order.filled_quantity:
                detail = f"allocations {allocated[coid]} exceed filled {order.filled_quantity}"
                breaks.append(LedgerBreak("order", coid, detail))
        return breaks

    def fill_breaks(self) -> list[LedgerBreak]:
        breaks: list[LedgerBreak] = []
        for piece_id, fill in self.fills.items():
            breaks += self._broker_fill(piece_id, fill)
        for fill_id, onchain in self.onchain.items():
            covered = self.onchain_covered[fill_id]
            if onchain.signed_shares == 0:
                breaks.append(LedgerBreak("fill", fill_id, "onchain fill of 0 shares"))
            if covered > abs(onchain.signed_shares):
                detail = f"allocations {covered} exceed its {abs(onchain.signed_shares)} shares"
                breaks.append(LedgerBreak("fill", fill_id, detail))
        return breaks

    def _broker_fill(self, piece_id: str, fill: BrokerFillRecord) -> list[LedgerBreak]:
        breaks: list[LedgerBreak] = []
        covered = self.broker_covered[piece_id]
        if covered > abs(fill.signed_quantity):
            detail = f"allocations {covered} exceed its {abs(fill.signed_quantity)} shares"
            breaks.append(LedgerBreak("fill", piece_id, detail))
        order = self.orders.get(fill.client_order_id)
        if order is None:
            detail = f"broker order {fill.client_order_id} is not recorded"
            return [*breaks, LedgerBreak("fill", piece_id, detail)]
        if fill.symbol != order.intent.symbol:
            detail = f"fill of {fill.symbol} on an order for {order.intent.symbol}"
            breaks.append(LedgerBreak("fill", piece_id, detail))
        if _sign(fill.signed_quantity) != _side_sign(order):
            detail = f"fill of {fill.signed_quantity} on a {order.intent.side} order"
            breaks.append(LedgerBreak("fill", piece_id, detail))
        return breaks

    def symbol_breaks(self) -> list[LedgerBreak]:
        books: defaultdict[str, _SymbolTally] = defaultdict(_SymbolTally)
        for fill_id, onchain in self.onchain.items():
            if not onchain.reverted:
                left = abs(onchain.signed_shares) - self.onchain_covered[fill_id]
                books[onchain.symbol].add_onchain(onchain.signed_shares, left)
        for piece_id, fill in self.fills.items():
            left = abs(fill.signed_quantity) - self.broker_covered[piece_id]
            books[fill.symbol].add_broker(fill.signed_quantity, left)
        for order in self.orders.values():
            if not order.state.is_terminal:
                books[order.intent.symbol].open_orders.append(order.intent.client_order_id)
        breaks: list[LedgerBreak] = []
        for symbol, tally in books.items():
            breaks += tally.breaks(symbol)
        return breaks


class _SymbolTally:
    def __init__(self) -> None:
        self.net = _ZERO  # onchain net + broker net
        self.remainders = _ZERO  # signed, uncovered
        self.onchain_open_signs: set[int] = set()
        self.broker_open_signs: set[int] = set()
        self.open_orders: list[str] = []

    def add_onchain(self, signed: Decimal, left: Decimal) -> None:
        self.net += signed
        self.remainders += left * _sign(signed)
        if left > 0:
            self.onchain_open_signs.add(_sign(signed))

    def add_broker(self, signed: Decimal, left: Decimal) -> None:
        self.net += signed
        self.remainders += left * _sign(signed)
        if left > 0:
            self.broker_open_signs.add(_sign(signed))

    def breaks(self, symbol: str) -> list[LedgerBreak]:
        breaks: list[LedgerBreak] = []
        if self.remainders != self.net:
            detail = (
                f"open remainders sum to {self.remainders}, onchain net + broker net is {self.net}"
            )
            breaks.append(LedgerBreak("symbol", symbol, detail))
        if any(-sign in self.broker_open_signs for sign in self.onchain_open_signs):
            detail = "open onchain and broker remainders of opposite signs coexist"
            breaks.append(LedgerBreak("symbol", symbol, detail))
        if len(self.open_orders) > 1:
            detail = f"{len(self.open_orders)} orders in flight: {', '.join(self.open_orders)}"
            breaks.append(LedgerBreak("symbol", symbol, detail))
        return breaks
