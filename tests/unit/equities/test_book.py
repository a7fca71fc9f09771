"""The in-memory equity book, scenario by scenario: exposure moves with onchain fills and
broker fills only, every broker fill is allocated oldest first, over-fills and reverts keep
the ledger whole, and one order is in flight per symbol."""

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.allocation import ledger_breaks
from pegkeeper.domain.equities.book import EquityBook
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.ledger import Allocation, OpenPiece, RevertedFill
from pegkeeper.domain.equities.pnl import TradeSource
from pegkeeper.domain.errors import ConflictError, InvalidInput, SlotTaken
from pegkeeper.domain.orders import OrderSide

from .builders import intent, onchain, report

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
WORKING, FILLED = BrokerOrderState.WORKING, BrokerOrderState.FILLED
CANCELED, FAILED = BrokerOrderState.CANCELED, BrokerOrderState.FAILED


def exposure(book: EquityBook, symbol: str = "AAPL") -> Decimal:
    return book.exposure(symbol).exposure


def sound(book: EquityBook) -> EquityBook:
    assert ledger_breaks(book.snapshot()) == []
    return book


def test_a_sale_onchain_is_hedged_by_a_broker_buy_in_two_fills() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1.5", "300", block=10)
    assert book.add_onchain_fill(f1) == []
    seen = book.exposure("AAPL")
    assert (seen.onchain_net, seen.broker_net, seen.exposure) == (D("-1.5"), D(0), D("-1.5"))
    assert seen.last_price_usd == D(200) and seen.oldest_open_ms == 20_000
    book.open_order(intent("c1", "AAPL", BUY, "1.5"), now_ms=21_000)
    assert exposure(book) == D("-1.5")  # placing an order moves nothing
    assert book.in_flight("AAPL") is not None

    made = book.apply_report(report("c1", WORKING, ("x", "1", "199", 22_000)), now_ms=22_000)
    assert made == [Allocation("c1", "x", f1.fill_id, D(1))]
    assert exposure(sound(book)) == D("-0.5")
    made = book.apply_report(
        report("c1", FILLED, ("x", "1", "199", 22_000), ("y", "0.5", "199.5", 23_000)), 23_000
    )
    assert made == [Allocation("c1", "y", f1.fill_id, D("0.5"))]
    done = sound(book).exposure("AAPL")
    assert (done.exposure, done.broker_net, done.in_flight, done.oldest_open_ms) == (
        D(0),
        D("1.5"),
        None,
        None,
    )
    order = book.order("c1")
    assert order is not None
    assert (order.state, order.filled_quantity, order.broker_order_id) == (FILLED, D("1.5"), "b-c1")


def test_a_broker_fill_covers_the_oldest_onchain_fills_first() -> None:
    book = EquityBook()
    old = onchain("AAPL", "-1", "100", block=10, log_index=5)
    new = onchain("AAPL", "-2", "200", block=11, log_index=0)
    same_block_earlier = onchain("AAPL", "-1", "100", block=10, log_index=1)
    for f in (old, new, same_block_earlier):
        book.add_onchain_fill(f)
    book.open_order(intent("c1", "AAPL", BUY, "2.5"), 0)
    made = book.apply_report(report("c1", FILLED, ("x", "2.5", "100", 1)), 1)
    assert made == [
        Allocation("c1", "x", same_block_earlier.fill_id, D(1)),
        Allocation("c1", "x", old.fill_id, D(1)),
        Allocation("c1", "x", new.fill_id, D("0.5")),
    ]
    onchain_open, broker_open = book.open_pieces("AAPL")
    assert onchain_open == [OpenPiece(new.fill_id, -1, D("1.5"), (11, 0))]
    assert broker_open == []
    assert exposure(sound(book)) == D("-1.5")
    assert book.exposure("AAPL").oldest_open_ms == 22_000


def test_a_cancel_carrying_a_partial_fill_moves_that_much_and_frees_the_symbol() -> None:
    book = EquityBook()
    book.add_onchain_fill(onchain("AAPL", "3", "450", block=10))
    book.open_order(intent("c1", "AAPL", SELL, "3"), 0)
    book.apply_report(report("c1", CANCELED, ("x", "1.25", "151", 5)), 5)
    assert exposure(sound(book)) == D("1.75")
    assert book.in_flight("AAPL") is None
    book.open_order(intent("c2", "AAPL", SELL, "1.75"), 6)  # the next check fires again


def test_a_failed_order_leaves_the_exposure_and_frees_the_symbol() -> None:
    book = EquityBook()
    book.add_onchain_fill(onchain("AAPL", "2", "300", block=10))
    book.open_order(intent("c1", "AAPL", SELL, "2"), 0)
    book.apply_report(report("c1", FAILED, message="rejected: market closed"), 1)
    assert exposure(sound(book)) == D(2)
    assert book.in_flight("AAPL") is None
    order = book.order("c1")
    assert order is not None and order.message == "rejected: market closed"


