"""FIFO P&L per symbol: the spec's golden case, st0x's buckets, fees and running totals,
unrealised P&L at a mark, and the properties that tie realised P&L to cash."""

import os
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegkeeper.domain.equities.fifo import (
    FifoBook,
    Lot,
    replay,
    trades_in_time_order,
    unrealised_usd,
)
from pegkeeper.domain.equities.ledger import BrokerFillRecord, OnchainFillRecord
from pegkeeper.domain.equities.pnl import PnlBucket, Trade, TradeSource
from pegkeeper.domain.errors import InvalidInput

D = Decimal
ON, BR = TradeSource.ONCHAIN, TradeSource.BROKER
NET, COUNTER, DIRECTIONAL = (
    PnlBucket.ONCHAIN_NETTING,
    PnlBucket.COUNTER_TRADE,
    PnlBucket.DIRECTIONAL,
)
EXAMPLES = int(os.environ.get("PEGKEEPER_FIFO_EXAMPLES", "300"))


def t(
    trade_id: str,
    source: TradeSource,
    qty: str,
    price: str,
    ts_s: int,
    symbol: str = "AAPL",
    fee: str = "0",
) -> Trade:
    return Trade(trade_id, symbol, source, D(qty), D(price), ts_s * 1000, D(fee))


def golden(broker_sell_at_s: int = 400) -> list[Trade]:
    return [
        t("o1", ON, "-0.3", "150", 0),
        t("o2", ON, "-0.4", "151", 60),
        t("o3", ON, "0.2", "148", 120),
        t("o4", ON, "-0.6", "149", 180),
        t("b1", BR, "1", "148.5", 240),
        t("o5", ON, "1.5", "147.5", 300),
        t("b2", BR, "-1", "149", broker_sell_at_s),
    ]


def realised(entry_realised: dict[PnlBucket, Decimal]) -> Decimal:
    return sum(entry_realised.values(), D(0))


def test_the_golden_case_of_the_spec_totals_3_45() -> None:
    entries = replay(golden())
    assert [realised(e.realised_usd) for e in entries] == [
        D(0),
        D(0),
        D("0.40"),
        D(0),
        D("1.40"),
        D("0.15"),
        D("1.50"),
    ]
    assert [e.position_after for e in entries] == [
        D("-0.3"),
        D("-0.7"),
        D("-0.5"),
        D("-1.1"),
        D("-0.1"),
        D("1.4"),
        D("0.4"),
    ]
    assert [e.realised_total_usd for e in entries] == [
        D(0),
        D(0),
        D("0.40"),
        D("0.40"),
        D("1.80"),
        D("1.95"),
        D("3.45"),
    ]
    assert [e.trade_id for e in entries] == ["o1", "o2", "o3", "o4", "b1", "o5", "b2"]
    assert entries[-1].ts_ms == 400_000 and entries[-1].symbol == "AAPL"


def test_the_golden_case_by_bucket() -> None:
    entries = replay(golden())
    # o3 closes 0.2 of o1 (onchain netting); b1 closes onchain lots within 300 s (counter
    # trade); o5 closes the last 0.1 of o4 (netting); b2 closes o5's lot 100 s later (counter).
    assert entries[2].realised_usd == {NET: D("0.40"), COUNTER: D(0), DIRECTIONAL: D(0)}
    assert entries[4].realised_usd == {NET: D(0), COUNTER: D("1.40"), DIRECTIONAL: D(0)}
    assert entries[5].realised_usd == {NET: D("0.15"), COUNTER: D(0), DIRECTIONAL: D(0)}
    assert entries[6].realised_usd == {NET: D(0), COUNTER: D("1.50"), DIRECTIONAL: D(0)}
    late = replay(golden(broker_sell_at_s=900))  # 600 s after o5
    assert late[6].realised_usd == {NET: D(0), COUNTER: D(0), DIRECTIONAL: D("1.50")}
    assert late[6].realised_total_usd == D("3.45")


