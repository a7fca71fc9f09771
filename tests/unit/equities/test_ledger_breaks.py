"""The ledger's invariants on hand-made snapshots: a sound ledger has no break, and each kind
of break is found and named (scope, key)."""

from dataclasses import replace
from decimal import Decimal
from typing import Any

from pegkeeper.domain.equities.allocation import (
    LedgerBreak,
    allocate,
    ledger_breaks,
    oldest_unhedged,
)
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerFillRecord,
    BrokerOrderRecord,
    LedgerSnapshot,
    OnchainFillRecord,
    OpenPiece,
)
from pegkeeper.domain.orders import OrderSide

from .builders import intent

D = Decimal
FILLED, WORKING = BrokerOrderState.FILLED, BrokerOrderState.WORKING

# Onchain the maker sold 1 (f1) then 2 (f2) AAPL; order c1 bought 2.5 in fills of 2 and 0.5:
# x covers f1 with 1 and f2 with 1, y covers 0.5 of f2; 0.5 of f2 stays open (exposure -0.5).
F1 = OnchainFillRecord("0x1:0", "AAPL", D(-1), D(150), 10, 0, 20, "0x1")
F2 = OnchainFillRecord("0x2:3", "AAPL", D(-2), D(302), 11, 3, 22, "0x2")
C1 = BrokerOrderRecord(intent("c1", "AAPL", OrderSide.BUY, "2.5"), FILLED, D("2.5"))
X = BrokerFillRecord("c1", "x", "AAPL", D(2), D(150), D(0), 30_000)
Y = BrokerFillRecord("c1", "y", "AAPL", D("0.5"), D(150), D(0), 31_000)
A1 = Allocation("c1", "x", "0x1:0", D(1))
A2 = Allocation("c1", "x", "0x2:3", D(1))
A3 = Allocation("c1", "y", "0x2:3", D("0.5"))


def sound(**changes: Any) -> LedgerSnapshot:
    base = LedgerSnapshot((F1, F2), (C1,), (X, Y), (A1, A2, A3))
    return replace(base, **changes)


def keys(snapshot: LedgerSnapshot) -> set[tuple[str, str]]:
    return {(b.scope, b.key) for b in ledger_breaks(snapshot)}


def test_a_sound_ledger_has_no_break() -> None:
    assert ledger_breaks(sound()) == []
    assert ledger_breaks(LedgerSnapshot((), (), (), ())) == []


def test_fills_that_do_not_sum_to_the_orders_filled_quantity() -> None:
    breaks = ledger_breaks(sound(broker_orders=(replace(C1, filled_quantity=D(3)),)))
    assert breaks == [LedgerBreak("order", "c1", "fills sum to 2.5, the order says 3")]


def test_allocations_beyond_a_broker_fill_and_its_order() -> None:
    extra = Allocation("c1", "y", "0x1:0", D(1))  # y is 0.5; f1 then gets 2 of its 1
    found = keys(sound(allocations=(A1, A2, A3, extra)))
    assert ("fill", "c1/y") in found  # 1.5 allocated of 0.5
    assert ("fill", "0x1:0") in found  # 2 allocated of 1
    assert ("order", "c1") in found  # 3.5 allocated of 2.5 filled


def test_an_allocation_to_a_reverted_fill() -> None:
    found = ledger_breaks(sound(onchain_fills=(F1, replace(F2, reverted=True))))
    assert LedgerBreak("fill", "c1/x->0x2:3", "0x2:3 was reverted") in found
    assert LedgerBreak("fill", "c1/y->0x2:3", "0x2:3 was reverted") in found


def test_an_allocation_joining_the_same_sign_or_two_symbols() -> None:
    bought = replace(F1, signed_shares=D(1))
    found = keys(sound(onchain_fills=(bought, F2)))
    assert ("fill", "c1/x->0x1:0") in found
    # the same-sign join also leaves the remainders off the net: +1 counted as covered
    assert ("symbol", "AAPL") in found
    other = replace(F1, symbol="MSFT")
    details = [b.detail for b in ledger_breaks(sound(onchain_fills=(other, F2)))]
    assert "joins MSFT onchain with AAPL at the broker" in details


