"""The fill-to-hedge ledger in memory: onchain fills, broker orders and their fills, and the
allocations between them, kept by the rules the SQL repository follows (ledger.py).

- A new onchain fill is covered at once by open broker remainders of the opposite sign of its
  symbol, oldest first (an over-fill, or a hedge whose fill a reorg reverted).
- A new broker fill covers open onchain remainders of the opposite sign, oldest first (block,
  log index); what is left of it stays a broker remainder.
- A revert (every live fill at or above a block) releases the fills' allocations back to the
  broker fills that made them. Because reverts always take a suffix of the chain, the released
  remainders never meet an older open onchain remainder of the opposite sign.
- Exposure moves only with broker fills, never with an order being placed; one order not
  final per symbol.

It backs the test fakes and the backtest, so it stays pure: no clock, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.equities.allocation import allocate, oldest_unhedged
from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderReport, BrokerOrderState
from pegkeeper.domain.equities.chain import OnchainFill
from pegkeeper.domain.equities.fifo import keyed_trades, trades_in_time_order
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    FillCover,
    LedgerSnapshot,
    OnchainFillRecord,
    OpenPiece,
    RevertedFill,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import Trade, TradeCursor, TradesRead
from pegkeeper.domain.errors import ConflictError, InvalidInput, SlotTaken

_ZERO = Decimal(0)


@dataclass(slots=True)
class _SymbolState:
    """Indices kept so that each step costs what is open, not the whole history."""

    onchain_net: Decimal = _ZERO
    broker_net: Decimal = _ZERO
    fill_ids: list[str] = field(default_factory=list)  # every onchain fill, in arrival order
    open_onchain: dict[str, None] = field(default_factory=dict)
    open_broker: dict[str, None] = field(default_factory=dict)
    last_live: OnchainFillRecord | None = None  # by chain position


def _sign(quantity: Decimal) -> int:
    return 1 if quantity > 0 else -1


class EquityBook:
    """Every symbol's onchain fills, broker orders, broker fills and allocations."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self._symbols: dict[str, _SymbolState] = {s: _SymbolState() for s in symbols}
        self._onchain: dict[str, OnchainFillRecord] = {}
        self._onchain_covered: dict[str, Decimal] = {}
        self._orders: dict[str, BrokerOrderRecord] = {}
        self._filled: dict[str, Decimal] = {}  # per client order id
        self._fills: dict[str, BrokerFillRecord] = {}  # by piece id
        self._fill_covered: dict[str, Decimal] = {}
        self._fill_position: dict[str, tuple[int, int]] = {}
        self._allocations: dict[str, list[Allocation]] = {}  # by onchain fill id
        self._in_flight: dict[str, str] = {}  # symbol -> client order id of an order not final

    def _state(self, symbol: str) -> _SymbolState:
        return self._symbols.setdefault(symbol, _SymbolState())

    def _peek(self, symbol: str) -> _SymbolState:
        """A symbol's state for reading: an unknown symbol is empty and stays unknown."""
        return self._symbols.get(symbol) or _SymbolState()

    # onchain fills

    def add_onchain_fill(self, fill: OnchainFill) -> list[Allocation] | None:
        """Records a fill and covers it from open broker remainders; None when the fill is
        already live (the same fill delivered twice). A reverted fill seen again (its
        transaction mined anew) is live again at its new block."""
        known = self._onchain.get(fill.fill_id)
        if known is not None and not known.reverted:
            return None
        record = OnchainFillRecord(
            fill_id=fill.fill_id,
            symbol=fill.symbol,
            signed_shares=fill.signed_shares,
            usdc=fill.usdc,
            block_number=fill.ref.block_number,
            log_index=fill.ref.log_index,
            block_timestamp_s=fill.ref.block_timestamp_s,
            tx_hash=fill.ref.tx_hash,
        )
        state = self._state(fill.symbol)
        self._onchain[record.fill_id] = record
        self._onchain_covered[record.fill_id] = _ZERO
        self._allocations[record.fill_id] = []
        if known is None:
            state.fill_ids.append(record.fill_id)
        state.onchain_net += record.signed_shares
        state.open_onchain[record.fill_id] = None
        if state.last_live is None or _chain_position(record) > _chain_position(state.last_live):
            state.last_live = record
        _, broker = self.open_pieces(fill.symbol)
        return [
            self._join(self._fills[piece_id], record, shares)
            for piece_id, shares in allocate(_sign(record.signed_shares), fill.shares, broker)
        ]

    def revert_from(self, block_number: int) -> list[RevertedFill]:
        """Every live fill at or above `block_number` reverted, in chain order, with what of
        it had been covered; its allocations go back to the broker fills."""
        hit = sorted(
            (
                f
                for f in self._onchain.values()
                if not f.reverted and f.block_number >= block_number
            ),
            key=_chain_position,
        )
        reverted: list[RevertedFill] = []
        for fill in hit:
            state = self._state(fill.symbol)
            for allocation in self._allocations.pop(fill.fill_id):
                piece_id = _piece_id(allocation)
                self._fill_covered[piece_id] -= allocation.shares
                state.open_broker[piece_id] = None
            covered = self._onchain_covered[fill.fill_id]
            reverted.append(RevertedFill(fill.fill_id, fill.symbol, fill.signed_shares, covered))
            self._onchain[fill.fill_id] = dataclasses.replace(fill, reverted=True)
            self._onchain_covered[fill.fill_id] = _ZERO
            state.onchain_net -= fill.signed_shares
            state.open_onchain.pop(fill.fill_id, None)
        for symbol in {f.symbol for f in hit}:
            state = self._state(symbol)
            live = (self._onchain[i] for i in state.fill_ids if not self._onchain[i].reverted)
            state.last_live = max(live, key=_chain_position, default=None)
        return reverted

    # broker orders

    def open_order(self, intent: BrokerOrderIntent, now_ms: int) -> BrokerOrderRecord:
        """Records a new order (CREATED); SlotTaken while its symbol has an order not final."""
        if intent.client_order_id in self._orders:  # as the store's unique id refuses it
            raise ConflictError(f"broker order {intent.client_order_id!r} is already recorded")
        if intent.quantity <= 0:
            raise InvalidInput(f"broker order quantity must be positive, not {intent.quantity}")
        busy = self.in_flight(intent.symbol)
        if busy is not None:
            raise SlotTaken(
                f"{intent.symbol} already has order {busy.intent.client_order_id} in flight"
            )
        record = BrokerOrderRecord(intent, BrokerOrderState.CREATED, _ZERO, updated_at_ms=now_ms)
        self._state(intent.symbol)
        self._orders[intent.client_order_id] = record
        self._in_flight[intent.symbol] = intent.client_order_id
        self._filled[intent.client_order_id] = _ZERO
        return record

    def apply_report(self, report: BrokerOrderReport, now_ms: int) -> list[Allocation]:
        """The broker's word on an order: its new fills (by fill id) recorded and allocated,
        its state taken (a final state is never undone by a working one). Returns the new
        allocations."""
        order = self._order(report.client_order_id)
        intent = order.intent
        made: list[Allocation] = []
        for fill in report.fills:
            if f"{intent.client_order_id}/{fill.fill_id}" in self._fills:
                continue
            if fill.quantity <= 0:
                raise InvalidInput(
                    f"fill {fill.fill_id} of {intent.client_order_id} has quantity "
                    f"{fill.quantity}; a fill must be positive"
                )
            signed = fill.quantity if intent.signed_quantity > 0 else -fill.quantity
            record = BrokerFillRecord(
                intent.client_order_id,
                fill.fill_id,
                intent.symbol,
                signed,
                fill.price_usd,
                fill.fee_usd,
                fill.ts_ms,
            )
            made += self._add_broker_fill(record)
        self._set(
            dataclasses.replace(
                order,
                state=_next_state(order.state, report.state),
                filled_quantity=self._filled[intent.client_order_id],
                broker_order_id=report.broker_order_id or order.broker_order_id,
                message=report.message or order.message,
                updated_at_ms=now_ms,
            )
        )
        return made

    def record_state(
        self, client_order_id: str, state: BrokerOrderState, message: str, now_ms: int
    ) -> None:
        """A new state without a broker report (uncertain, lost, refused)."""
        order = self._order(client_order_id)
        self._set(
            dataclasses.replace(
                order,
                state=_next_state(order.state, state),
                message=message,
                updated_at_ms=now_ms,
            )
        )

    def _set(self, order: BrokerOrderRecord) -> None:
        self._orders[order.intent.client_order_id] = order
        if order.state.is_terminal:
            self._in_flight.pop(order.intent.symbol, None)

    def _order(self, client_order_id: str) -> BrokerOrderRecord:
        order = self._orders.get(client_order_id)
        if order is None:
            raise InvalidInput(f"broker order {client_order_id} is not recorded")
        return order

    def _add_broker_fill(self, fill: BrokerFillRecord) -> list[Allocation]:
        state = self._state(fill.symbol)
        self._fills[fill.piece_id] = fill
        self._fill_covered[fill.piece_id] = _ZERO
        self._fill_position[fill.piece_id] = (fill.ts_ms, len(self._fill_position))
        self._filled[fill.client_order_id] += abs(fill.signed_quantity)
        state.broker_net += fill.signed_quantity
        state.open_broker[fill.piece_id] = None
        onchain, _ = self.open_pieces(fill.symbol)
        quantity = abs(fill.signed_quantity)
        return [
            self._join(fill, self._onchain[fill_id], shares)
            for fill_id, shares in allocate(_sign(fill.signed_quantity), quantity, onchain)
        ]

    def _join(
        self, broker: BrokerFillRecord, onchain: OnchainFillRecord, shares: Decimal
    ) -> Allocation:
        allocation = Allocation(broker.client_order_id, broker.fill_id, onchain.fill_id, shares)
        self._allocations[onchain.fill_id].append(allocation)
        self._fill_covered[broker.piece_id] += shares
        self._onchain_covered[onchain.fill_id] += shares
        state = self._state(onchain.symbol)
        if self._fill_covered[broker.piece_id] == abs(broker.signed_quantity):
            state.open_broker.pop(broker.piece_id, None)
        if self._onchain_covered[onchain.fill_id] == abs(onchain.signed_shares):
            state.open_onchain.pop(onchain.fill_id, None)
        return allocation

    # reading

    def order(self, client_order_id: str) -> BrokerOrderRecord | None:
        return self._orders.get(client_order_id)

    def open_orders(self) -> list[BrokerOrderRecord]:
        return [self._orders[coid] for coid in self._in_flight.values()]

    def in_flight(self, symbol: str) -> BrokerOrderRecord | None:
        coid = self._in_flight.get(symbol)
        return None if coid is None else self._orders[coid]

    def open_pieces(self, symbol: str) -> tuple[list[OpenPiece], list[OpenPiece]]:
        """The symbol's open onchain and broker remainders, each list oldest first."""
        state = self._peek(symbol)
        onchain: list[OpenPiece] = []
        for fill_id in state.open_onchain:
            fill = self._onchain[fill_id]
            left = abs(fill.signed_shares) - self._onchain_covered[fill_id]
            onchain.append(
                OpenPiece(fill_id, _sign(fill.signed_shares), left, _chain_position(fill))
            )
        broker: list[OpenPiece] = []
        for piece_id in state.open_broker:
            broker_fill = self._fills[piece_id]
            left = abs(broker_fill.signed_quantity) - self._fill_covered[piece_id]
            position = self._fill_position[piece_id]
            broker.append(OpenPiece(piece_id, _sign(broker_fill.signed_quantity), left, position))
        onchain.sort(key=lambda p: p.position)
        broker.sort(key=lambda p: p.position)
        return onchain, broker

    def exposure(self, symbol: str) -> SymbolExposure:
        state = self._peek(symbol)
        onchain, _ = self.open_pieces(symbol)
        oldest = oldest_unhedged(state.onchain_net + state.broker_net, onchain)
        oldest_ms = None
        if oldest is not None:
            oldest_ms = self._onchain[oldest.piece_id].block_timestamp_s * 1000
        return SymbolExposure(
            symbol=symbol,
            onchain_net=state.onchain_net,
            broker_net=state.broker_net,
            in_flight=self.in_flight(symbol),
            oldest_open_ms=oldest_ms,
            last_price_usd=None if state.last_live is None else state.last_live.price_usd,
        )

    def exposures(self) -> dict[str, SymbolExposure]:
        return {symbol: self.exposure(symbol) for symbol in self._symbols}

    def snapshot(self) -> LedgerSnapshot:
        return LedgerSnapshot(
            onchain_fills=tuple(self._onchain.values()),
            broker_orders=tuple(self._orders.values()),
            broker_fills=tuple(self._fills.values()),
            allocations=tuple(a for made in self._allocations.values() for a in made),
        )

    def fills_of(self, symbol: str, limit: int) -> list[FillCover]:
        """The symbol's onchain fills (reverted ones too), newest first, each with the broker
        fills covering it."""
        fills = sorted(
            (self._onchain[i] for i in self._peek(symbol).fill_ids),
            key=_chain_position,
            reverse=True,
        )[:limit]
        return [
            FillCover(
                fill,
                tuple(
                    (a, self._fills[_piece_id(a)]) for a in self._allocations.get(fill.fill_id, ())
                ),
            )
            for fill in fills
        ]

    def trades(self) -> list[Trade]:
        """Live onchain fills and broker fills in time order, for FIFO P&L."""
        return trades_in_time_order(self._onchain.values(), self._fills.values())

    def trades_after(self, cursor: TradeCursor) -> TradesRead:
        """The live trades recorded past `cursor`: a fill's place is its order of recording
        (a fill mined again after a revert keeps its place, and changes the reverted count)."""
        onchain, fills = list(self._onchain.values()), list(self._fills.values())
        return TradesRead(
            keyed_trades(onchain[cursor.onchain :], fills[cursor.broker :]),
            TradeCursor(len(onchain), len(fills), sum(f.reverted for f in onchain)),
        )


def _next_state(now: BrokerOrderState, told: BrokerOrderState) -> BrokerOrderState:
    """A final state is never undone by a working one (a late or stale answer)."""
    return now if now.is_terminal and not told.is_terminal else told


def _chain_position(fill: OnchainFillRecord) -> tuple[int, int]:
    return (fill.block_number, fill.log_index)


def _piece_id(allocation: Allocation) -> str:
    return f"{allocation.client_order_id}/{allocation.broker_fill_id}"