def test_the_counter_trade_window_is_inclusive() -> None:
    at_edge = replay([t("o", ON, "1", "10", 0), t("b", BR, "-1", "11", 300)])
    assert at_edge[1].realised_usd[COUNTER] == D(1)
    past = replay([t("o", ON, "1", "10", 0), t("b", BR, "-1", "11", 301)])
    assert past[1].realised_usd[DIRECTIONAL] == D(1)
    narrow = replay(
        [t("o", ON, "1", "10", 0), t("b", BR, "-1", "11", 20)], counter_trade_window_ms=10_000
    )
    assert narrow[1].realised_usd[DIRECTIONAL] == D(1)


def test_broker_lots_are_directional_whoever_closes_them() -> None:
    # a broker lot closed by the broker, then a broker lot closed onchain
    entries = replay(
        [
            t("b1", BR, "2", "100", 0),
            t("b2", BR, "-1", "103", 1),
            t("o1", ON, "-1", "99", 2),
        ]
    )
    assert entries[1].realised_usd == {NET: D(0), COUNTER: D(0), DIRECTIONAL: D(3)}
    assert entries[2].realised_usd == {NET: D(0), COUNTER: D(0), DIRECTIONAL: D(-1)}


def test_one_trade_closing_lots_of_several_sources_splits_across_buckets() -> None:
    entries = replay(
        [
            t("b1", BR, "-1", "100", 0),  # short lot at the broker
            t("o1", ON, "-1", "101", 10),  # short lot onchain
            t("b2", BR, "3", "98", 20),  # closes b1 (directional), o1 (counter), opens 1 long
        ]
    )
    assert entries[2].realised_usd == {NET: D(0), COUNTER: D(3), DIRECTIONAL: D(2)}
    assert entries[2].position_after == D(1)


def test_fees_accumulate_apart_from_realised_p_and_l() -> None:
    entries = replay(
        [
            t("o1", ON, "-2", "50", 0, fee="0.10"),
            t("b1", BR, "2", "49", 5, fee="0.25"),
        ]
    )
    assert [e.fee_usd for e in entries] == [D("0.10"), D("0.25")]
    assert [e.fees_total_usd for e in entries] == [D("0.10"), D("0.35")]
    assert entries[1].realised_total_usd == D(2)


def test_running_totals_are_per_symbol() -> None:
    entries = replay(
        [
            t("a1", ON, "1", "10", 0, symbol="AAPL"),
            t("m1", ON, "-1", "20", 1, symbol="MSFT", fee="1"),
            t("a2", ON, "-1", "12", 2, symbol="AAPL"),
            t("m2", ON, "1", "15", 3, symbol="MSFT"),
        ]
    )
    assert [(e.symbol, e.realised_total_usd, e.fees_total_usd) for e in entries] == [
        ("AAPL", D(0), D(0)),
        ("MSFT", D(0), D(1)),
        ("AAPL", D(2), D(0)),
        ("MSFT", D(5), D(1)),
    ]


def test_unrealised_marks_the_open_lots() -> None:
    # short 0.3 @ 150 and 0.4 @ 151, marked at 149: 0.3 x 1 + 0.4 x 2
    assert unrealised_usd(golden()[:2], D(149)) == D("1.1")
    # after the golden case: long 0.4 @ 147.5, marked at 150
    assert unrealised_usd(golden(), D(150)) == D("1.0")
    assert unrealised_usd([], D(150)) == D(0)
    with pytest.raises(InvalidInput, match="one symbol"):
        unrealised_usd([t("a", ON, "1", "1", 0), t("m", ON, "1", "1", 0, symbol="MSFT")], D(1))


def test_the_book_summary_and_lots() -> None:
    book = FifoBook()
    for trade in golden():
        book.apply(trade)
    assert book.lots("AAPL") == (Lot("o5", ON, 1, D("0.4"), D("147.5"), 300_000),)
    assert book.position("AAPL") == D("0.4") and book.position("MSFT") == D(0)
    summary = book.summary("AAPL", D(150))
    assert summary.realised_usd == {NET: D("0.55"), COUNTER: D("2.90"), DIRECTIONAL: D(0)}
    assert summary.realised_total_usd == D("3.45")
    assert summary.average_price_usd == D("147.5")
    assert summary.unrealised_usd == D("1.0")
    assert summary.net_usd == D("4.45")
    assert book.summary("MSFT").average_price_usd is None
    assert book.summary("AAPL").unrealised_usd is None
    assert book.symbols == ("AAPL",)


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(InvalidInput, match="counter_trade_window_ms"):
        FifoBook(counter_trade_window_ms=-1)


