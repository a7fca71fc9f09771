"""The equities view over the hand-worked book of tests/equities_book.py."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.allocation import LedgerBreak
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.ledger import BrokerFillRecord
from pegkeeper.domain.equities.pnl import PnlBucket
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.views.equities import EquitiesView, UnknownSymbol
from pegkeeper.services.views.equities_figures import (
    SymbolRow,
    captured_usd,
    pending_shares,
    plain,
)
from tests.equities_book import (
    E1,
    E2,
    EXPOSURES,
    F3,
    F4,
    F5,
    IN_FLIGHT,
    NOW_MS,
    NOW_S,
    SYMBOLS,
    FakeEquityReads,
    FakeHedger,
    FakeLedgerFigures,
    FakePnl,
    FakeReconciler,
    FakeSwitchBoard,
    FakeSymbolStatus,
    book_view,
)

D = Decimal


def rows_by_symbol(rows: list[SymbolRow]) -> dict[str, SymbolRow]:
    return {r.symbol: r for r in rows}


async def test_each_symbol_shows_its_books_exposure_age_reason_and_pnl() -> None:
    view = book_view(ManualClock(NOW_MS))
    overview = await view.overview()
    assert [r.symbol for r in overview.symbols] == ["AAPL", "MSFT", "NVDA", "TSLA"]
    rows = rows_by_symbol(overview.symbols)

    aapl = rows["AAPL"]
    assert (aapl.onchain_net, aapl.hedged, aapl.pending) == (D("-1.8"), D("1.5"), D("0.3"))
    assert aapl.exposure == D("-0.3")
    assert aapl.exposure_usd == D("-45.60")  # -0.3 * 152
    assert aapl.exposure_age_seconds == 120 and aapl.oldest_open_ms == NOW_MS - 120_000
    # the order in flight says more than the hedger's own words
    assert aapl.waiting_reason == "order pkaapl0002 working: buy 0.8, 0.5 filled"
    assert aapl.paused is False and aapl.in_flight == IN_FLIGHT
    assert aapl.last_price_usd == D("152.000000")
    assert (aapl.pnl.realised_usd, aapl.pnl.fees_usd) == (D("1.20"), D("0.015"))
    assert aapl.pnl.by_bucket == {
        PnlBucket.COUNTER_TRADE: D("1.35"),
        PnlBucket.ONCHAIN_NETTING: D("0"),
        PnlBucket.DIRECTIONAL: D("-0.15"),
    }
    assert aapl.pnl.unrealised_usd == D("0.00") and aapl.pnl.position_shares == D("-0.3")

    tsla = rows["TSLA"]
    assert (tsla.exposure, tsla.exposure_usd, tsla.exposure_age_seconds) == (
        D("1.5"),
        D("315.00"),
        3600,
    )
    assert tsla.paused is True and tsla.pending == 0
    assert tsla.waiting_reason == "paused for this symbol by alice (earnings call)"
    assert (tsla.pnl.realised_usd, tsla.pnl.unrealised_usd) == (D("5.00"), D("15.00"))

    msft = rows["MSFT"]
    assert (msft.exposure_usd, msft.exposure_age_seconds) == (D("1.60"), 30)
    assert msft.waiting_reason == "below the 2 USD minimum"

    nvda = rows["NVDA"]  # configured, never traded
    assert (nvda.onchain_net, nvda.hedged, nvda.pending, nvda.exposure) == (0, 0, 0, 0)
    assert nvda.exposure_usd is None and nvda.exposure_age_seconds is None
    assert nvda.waiting_reason == "" and nvda.pnl.unrealised_usd is None
    assert nvda.pnl.realised_usd == 0 and nvda.pnl.trades == 0


async def test_the_age_grows_with_the_clock_and_the_global_switch_holds_every_symbol() -> None:
    clock = ManualClock(NOW_MS)
    view = book_view(clock)
    assert isinstance(view.control, FakeSwitchBoard)
    await view.control.pause(None, "bob", "broker outage")
    clock.advance(45.5)
    rows = rows_by_symbol((await view.overview()).symbols)
    assert rows["AAPL"].exposure_age_seconds == 165  # 120 + 45.5, whole seconds down
    for symbol in ("AAPL", "MSFT", "TSLA"):
        assert rows[symbol].paused is True
        assert rows[symbol].waiting_reason == "paused for every symbol by bob (broker outage)"
    assert rows["NVDA"].paused is True and rows["NVDA"].waiting_reason == ""  # nothing open


async def test_once_the_order_is_final_the_hedger_says_why_it_waits() -> None:
    finished = replace(IN_FLIGHT, state=BrokerOrderState.CANCELED)
    repository = FakeEquityReads()
    repository.exposure_of["AAPL"] = replace(EXPOSURES["AAPL"], in_flight=finished)
    row = rows_by_symbol((await book_view(ManualClock(NOW_MS), repository).overview()).symbols)
    assert row["AAPL"].pending == 0  # a canceled order fills no more
    assert row["AAPL"].waiting_reason == "order in flight"  # the hedger's words, as given


async def test_a_failed_order_is_the_reason_when_the_hedger_gives_none() -> None:
    view = book_view(ManualClock(NOW_MS))
    assert isinstance(view.hedger, FakeHedger)
    view.hedger.statuses["MSFT"] = FakeSymbolStatus(last_error="rejected: market closed")
    rows = rows_by_symbol((await view.overview()).symbols)
    assert rows["MSFT"].waiting_reason == "the last order failed: rejected: market closed"


def test_pending_is_the_unfilled_part_of_an_order_not_final_bought_positive() -> None:
    assert pending_shares(IN_FLIGHT) == D("0.3")
    selling = replace(IN_FLIGHT, intent=replace(IN_FLIGHT.intent, side=OrderSide.SELL))
    assert pending_shares(selling) == D("-0.3")
    overfilled = replace(IN_FLIGHT, filled_quantity=D("0.9"))
    assert pending_shares(overfilled) == 0
    assert pending_shares(replace(IN_FLIGHT, state=BrokerOrderState.FILLED)) == 0
    assert pending_shares(None) == 0


async def test_positions_take_the_pnl_services_figures_the_report_the_stored_ones() -> None:
    view = book_view(ManualClock(NOW_MS))
    assert isinstance(view.pnl_source, FakePnl)
    later = replace(view.pnl_source.figures["AAPL"], realised_usd=D("2.50"), trades=7)
    view.pnl_source.figures["AAPL"] = later  # the service has replayed a trade not yet stored
    rows = rows_by_symbol((await view.overview()).symbols)
    assert (rows["AAPL"].pnl.realised_usd, rows["AAPL"].pnl.trades) == (D("2.50"), 7)
    assert rows["NVDA"].pnl.realised_usd == 0 and rows["NVDA"].pnl.unrealised_usd is None
    report = await view.pnl(max_points=10)
    assert [s.realised_usd for s in report.symbols if s.symbol == "AAPL"] == [D("1.20")]


async def test_pnl_totals_buckets_and_the_running_series() -> None:
    summary = await book_view(ManualClock(NOW_MS)).pnl(max_points=500)
    assert summary.realised_usd == D("6.20")  # AAPL 1.20 + TSLA 5.00
    assert summary.fees_usd == D("0.015")
    assert summary.unrealised_usd == D("15.00")  # NVDA has no mark and is left out
    assert summary.by_bucket == {
        PnlBucket.COUNTER_TRADE: D("1.35"),
        PnlBucket.ONCHAIN_NETTING: D("5.00"),
        PnlBucket.DIRECTIONAL: D("-0.15"),
    }
    assert [s.symbol for s in summary.symbols] == ["AAPL", "MSFT", "NVDA", "TSLA"]
    assert [s.trades for s in summary.symbols] == [6, 1, 0, 2]
    series = [(NOW_MS - p.ts_ms, p.realised_usd, p.fees_usd) for p in summary.points]
    assert series == [
        (3_600_000, 0, 0),
        (1_800_000, D("5.00"), 0),
        (900_000, D("5.00"), 0),
        (840_000, D("5.00"), 0),
        (600_000, D("5.00"), 0),
        (590_000, D("6.60"), D("0.01")),
        (120_000, D("6.60"), D("0.01")),
        (60_000, D("6.20"), D("0.015")),
        (30_000, D("6.20"), D("0.015")),
    ]
    assert summary.points[-1].net_usd == D("6.185")


async def test_a_long_series_is_thinned_keeping_the_first_and_the_last() -> None:
    view = book_view(ManualClock(NOW_MS))
    thinned = await view.pnl(max_points=3)
    assert [NOW_MS - p.ts_ms for p in thinned.points] == [3_600_000, 600_000, 30_000]
    assert thinned.realised_usd == D("6.20")  # totals never thinned
    with pytest.raises(InvalidInput, match="max_points must be at least 2, got 1"):
        await view.pnl(max_points=1)


async def test_ingestion_lag_skips_and_the_ledger_check() -> None:
    view = book_view(ManualClock(NOW_MS))
    assert isinstance(view.reconciler, FakeReconciler)
    view.reconciler.now = FakeLedgerFigures(
        breaks=(
            LedgerBreak("symbol", "AAPL", "remainders -0.3 but net -0.2"),
            LedgerBreak("fill", F3.fill_id, "covered 0.7 of 0.6"),
            LedgerBreak("fill", F4.fill_id, "covered by a fill of another symbol"),
        )
    )
    overview = await view.overview()
    chain = overview.ingestion
    assert chain.running is True and chain.checkpoint is not None
    assert (chain.checkpoint.number, chain.cutoff_block) == (1290, 1296)
    assert (chain.lag_blocks, chain.lag_seconds, chain.stalled) == (6, 12, False)
    assert (chain.consecutive_failures, chain.last_error) == (1, "eth_getLogs timed out after 10 s")
    assert chain.skipped == {
        "undecodable": 0,
        "not_our_order": 12,
        "unknown_token": 2,
        "not_stock_usdc": 0,
        "zero_shares": 0,
        "non_positive_price": 0,
        "token_unreadable": 0,
    }
    assert overview.ledger is not None
    assert overview.ledger.by_scope == {"order": 0, "fill": 2, "symbol": 1}
    assert overview.ledger.checked_at_ms == NOW_MS


async def test_without_the_services_only_the_store_speaks() -> None:
    repository = FakeEquityReads(last_read=None)
    view = EquitiesView(repository, ManualClock(NOW_MS), SYMBOLS)
    overview = await view.overview()
    assert overview.switches is None and overview.ledger is None
    chain = overview.ingestion
    assert chain.running is False and chain.checkpoint is None
    assert (chain.lag_blocks, chain.lag_seconds, chain.consecutive_failures) == (None, None, None)
    rows = rows_by_symbol(overview.symbols)
    assert rows["TSLA"].paused is False and rows["TSLA"].waiting_reason == ""
    assert rows["AAPL"].waiting_reason.startswith("order pkaapl0002 working")
    assert all(r.pnl.unrealised_usd is None for r in overview.symbols)
    # realised P&L and fees from the stored entries
    assert (rows["AAPL"].pnl.realised_usd, rows["AAPL"].pnl.fees_usd) == (D("1.20"), D("0.015"))
    assert rows["AAPL"].pnl.by_bucket[PnlBucket.COUNTER_TRADE] == D("1.35")
    assert (rows["TSLA"].pnl.realised_usd, rows["TSLA"].pnl.trades) == (D("5.00"), 2)
    assert (await view.pnl(max_points=10)).unrealised_usd is None


async def test_fills_of_a_symbol_and_of_one_never_configured() -> None:
    repository = FakeEquityReads()
    view = book_view(ManualClock(NOW_MS), repository)
    covers = await view.fills("AAPL", 2)
    assert [c.fill.fill_id for c in covers] == [F4.fill_id, F3.fill_id]  # newest first
    assert (await view.fills("NVDA", 10)) == []
    with pytest.raises(UnknownSymbol) as unknown:
        await view.fills("XYZ", 10)
    assert str(unknown.value) == (
        "no equity symbol 'XYZ': the configured symbols are AAPL, MSFT, NVDA, TSLA"
    )
    with pytest.raises(InvalidInput, match="limit must be 1 to 1000, got 0"):
        await view.fills("AAPL", 0)
    # a symbol the store has (configured before, since removed) is still shown
    repository.exposure_of["GME"] = replace(EXPOSURES["MSFT"], symbol="GME")
    assert await view.fills("GME", 10) == []
    assert view.known_symbols() == ["AAPL", "GME", "MSFT", "NVDA", "TSLA"]


def test_the_spread_captured_by_each_cover() -> None:
    # sold onchain at 149, bought back at 148.5 and at 151
    assert captured_usd(F3, D("0.3"), E1) == D("0.15")
    assert captured_usd(F3, D("0.3"), E2) == D("-0.60")
    # bought onchain at 200, sold at the broker at 201.237: 0.7 * 1.237 = 0.8659
    sold = BrokerFillRecord("pk9", "e9", "TSLA", D("-0.7"), D("201.237"), D("0"), NOW_S)
    assert captured_usd(F5, D("0.7"), sold) == D("0.87")  # half even, to the cent


def test_quantities_are_shown_plainly() -> None:
    assert [plain(D(v)) for v in ("1.500", "0E-18", "-0.000", "120", "1E+2")] == [
        "1.5",
        "0",
        "0",
        "120",
        "100",
    ]
