"""The ledger's invariants over random histories: onchain fills of both signs on several
symbols, broker orders filled in parts, canceled or failed with partial fills, over-filled,
fills delivered twice, and reorgs of any depth before and after hedging.

After every step: no ledger break, and per symbol exposure = onchain net + broker net = the
sum of the open remainders, with both nets equal to a tally the test keeps on its own.
`PEGKEEPER_LEDGER_EXAMPLES` sets the number of histories (1 000 by default)."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from pegkeeper.domain.equities.allocation import ledger_breaks
from pegkeeper.domain.equities.book import EquityBook
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.chain import OnchainFill
from pegkeeper.domain.errors import SlotTaken
from pegkeeper.domain.orders import OrderSide

from .builders import intent, onchain, report

D = Decimal
EXAMPLES = int(os.environ.get("PEGKEEPER_LEDGER_EXAMPLES", "1000"))
SYMBOLS = ("AAPL", "MSFT", "NVDA")
MILLI = D("0.001")
ZERO = D(0)


@dataclass
class Order:
    coid: str
    side: OrderSide
    quantity: Decimal
    fills: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def filled(self) -> Decimal:
        return sum((q for _, q in self.fills), D(0))


@dataclass
class World:
    """The test's own account of what happened, kept apart from the book."""

    book: EquityBook = field(default_factory=EquityBook)
    block: int = 0
    log_index: int = 0
    clock_ms: int = 0
    live: list[OnchainFill] = field(default_factory=list)
    onchain_net: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(D))
    broker_net: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(D))
    open_orders: dict[str, Order] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    gone: list[OnchainFill] = field(default_factory=list)  # reverted, may be mined again
    block_sealed: bool = False  # after a reorg the next fill starts a new block
    txs: int = 0

    def tick(self) -> int:
        self.clock_ms += 1_000
        return self.clock_ms

    def add_onchain(self, symbol: str, sign: int, quantity: Decimal, same_block: bool) -> None:
        self.next_log(same_block)
        price_usd = D(100 + self.block % 50)
        self.txs += 1
        fill = onchain(
            symbol,
            sign * quantity,
            (quantity * price_usd),
            block=self.block,
            log_index=self.log_index,
            tx=self.txs,
        )
        self.deliver(fill)

    def next_log(self, same_block: bool) -> None:
        if not same_block or self.block == 0 or self.block_sealed:
            self.block += 1
            self.log_index = 0
            self.block_sealed = False
        self.log_index += 1

    def deliver(self, fill: OnchainFill) -> None:
        made = self.book.add_onchain_fill(fill)
        assert made is not None
        if made:
            event("an onchain fill covered by a broker remainder")
        self.live.append(fill)
        self.onchain_net[fill.symbol] += fill.signed_shares

    def open_order(self, symbol: str, how: str, quantity: Decimal) -> None:
        exposure = self.onchain_net[symbol] + self.broker_net[symbol]
        if how == "hedge" and exposure != 0:
            side, quantity = (OrderSide.SELL if exposure > 0 else OrderSide.BUY), abs(exposure)
        else:
            side = OrderSide.SELL if how == "sell" else OrderSide.BUY
        coid = f"c{len(self.orders)}"
        if symbol in self.open_orders:
            with pytest.raises(SlotTaken):
                self.book.open_order(intent(coid, symbol, side, quantity), self.tick())
            return
        self.book.open_order(intent(coid, symbol, side, quantity), self.tick())
        self.orders[coid] = self.open_orders[symbol] = Order(coid, side, quantity)

    def open_symbol(self, pick: int) -> str | None:
        symbols = sorted(self.open_orders)
        return symbols[pick % len(symbols)] if symbols else None

    def fill(self, symbol: str, pct: int, state: BrokerOrderState, extra: Decimal = ZERO) -> None:
        order = self.open_orders.get(symbol)
        if order is None:
            return
        left = max(order.quantity - order.filled, D(0))
        quantity = (left * pct / 100).quantize(MILLI) + extra
        if quantity > 0:
            order.fills.append((f"f{len(order.fills)}", quantity))
            signed = quantity if order.side is OrderSide.BUY else -quantity
            self.broker_net[symbol] += signed
        now = self.tick()
        fills = tuple((fid, q, "150", now) for fid, q in order.fills)
        self.book.apply_report(report(order.coid, state, *fills), now)
        if state.is_terminal:
            del self.open_orders[symbol]
            if order.filled > order.quantity:
                event("an over-fill")
            elif state is not BrokerOrderState.FILLED and order.filled > 0:
                event("a partial fill on a canceled or failed order")

    def finish(self, symbol: str, how: str, pct: int) -> None:
        if how == "filled":
            self.fill(symbol, 100, BrokerOrderState.FILLED)
        elif how == "overfill":
            self.fill(symbol, 100, BrokerOrderState.FILLED, extra=D(pct + 1) * MILLI)
        elif how == "canceled":
            self.fill(symbol, pct, BrokerOrderState.CANCELED)
        else:
            self.fill(symbol, pct, BrokerOrderState.FAILED)

    def revert(self, depth: int) -> None:
        if self.block == 0:
            return
        from_block = max(1, self.block - depth)
        reverted = self.book.revert_from(from_block)
        if any(r.covered_shares > 0 for r in reverted):
            event("a hedged fill reverted")
        gone = [f for f in self.live if f.ref.block_number >= from_block]
        in_chain_order = sorted(gone, key=lambda f: f.ref.position)
        assert [r.fill_id for r in reverted] == [f.fill_id for f in in_chain_order]
        for f in gone:
            self.onchain_net[f.symbol] -= f.signed_shares
        self.live = [f for f in self.live if f.ref.block_number < from_block]
        self.gone += gone
        self.block = from_block - 1  # the new chain goes on from there
        self.block_sealed = True

    def deliver_again(self, pick: int) -> None:
        """A live fill delivered twice changes nothing; a reverted one is mined anew in the
        next block (same transaction and log index, so the same fill id)."""
        if pick % 2 == 0 and self.live:
            assert self.book.add_onchain_fill(self.live[pick // 2 % len(self.live)]) is None
        elif self.gone:
            old = self.gone.pop(pick // 2 % len(self.gone))
            self.next_log(same_block=False)
            self.log_index = old.ref.log_index  # later logs of this block come after it
            ref = replace(old.ref, block_number=self.block, block_hash=f"0x{self.block:064x}")
            again = replace(old, ref=ref)
            assert again.fill_id == old.fill_id
            event("a reverted fill mined again")
            self.deliver(again)

    def check(self) -> None:
        assert ledger_breaks(self.book.snapshot()) == []
        for symbol in SYMBOLS:
            seen = self.book.exposure(symbol)
            assert seen.onchain_net == self.onchain_net[symbol]
            assert seen.broker_net == self.broker_net[symbol]
            onchain_open, broker_open = self.book.open_pieces(symbol)
            remainders = sum((p.sign * p.remaining for p in onchain_open + broker_open), D(0))
            assert seen.exposure == seen.onchain_net + seen.broker_net == remainders
            flight = seen.in_flight
            expected = self.open_orders.get(symbol)
            assert (flight and flight.intent.client_order_id) == (expected and expected.coid)
        for coid, order in self.orders.items():
            record = self.book.order(coid)
            assert record is not None and record.filled_quantity == order.filled


@dataclass(frozen=True)
class OnchainStep:
    symbol: str
    sign: int
    shares: Decimal
    same_block: bool

    def apply(self, world: World) -> None:
        world.add_onchain(self.symbol, self.sign, self.shares, self.same_block)


@dataclass(frozen=True)
class OrderStep:
    symbol: str
    how: str  # "hedge" the exposure, or a "buy" / "sell" of `shares`
    shares: Decimal

    def apply(self, world: World) -> None:
        world.open_order(self.symbol, self.how, self.shares)


@dataclass(frozen=True)
class FillStep:
    pick: int  # which open order
    percent: int  # of what it has left

    def apply(self, world: World) -> None:
        symbol = world.open_symbol(self.pick)
        if symbol is not None:
            world.fill(symbol, self.percent, BrokerOrderState.WORKING)


@dataclass(frozen=True)
class FinishStep:
    pick: int
    how: str
    percent: int

    def apply(self, world: World) -> None:
        symbol = world.open_symbol(self.pick)
        if symbol is not None:
            world.finish(symbol, self.how, self.percent)


@dataclass(frozen=True)
class RevertStep:
    depth: int  # blocks below the newest

    def apply(self, world: World) -> None:
        world.revert(self.depth)


@dataclass(frozen=True)
class AgainStep:
    pick: int

    def apply(self, world: World) -> None:
        world.deliver_again(self.pick)


Step = OnchainStep | OrderStep | FillStep | FinishStep | RevertStep | AgainStep

symbols = st.sampled_from(SYMBOLS)
shares = st.integers(min_value=1, max_value=5_000).map(lambda n: D(n) * MILLI)
percent = st.integers(min_value=0, max_value=100)
picks = st.integers(min_value=0, max_value=len(SYMBOLS) - 1)
steps = st.lists(
    st.one_of(
        st.builds(OnchainStep, symbols, st.sampled_from((1, -1)), shares, st.booleans()),
        st.builds(OrderStep, symbols, st.sampled_from(("hedge", "buy", "sell")), shares),
        st.builds(FillStep, picks, percent),
        st.builds(
            FinishStep,
            picks,
            st.sampled_from(("filled", "overfill", "canceled", "failed")),
            percent,
        ),
        st.builds(RevertStep, st.integers(min_value=0, max_value=6)),
        st.builds(AgainStep, st.integers(min_value=0, max_value=1_000)),
    ),
    min_size=15,
    max_size=80,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # no explain phase: tracing every line of a long history takes minutes
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
@given(steps)
def test_the_ledger_holds_over_any_history(history: list[Step]) -> None:
    world = World()
    for step in history:
        step.apply(world)
        world.check()