def test_stored_fills_become_trades_in_time_order() -> None:
    onchain = [
        OnchainFillRecord("0xb:1", "AAPL", D("-2"), D("300"), 11, 1, 100, "0xb"),
        OnchainFillRecord("0xa:4", "AAPL", D("1"), D("151"), 10, 4, 100, "0xa"),
        OnchainFillRecord("0xr:0", "AAPL", D("5"), D("5"), 9, 0, 90, "0xr", reverted=True),
    ]
    broker = [
        BrokerFillRecord("c2", "f1", "AAPL", D("2"), D("149"), D("0.01"), 100_000),
        BrokerFillRecord("c1", "f9", "AAPL", D("-1"), D("150"), D(0), 99_999),
    ]
    trades = trades_in_time_order(onchain, broker)
    assert [x.trade_id for x in trades] == ["c1/f9", "0xa:4", "0xb:1", "c2/f1"]
    assert trades[2] == Trade("0xb:1", "AAPL", ON, D("-2"), D(150), 100_000)
    assert trades[3] == Trade("c2/f1", "AAPL", BR, D(2), D(149), 100_000, D("0.01"))


quantity = st.integers(min_value=-500, max_value=500).filter(bool).map(lambda n: D(n) / 10)
price = st.integers(min_value=1, max_value=100_000).map(lambda n: D(n) / 100)
trade_steps = st.lists(
    st.tuples(st.sampled_from(["AAPL", "MSFT"]), st.sampled_from([ON, BR]), quantity, price),
    min_size=1,
    max_size=30,
)


def trades_of(steps: list[tuple[str, TradeSource, Decimal, Decimal]]) -> list[Trade]:
    return [
        Trade(f"t{i}", symbol, source, q, p, i * 1000)
        for i, (symbol, source, q, p) in enumerate(steps)
    ]


def cash_usd(trades: list[Trade], symbol: str) -> Decimal:
    """What the trades paid and received: sells x price - buys x price."""
    return sum((-x.signed_quantity * x.price_usd for x in trades if x.symbol == symbol), D(0))


@settings(max_examples=EXAMPLES, deadline=None)
@given(trade_steps, price, price)
def test_a_round_trip_realises_exactly_its_cash(
    steps: list[tuple[str, TradeSource, Decimal, Decimal]], close_aapl: Decimal, close_msft: Decimal
) -> None:
    trades = trades_of(steps)
    book = FifoBook()
    for trade in trades:
        book.apply(trade)
    closing = [
        Trade(f"close-{s}", s, BR, -book.position(s), p, len(trades) * 1000)
        for s, p in (("AAPL", close_aapl), ("MSFT", close_msft))
        if book.position(s) != 0
    ]
    entries = replay(trades + closing)
    for symbol in ("AAPL", "MSFT"):
        mine = [e for e in entries if e.symbol == symbol]
        if mine:
            assert mine[-1].position_after == 0
            assert mine[-1].realised_total_usd == cash_usd(trades + closing, symbol)
            assert (
                sum((realised(e.realised_usd) for e in mine), D(0)) == mine[-1].realised_total_usd
            )


@settings(max_examples=EXAMPLES, deadline=None)
@given(trade_steps, price)
def test_realised_plus_unrealised_is_cash_plus_the_position_at_the_mark(
    steps: list[tuple[str, TradeSource, Decimal, Decimal]], mark: Decimal
) -> None:
    trades = [x for x in trades_of(steps) if x.symbol == "AAPL"]
    entries = replay(trades)
    if not entries:
        return
    position = sum((x.signed_quantity for x in trades), D(0))
    assert entries[-1].position_after == position
    assert entries[-1].realised_total_usd + unrealised_usd(trades, mark) == (
        cash_usd(trades, "AAPL") + position * mark
    )
