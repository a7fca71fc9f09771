"""Equity P&L: stored per trade, equal to the replay, the spec's golden case."""

import dataclasses
from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.backtest.store_funding import MemoryCollateralRepository
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.chain import Generation, LogRef, OnchainFill, OnchainSide
from pegkeeper.domain.equities.fifo import replay
from pegkeeper.domain.equities.pnl import PnlBucket
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.equities.pnl import EquityPnl
from tests.fakes import RecordingSink
from tests.fakes_equities import MemoryEquityRepository

D = Decimal
T0_S = 1_000


def onchain(  # type: ignore[no-untyped-def]
    repo: MemoryEquityRepository,
    step: int,
    side: OnchainSide,
    shares: str,
    price: str,
    ts_s: int | None = None,
):
    ref = LogRef(step, f"0xb{step}", f"0x{step:064x}", 0, ts_s or T0_S + 10 * step)
    fill = OnchainFill(
        ref, Generation.V4, "AAPL", side, D(shares), D(shares) * D(price), "0x" + "1" * 40
    )
    repo.book.add_onchain_fill(fill)


def broker(repo: MemoryEquityRepository, step: int, side: OrderSide, shares: str, price: str):  # type: ignore[no-untyped-def]
    ts_ms = (T0_S + 10 * step) * 1000
    intent = BrokerOrderIntent(f"c{step}", "AAPL", side, D(shares), ts_ms)
    repo.book.open_order(intent, ts_ms)
    fill = BrokerFill("f1", D(shares), D(price), ts_ms)
    report = BrokerOrderReport(intent.client_order_id, BrokerOrderState.FILLED, "b", (fill,))
    repo.book.apply_report(report, ts_ms)


def golden() -> MemoryEquityRepository:
    """specs/equities.md: realised 0.40 + 1.40 + 0.15 + 1.50 = 3.45."""
    repo = MemoryEquityRepository(["AAPL"])
    onchain(repo, 1, OnchainSide.SOLD, "0.3", "150")
    onchain(repo, 2, OnchainSide.SOLD, "0.4", "151")
    onchain(repo, 3, OnchainSide.BOUGHT, "0.2", "148")
    onchain(repo, 4, OnchainSide.SOLD, "0.6", "149")
    broker(repo, 5, OrderSide.BUY, "1", "148.5")
    onchain(repo, 6, OnchainSide.BOUGHT, "1.5", "147.5")
    broker(repo, 7, OrderSide.SELL, "1", "149")
    return repo


def service(repo: MemoryEquityRepository) -> tuple[EquityPnl, Alerter]:
    clock = ManualClock(0)
    alerter = Alerter(RecordingSink(), MemoryCollateralRepository(), clock, AlertSettings())
    return EquityPnl(repo, clock, alerter=alerter), alerter


async def test_the_golden_case_is_stored_per_trade_with_its_buckets() -> None:
    repo = golden()
    pnl, alerter = service(repo)
    assert await pnl.start()  # nothing stored yet: only behind, not a difference
    assert alerter.sent == []
    assert [e.realised_total_usd for e in repo.entries] == [
        0,
        0,
        D("0.40"),
        D("0.40"),
        D("1.80"),
        D("1.95"),
        D("3.45"),
    ]
    aapl = pnl.symbols()["AAPL"]
    assert aapl.realised_usd == D("3.45") and aapl.trades == 7
    # broker fills closing onchain lots within 300 s: 1.40 + 1.50; onchain against onchain
    assert aapl.realised_by_bucket_usd == {
        PnlBucket.COUNTER_TRADE: D("2.90"),
        PnlBucket.ONCHAIN_NETTING: D("0.55"),
        PnlBucket.DIRECTIONAL: D(0),
    }
    # 0.4 long left of the 1.5 bought at 147.5, marked at the last onchain price, 147.5
    assert (aapl.position_shares, aapl.mark_price_usd, aapl.unrealised_usd) == (
        D("0.4"),
        D("147.5"),
        D(0),
    )
    series = pnl.series()
    assert [p.realised_usd for p in series][-1] == D("3.45") and len(series) == 7
    thinned = pnl.series(max_points=3)
    assert len(thinned) == 3 and thinned[-1] == series[-1]


