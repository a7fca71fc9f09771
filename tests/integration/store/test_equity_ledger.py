"""The equity store's read side (the ledger snapshot, the fills trail, trades, P&L) and the
ledger's invariants over random sequences, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

import pytest

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.chain import OnchainFill, OnchainSide
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    LedgerSnapshot,
    OnchainFillRecord,
)
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry, Trade, TradeSource
from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.ports.equities import EquityRepository

from .equity_records import (
    D,
    block_hash,
    block_ms,
    block_time_s,
    bought,
    execution,
    ingest,
    intent,
    onchain,
    report,
    sold,
    tx_hash,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
FILLED = BrokerOrderState.FILLED
WORKING = BrokerOrderState.WORKING
CANCELED = BrokerOrderState.CANCELED


async def test_the_snapshot_holds_every_fill_order_and_live_allocation(store: SqlStore) -> None:
    repo = store.equities
    aapl = sold(10, 2, "1", "150.5", tx="a")
    msft = bought(11, 0, "0.5", "200", symbol="MSFT", tx="m")
    await ingest(repo, 11, aapl, msft)
    order = intent("o1", BUY, "0.6")
    await repo.open_broker_order(order, "exposure -1")
    e1 = execution("e1", "0.6", "150.25", block_ms(12), fee="0.35")
    await repo.record_broker_report(report("o1", WORKING, e1), 20)

    assert await repo.ledger_snapshot() == LedgerSnapshot(
        onchain_fills=(
            OnchainFillRecord(
                aapl.fill_id, "AAPL", D("-1"), D("150.5"), 10, 2, block_time_s(10), tx_hash("a")
            ),
            OnchainFillRecord(
                msft.fill_id, "MSFT", D("0.5"), D("200"), 11, 0, block_time_s(11), tx_hash("m")
            ),
        ),
        broker_orders=(BrokerOrderRecord(order, WORKING, D("0.6"), "b-o1", "", 20),),
        broker_fills=(
            BrokerFillRecord("o1", "e1", "AAPL", D("0.6"), D("150.25"), D("0.35"), block_ms(12)),
        ),
        allocations=(Allocation("o1", "e1", aapl.fill_id, D("0.6")),),
    )


async def test_the_fills_trail_is_newest_first_with_each_fills_covers(store: SqlStore) -> None:
    repo = store.equities
    fills = [sold(10, 0, "1", "150"), sold(11, 0, "1", "151"), sold(12, 0, "1", "152")]
    await ingest(repo, 12, *fills, sold(12, 1, "9", "900", symbol="MSFT"))
    await repo.open_broker_order(intent("o1", BUY, "1.5"), "exposure -3")
    e1 = execution("e1", "1.2", "150", block_ms(13))
    e2 = execution("e2", "0.3", "151", block_ms(14))
    await repo.record_broker_report(report("o1", FILLED, e1, e2), 20)

    trail = await repo.fills_of("AAPL", 2)

    assert [c.fill.fill_id for c in trail] == [fills[2].fill_id, fills[1].fill_id]
    assert trail[0].covers == ()
    record = BrokerFillRecord("o1", "e1", "AAPL", D("1.2"), D("150"), D("0"), block_ms(13))
    record2 = BrokerFillRecord("o1", "e2", "AAPL", D("0.3"), D("151"), D("0"), block_ms(14))
    assert trail[1].covers == (
        (Allocation("o1", "e1", fills[1].fill_id, D("0.2")), record),
        (Allocation("o1", "e2", fills[1].fill_id, D("0.3")), record2),
    )
    oldest = (await repo.fills_of("AAPL", 10))[-1]
    assert oldest.covers == ((Allocation("o1", "e1", fills[0].fill_id, D("1")), record),)
    assert await repo.fills_of("AAPL", 0) == []
    assert await repo.fills_of("TSLA", 5) == []


async def test_trades_are_live_fills_in_time_order_onchain_first(store: SqlStore) -> None:
    repo = store.equities
    await repo.open_broker_order(intent("o0", SELL, "1"), "r")
    early = execution("x", "1", "151", block_ms(9))
    await repo.record_broker_report(report("o0", FILLED, early), 1)
    first = sold(10, 0, "0.3", "45")
    second = bought(10, 5, "0.2", "29.6")
    gone = sold(11, 0, "5", "500")
    await ingest(repo, 11, second, first, gone)
    await repo.revert_from(11, now_ms=2)
    await repo.open_broker_order(intent("o1", BUY, "0.2"), "r")
    b = execution("b", "0.1", "149", block_ms(10), fee="0.01")
    a = execution("a", "0.1", "149.5", block_ms(10))
    await repo.record_broker_report(report("o1", FILLED, b, a), 3)

    assert await repo.trades() == [
        Trade("o0/x", "AAPL", TradeSource.BROKER, D("-1"), D("151"), block_ms(9)),
        Trade(first.fill_id, "AAPL", TradeSource.ONCHAIN, D("-0.3"), D("150"), block_ms(10)),
        Trade(second.fill_id, "AAPL", TradeSource.ONCHAIN, D("0.2"), D("148"), block_ms(10)),
        Trade("o1/a", "AAPL", TradeSource.BROKER, D("0.1"), D("149.5"), block_ms(10)),
        Trade("o1/b", "AAPL", TradeSource.BROKER, D("0.1"), D("149"), block_ms(10), D("0.01")),
    ]


def _entry(trade_id: str, ts_ms: int, realised: dict[PnlBucket, str], total: str) -> PnlEntry:
    return PnlEntry(
        trade_id=trade_id,
        symbol="AAPL",
        ts_ms=ts_ms,
        realised_usd={bucket: D(value) for bucket, value in realised.items()},
        fee_usd=D("0.01"),
        position_after=D("-0.123456789012345678"),
        realised_total_usd=D(total),
        fees_total_usd=D("0.03"),
    )


async def test_pnl_entries_are_replaced_from_a_time_on(store: SqlStore) -> None:
    repo = store.equities
    one = _entry("t1", 100, {}, "0")
    two = _entry("t2", 200, {PnlBucket.ONCHAIN_NETTING: "0.40"}, "0.40")
    three = _entry("t3", 300, {PnlBucket.COUNTER_TRADE: "1.40"}, "1.80")
    await repo.replace_pnl_from(0, [three, one, two])
    assert await repo.pnl_entries() == [one, two, three]

    replaced = [
        _entry("t2", 200, {PnlBucket.ONCHAIN_NETTING: "0.40", PnlBucket.DIRECTIONAL: "0"}, "0.4"),
        _entry("t4", 250, {PnlBucket.DIRECTIONAL: "-0.15"}, "0.25"),
    ]
    await repo.replace_pnl_from(200, replaced)
    assert await repo.pnl_entries() == [one, *replaced]

    with pytest.raises(ConflictError, match="already stored before 250 ms"):
        await repo.replace_pnl_from(250, [_entry("t1", 260, {}, "0")])
    with pytest.raises(InvalidInput, match="'t5' at 100 ms is before the replaced period"):
        await repo.replace_pnl_from(150, [_entry("t5", 100, {}, "0")])
    assert await repo.pnl_entries() == [one, *replaced]


# --- the invariants over random sequences -----------------------------------------------------


class _Run:
    """Random onchain fills, hedges (partial, canceled, over-filled) and reorgs."""

    def __init__(self, repo: EquityRepository, seed: int) -> None:
        self.repo = repo
        self.rng = random.Random(seed)
        self.block = 10
        self.fork = 0
        self.orders = 0
        self.txs = 0
        self.recent: list[OnchainFill] = []

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            await self._onchain()
        elif roll < 0.9:
            await self._hedge()
        else:
            await self._reorg()

    async def _onchain(self) -> None:
        self.block += self.rng.randint(0, 2)
        fills = []
        for log_index in range(self.rng.randint(1, 3)):
            self.txs += 1
            side = self.rng.choice(list(OnchainSide))
            shares = Decimal(self.rng.randint(1, 25)) / 10
            symbol = self.rng.choice(["AAPL", "MSFT"])
            fills.append(
                onchain(
                    self.block,
                    log_index,
                    side,
                    str(shares),
                    str(shares * 150),
                    symbol=symbol,
                    tx=f"t{self.txs}",
                    fork=str(self.fork),
                )
            )
        self.recent += fills
        await ingest(self.repo, self.block, *fills, fork=str(self.fork), keep=20)

    async def _hedge(self) -> None:
        for symbol, book in (await self.repo.exposures()).items():
            if book.in_flight is not None:
                await self._report(book.in_flight.intent.client_order_id)
                return
            if book.exposure != 0:
                self.orders += 1
                side = SELL if book.exposure > 0 else BUY
                order = intent(f"o{self.orders}", side, str(abs(book.exposure)), symbol=symbol)
                await self.repo.open_broker_order(order, "r")
                return

    async def _report(self, client_order_id: str) -> None:
        stored = await self.repo.broker_order(client_order_id)
        assert stored is not None
        shares = stored.intent.quantity * self.rng.choice([D("0.5"), D("1"), D("1.2")])
        state = self.rng.choice([FILLED, FILLED, CANCELED, WORKING])
        # fill ids repeat now and then: a fill already stored is not stored again
        fill = execution(f"e{self.rng.randint(0, 3)}", str(shares), "150", block_ms(self.block))
        await self.repo.record_broker_report(report(client_order_id, state, fill), 1)

    async def _reorg(self) -> None:
        start = max(10, self.block - self.rng.randint(0, 3))
        await self.repo.revert_from(start, now_ms=1)
        self.fork += 1
        self.block = start
        # the new fork mines some of the latest transactions again (some were not reverted)
        moved = [
            replace(
                fill,
                ref=replace(
                    fill.ref,
                    block_number=start,
                    log_index=index,
                    block_hash=block_hash(start, str(self.fork)),
                    block_timestamp_s=block_time_s(start),
                ),
            )
            for index, fill in enumerate(self.recent[-2:])
        ]
        self.recent = []
        await ingest(self.repo, start, *moved, fork=str(self.fork), keep=20)


def _sign(value: Decimal) -> int:
    return 1 if value > 0 else -1


async def _check_invariants(repo: EquityRepository) -> None:
    snapshot = await repo.ledger_snapshot()
    books = await repo.exposures()
    live = {f.fill_id: f for f in snapshot.onchain_fills if not f.reverted}
    broker = {(f.client_order_id, f.fill_id): f for f in snapshot.broker_fills}
    covered_onchain: dict[str, Decimal] = defaultdict(Decimal)
    covered_broker: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for a in snapshot.allocations:
        fill, hedge = live[a.onchain_fill_id], broker[(a.client_order_id, a.broker_fill_id)]
        assert a.shares > 0
        assert fill.symbol == hedge.symbol
        assert _sign(fill.signed_shares) != _sign(hedge.signed_quantity)
        covered_onchain[a.onchain_fill_id] += a.shares
        covered_broker[(a.client_order_id, a.broker_fill_id)] += a.shares
    for order in snapshot.broker_orders:
        mine = [
            f for f in snapshot.broker_fills if f.client_order_id == order.intent.client_order_id
        ]
        assert order.filled_quantity == sum((abs(f.signed_quantity) for f in mine), Decimal(0))
    for symbol, book in books.items():
        onchain_left = {
            fid: f.signed_shares - _sign(f.signed_shares) * covered_onchain[fid]
            for fid, f in live.items()
            if f.symbol == symbol
        }
        broker_left = {
            key: f.signed_quantity - _sign(f.signed_quantity) * covered_broker[key]
            for key, f in broker.items()
            if f.symbol == symbol
        }
        for left, whole in [(onchain_left[k], live[k].signed_shares) for k in onchain_left] + [
            (broker_left[k], broker[k].signed_quantity) for k in broker_left
        ]:
            assert left == 0 or _sign(left) == _sign(whole)  # never over-covered
        assert book.onchain_net == sum((live[k].signed_shares for k in onchain_left), Decimal(0))
        assert book.broker_net == sum((broker[k].signed_quantity for k in broker_left), Decimal(0))
        assert book.exposure == sum(onchain_left.values(), Decimal(0)) + sum(
            broker_left.values(), Decimal(0)
        )
        open_signs = {_sign(v) for v in onchain_left.values() if v != 0}
        broker_signs = {_sign(v) for v in broker_left.values() if v != 0}
        assert not any(-s in broker_signs for s in open_signs), symbol
        exposed = _sign(book.exposure)
        open_blocks = [
            live[k].block_timestamp_s
            for k, v in onchain_left.items()
            if v != 0 and _sign(v) == exposed and book.exposure != 0
        ]
        assert book.oldest_open_ms == (min(open_blocks) * 1000 if open_blocks else None)


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_ledgers_invariants_hold_over_random_sequences(
    store: SqlStore, seed: int
) -> None:
    run = _Run(store.equities, seed)
    for _ in range(40):
        await run.step()
        await _check_invariants(store.equities)
    assert (await store.equities.ledger_snapshot()).allocations != ()