def test_an_over_fill_is_recorded_and_covers_the_next_onchain_fill_at_once() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1", "150", block=10)
    book.add_onchain_fill(f1)
    book.open_order(intent("c1", "AAPL", BUY, "1"), 0)
    book.apply_report(report("c1", FILLED, ("x", "1.2", "150", 1)), 1)
    seen = sound(book).exposure("AAPL")
    assert (seen.exposure, seen.broker_net) == (D("0.2"), D("1.2"))  # long 0.2: sell it
    assert book.open_pieces("AAPL")[1] == [OpenPiece("c1/x", 1, D("0.2"), (1, 0))]
    order = book.order("c1")
    assert order is not None and order.filled_quantity == D("1.2")

    f2 = onchain("AAPL", "-0.5", "75", block=12)
    assert book.add_onchain_fill(f2) == [Allocation("c1", "x", f2.fill_id, D("0.2"))]
    assert exposure(sound(book)) == D("-0.3")
    assert book.open_pieces("AAPL") == ([OpenPiece(f2.fill_id, -1, D("0.3"), (12, 0))], [])


def test_opposing_onchain_fills_cancel_out_and_nothing_ages() -> None:
    book = EquityBook()
    book.add_onchain_fill(onchain("AAPL", "1", "150", block=10))
    book.add_onchain_fill(onchain("AAPL", "-1", "151", block=11))
    seen = sound(book).exposure("AAPL")
    assert (seen.exposure, seen.oldest_open_ms, seen.last_price_usd) == (D(0), None, D(151))


def test_a_revert_before_hedging_undoes_the_exposure() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1", "150", block=10)
    f2 = onchain("AAPL", "-2", "310", block=12)
    book.add_onchain_fill(f1)
    book.add_onchain_fill(f2)
    assert book.revert_from(11) == [RevertedFill(f2.fill_id, "AAPL", D(-2), D(0))]
    seen = sound(book).exposure("AAPL")
    assert (seen.exposure, seen.last_price_usd) == (D(-1), D(150))
    assert book.revert_from(11) == []


def test_a_revert_after_hedging_releases_the_hedge_as_a_broker_remainder() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1", "150", block=10)
    f2 = onchain("AAPL", "-2", "310", block=12)
    book.add_onchain_fill(f1)
    book.add_onchain_fill(f2)
    book.open_order(intent("c1", "AAPL", BUY, "3"), 0)
    book.apply_report(report("c1", FILLED, ("x", "2", "150", 1), ("y", "1", "150", 2)), 2)
    assert exposure(book) == 0
    reverted = book.revert_from(12)
    assert reverted == [RevertedFill(f2.fill_id, "AAPL", D(-2), D(2))]
    # x covered f1 (1) and f2 (1), y covered f2 (1): x keeps 1 open, y 1
    assert book.open_pieces("AAPL") == (
        [],
        [OpenPiece("c1/x", 1, D(1), (1, 0)), OpenPiece("c1/y", 1, D(1), (2, 1))],
    )
    seen = sound(book).exposure("AAPL")
    assert (seen.exposure, seen.onchain_net, seen.broker_net) == (D(2), D(-1), D(3))
    snapshot = book.snapshot()
    assert snapshot.allocations == (Allocation("c1", "x", f1.fill_id, D(1)),)
    assert [f.reverted for f in snapshot.onchain_fills] == [False, True]
    # the correcting hedge sells 2 and leaves the broker side flat against f1
    book.open_order(intent("c2", "AAPL", SELL, "2"), 3)
    book.apply_report(report("c2", FILLED, ("z", "2", "150", 4)), 4)
    assert exposure(sound(book)) == 0


def test_the_same_fill_delivered_twice_is_one_fill() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1", "150", block=10)
    assert book.add_onchain_fill(f1) == []
    assert book.add_onchain_fill(f1) is None
    assert exposure(sound(book)) == D(-1)
    assert len(book.snapshot().onchain_fills) == 1


def test_a_reverted_fill_mined_again_is_live_at_its_new_block() -> None:
    book = EquityBook()
    first = onchain("AAPL", "-1", "150", block=10, tx=77)
    book.add_onchain_fill(first)
    book.revert_from(10)
    again = onchain("AAPL", "-1", "150", block=11, tx=77)
    assert again.fill_id == first.fill_id
    assert book.add_onchain_fill(again) == []
    assert exposure(sound(book)) == D(-1)
    (record,) = book.snapshot().onchain_fills
    assert (record.block_number, record.reverted) == (11, False)