async def test_unrealised_is_the_open_lots_marked_at_the_last_onchain_price() -> None:
    repo = MemoryEquityRepository(["AAPL"])
    onchain(repo, 1, OnchainSide.SOLD, "0.3", "150")
    onchain(repo, 2, OnchainSide.SOLD, "0.4", "151")
    pnl, _ = service(repo)
    await pnl.start()
    # short 0.3 at 150 and 0.4 at 151, marked at 151: (150 - 151) x 0.3 = -0.30
    assert pnl.symbols()["AAPL"].unrealised_usd == D("-0.3")


async def test_a_start_that_finds_the_stored_entries_equal_changes_nothing() -> None:
    repo = golden()
    first, _ = service(repo)
    await first.start()
    stored = list(repo.entries)
    again, alerter = service(repo)
    assert await again.start()
    assert repo.entries == stored and alerter.sent == []


async def test_stored_entries_that_differ_are_alerted_and_replaced_by_the_replay() -> None:
    repo = golden()
    first, _ = service(repo)
    await first.start()
    repo.entries[4] = dataclasses.replace(repo.entries[4], realised_total_usd=D(9))
    again, alerter = service(repo)
    assert not await again.start()
    (alert,) = [a for a in alerter.sent if a.kind is AlertKind.EQUITY_PNL_MISMATCH]
    assert alert.details == {"first_trade": "c5/f1"}
    assert repo.entries == replay(await repo.trades())
    assert again.rewritten_entries == 3  # the entry that differed and the two after it


async def test_a_revert_rewrites_the_changed_tail() -> None:
    repo = golden()
    pnl, _ = service(repo)
    await pnl.start()
    await repo.revert_from(6, 0)  # the onchain buy of 1.5 at 147.5 is gone
    assert await pnl.refresh() == 1  # the broker sell after it: now it opens more short
    assert repo.entries == replay(await repo.trades())
    assert pnl.symbols()["AAPL"].realised_usd == D("1.80")
    assert await pnl.refresh() == 0


async def test_a_store_only_behind_is_brought_up_to_date_without_an_alert() -> None:
    repo = golden()
    first, _ = service(repo)
    await first.start()
    # a fill read after the last refresh, with a block time before the last broker fill's
    onchain(repo, 8, OnchainSide.SOLD, "0.1", "150", ts_s=T0_S + 65)
    again, alerter = service(repo)
    assert await again.start()
    assert alerter.sent == [] and repo.entries == replay(await repo.trades())
    # it opens no lot: it closes 0.1 of the 1.4 long at 147.5, +0.25, before the broker sell
    assert again.symbols()["AAPL"].realised_usd == D("3.45") + D("0.25")


async def test_new_fills_are_replayed_from_the_tape_not_from_the_first_trade() -> None:
    repo = golden()
    pnl, _ = service(repo)
    await pnl.start()
    replays = pnl.replays
    # block time before the last broker fill (step 7): lands between o6 and c7
    onchain(repo, 8, OnchainSide.SOLD, "0.1", "150", ts_s=T0_S + 65)
    broker(repo, 9, OrderSide.BUY, "0.1", "149")
    assert await pnl.refresh() == 3  # the new fill, the broker sell after it, the new buy
    assert pnl.replays == replays  # no replay of every trade
    assert repo.entries == replay(await repo.trades())
    # the sale closes 0.1 of the 1.5 long at 147.5: +0.25; the buy at 149 opens a lot
    assert pnl.symbols()["AAPL"].realised_usd == D("3.45") + D("0.25")
    assert await pnl.refresh() == 0


async def test_a_revert_after_new_fills_replays_everything_once() -> None:
    repo = golden()
    pnl, _ = service(repo)
    await pnl.start()
    replays = pnl.replays
    onchain(repo, 8, OnchainSide.SOLD, "0.1", "150")
    await repo.revert_from(8, 0)
    await pnl.refresh()
    assert pnl.replays == replays + 1 and repo.entries == replay(await repo.trades())
    assert [e.trade_id for e in repo.entries][-1] == "c7/f1"