def test_allocations_naming_what_is_not_recorded_or_of_no_shares() -> None:
    ghost = Allocation("c1", "x", "0x9:9", D("0.1"))
    orphan = Allocation("c9", "z", "0x1:0", D("0.1"))
    nothing = Allocation("c1", "y", "0x1:0", D(0))
    breaks = ledger_breaks(sound(allocations=(A1, A2, A3, ghost, orphan, nothing)))
    assert (
        LedgerBreak("fill", "c1/x->0x9:9", "allocation names 0x9:9, which is not recorded")
        in breaks
    )
    assert (
        LedgerBreak("fill", "c9/z->0x1:0", "allocation names c9/z, which is not recorded") in breaks
    )
    assert LedgerBreak("fill", "c1/y->0x1:0", "allocation of 0 shares") in breaks


def test_broker_fills_that_do_not_match_their_order() -> None:
    stray = BrokerFillRecord("c7", "q", "AAPL", D(1), D(1), D(0), 1)
    wrong_way = replace(Y, signed_quantity=D("-0.5"))
    wrong_symbol = replace(Y, symbol="MSFT")
    assert ("fill", "c7/q") in keys(sound(broker_fills=(X, Y, stray)))
    assert ("fill", "c1/y") in keys(sound(broker_fills=(X, wrong_way)))
    assert ("fill", "c1/y") in keys(sound(broker_fills=(X, wrong_symbol)))


def test_open_onchain_and_broker_remainders_of_opposite_signs() -> None:
    # c1's y fill left uncovered while f2 still has 1 share open
    found = ledger_breaks(sound(allocations=(A1, A2)))
    assert found == [
        LedgerBreak(
            "symbol", "AAPL", "open onchain and broker remainders of opposite signs coexist"
        )
    ]


def test_two_orders_in_flight_for_one_symbol() -> None:
    c2 = BrokerOrderRecord(intent("c2", "AAPL", OrderSide.BUY, "0.5"), WORKING, D(0))
    c3 = BrokerOrderRecord(
        intent("c3", "AAPL", OrderSide.BUY, "0.5"), BrokerOrderState.CREATED, D(0)
    )
    assert keys(sound(broker_orders=(C1, c2))) == set()
    assert ledger_breaks(sound(broker_orders=(C1, c2, c3))) == [
        LedgerBreak("symbol", "AAPL", "2 orders in flight: c2, c3")
    ]


def test_records_kept_twice() -> None:
    found = keys(sound(onchain_fills=(F1, F2, F2), broker_orders=(C1, C1)))
    assert {("fill", "0x2:3"), ("order", "c1")} <= found


def test_allocate_takes_the_oldest_opposite_pieces_first() -> None:
    pieces = [
        OpenPiece("late", -1, D(5), (12, 0)),
        OpenPiece("same-sign", 1, D(5), (9, 0)),
        OpenPiece("early", -1, D("1.5"), (10, 2)),
        OpenPiece("empty", -1, D(0), (8, 0)),
    ]
    assert allocate(1, D(2), pieces) == [("early", D("1.5")), ("late", D("0.5"))]
    assert allocate(1, D(9), pieces) == [("early", D("1.5")), ("late", D(5))]
    assert allocate(-1, D(1), pieces) == [("same-sign", D(1))]


def test_the_oldest_unhedged_piece_follows_the_exposures_sign() -> None:
    pieces = [
        OpenPiece("bought", 1, D(1), (5, 0)),
        OpenPiece("sold-early", -1, D(1), (6, 0)),
        OpenPiece("sold-late", -1, D(1), (7, 0)),
    ]
    assert oldest_unhedged(D(-1), pieces) == pieces[1]
    assert oldest_unhedged(D(1), pieces) == pieces[0]
    # fills that net each other leave nothing to hedge, so nothing ages
    assert oldest_unhedged(D(0), pieces[:2]) is None


def test_an_onchain_fill_of_no_shares() -> None:
    empty = OnchainFillRecord("0x3:0", "AAPL", D(0), D(0), 12, 0, 24, "0x3")
    assert LedgerBreak("fill", "0x3:0", "onchain fill of 0 shares") in ledger_breaks(
        sound(onchain_fills=(F1, F2, empty))
    )