def test_one_order_in_flight_per_symbol() -> None:
    book = EquityBook()
    book.open_order(intent("c1", "AAPL", BUY, "1"), 0)
    with pytest.raises(SlotTaken, match="AAPL already has order c1"):
        book.open_order(intent("c2", "AAPL", BUY, "1"), 1)
    book.open_order(intent("m1", "MSFT", BUY, "1"), 1)  # another symbol is free
    book.record_state("c1", BrokerOrderState.UNKNOWN, "timed out", 2)
    with pytest.raises(SlotTaken):
        book.open_order(intent("c2", "AAPL", BUY, "1"), 3)
    book.record_state("c1", BrokerOrderState.LOST, "not found", 4)
    book.open_order(intent("c2", "AAPL", BUY, "1"), 5)
    assert [o.intent.client_order_id for o in book.open_orders()] == ["m1", "c2"]


def test_a_final_state_is_not_undone_by_a_stale_working_report() -> None:
    book = EquityBook()
    book.add_onchain_fill(onchain("AAPL", "-2", "300", block=10))
    book.open_order(intent("c1", "AAPL", BUY, "2"), 0)
    book.apply_report(report("c1", CANCELED, ("x", "1", "150", 1)), 1)
    book.apply_report(report("c1", WORKING, ("x", "1", "150", 1), ("late", "1", "150", 2)), 2)
    order = book.order("c1")
    assert order is not None
    # the late fill is real and counts; the order stays canceled and the symbol free
    assert (order.state, order.filled_quantity) == (CANCELED, D(2))
    assert book.in_flight("AAPL") is None
    assert exposure(sound(book)) == 0


def test_reports_are_idempotent_by_fill_id() -> None:
    book = EquityBook()
    book.add_onchain_fill(onchain("AAPL", "-2", "300", block=10))
    book.open_order(intent("c1", "AAPL", BUY, "2"), 0)
    once = report("c1", WORKING, ("x", "1", "150", 1))
    assert len(book.apply_report(once, 1)) == 1
    assert book.apply_report(once, 2) == []
    assert exposure(sound(book)) == D(-1)


def test_bad_reports_are_refused_by_name() -> None:
    book = EquityBook()
    with pytest.raises(InvalidInput, match="broker order nope is not recorded"):
        book.apply_report(report("nope", WORKING), 0)
    book.open_order(intent("c1", "AAPL", BUY, "1"), 0)
    with pytest.raises(ConflictError, match="already recorded"):
        book.open_order(intent("c1", "MSFT", BUY, "1"), 0)
    with pytest.raises(InvalidInput, match="quantity must be positive"):
        book.open_order(intent("c9", "MSFT", BUY, "0"), 0)
    with pytest.raises(InvalidInput, match="fill x of c1 has quantity 0"):
        book.apply_report(report("c1", WORKING, ("x", "0", "1", 1)), 1)


def test_exposures_list_every_symbol_seen_or_configured() -> None:
    book = EquityBook(["MSFT"])
    book.add_onchain_fill(onchain("AAPL", "1", "150", block=10))
    seen = book.exposures()
    assert list(seen) == ["MSFT", "AAPL"]
    assert seen["MSFT"].exposure == 0 and seen["MSFT"].last_price_usd is None
    book.exposure("TSLA")  # reading does not add a symbol
    assert list(book.exposures()) == ["MSFT", "AAPL"]


def test_the_fills_trail_and_the_trades_for_p_and_l() -> None:
    book = EquityBook()
    f1 = onchain("AAPL", "-1", "150", block=10)
    f2 = onchain("AAPL", "-1", "152", block=11)
    book.add_onchain_fill(f1)
    book.add_onchain_fill(f2)
    book.open_order(intent("c1", "AAPL", BUY, "1.5"), 0)
    book.apply_report(report("c1", FILLED, ("x", "1.5", "151", 21_000)), 21_000)
    trail = book.fills_of("AAPL", limit=10)
    assert [c.fill.fill_id for c in trail] == [f2.fill_id, f1.fill_id]
    assert [(a.shares, b.piece_id) for a, b in trail[0].covers] == [(D("0.5"), "c1/x")]
    assert [(a.shares, b.piece_id) for a, b in trail[1].covers] == [(D(1), "c1/x")]
    assert len(book.fills_of("AAPL", limit=1)) == 1
    trades = book.trades()
    # time order: the broker fill (21 s) falls between the two blocks (20 s and 22 s)
    assert [(x.trade_id, x.source, x.signed_quantity, x.ts_ms) for x in trades] == [
        (f1.fill_id, TradeSource.ONCHAIN, D(-1), 20_000),
        ("c1/x", TradeSource.BROKER, D("1.5"), 21_000),
        (f2.fill_id, TradeSource.ONCHAIN, D(-1), 22_000),
    ]
