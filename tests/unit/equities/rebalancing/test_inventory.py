"""The inventory view: readings stamped before they are taken, and the changes newer than the
stamps counted once, whichever way the reads and the fills interleave. The numbers are worked
out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.broker import BrokerFill
from pegkeeper.domain.equities.inventory import (
    CASH_ASSET,
    BrokerReading,
    Direction,
    InventoryChange,
    MoveLeg,
    OnchainReading,
    Side,
    VaultHolding,
    broker_fill_changes,
    inventory_view,
    onchain_fill_changes,
    onchain_shares,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide
from tests.unit.equities.builders import T_AAPL, WT_AAPL, onchain

D = Decimal
STAMP_MS, ANSWERED_MS = 1_000_000, 1_000_200


def _fill_changes() -> list[InventoryChange]:
    """The day's fills, known or not to each reading."""
    changes: list[InventoryChange] = []
    # the maker sold 5 AAPL onchain at block 99 and 2 at block 100: in the block-100 reading
    changes += onchain_fill_changes(onchain("AAPL", "-5", "1000", block=99))
    changes += onchain_fill_changes(onchain("AAPL", "-2", "400", block=100))
    # ... and 3 at block 101, for 600 USDC: after the pin
    changes += onchain_fill_changes(onchain("AAPL", "-3", "600", block=101))
    # the broker hedge bought 5 before the stamp (in the reading) and 3 after the answer
    early = BrokerFill("e1", D("5"), D("200"), 999_000)
    late = BrokerFill("e2", D("3"), D("201"), 1_000_500, fee_usd=D("0.03"))
    changes += broker_fill_changes("AAPL", OrderSide.BUY, early)
    changes += broker_fill_changes("AAPL", OrderSide.BUY, late)
    return changes


def _first_readings() -> tuple[list[OnchainReading], list[BrokerReading]]:
    # vault at block 100: 40 tAAPL and 20 wtAAPL at 1.5 shares each = 70 shares; 5000 USDC
    shares = onchain_shares(
        [VaultHolding(T_AAPL, D("40")), VaultHolding(WT_AAPL, D("20"), D("1.5"))]
    )
    assert shares == D("70")
    return (
        [OnchainReading("AAPL", shares, 100), OnchainReading(CASH_ASSET, D("5000"), 100)],
        [
            BrokerReading("AAPL", D("30"), STAMP_MS, ANSWERED_MS),
            BrokerReading(CASH_ASSET, D("10000"), STAMP_MS, ANSWERED_MS),
        ],
    )


def test_the_worked_example_counts_each_fill_once() -> None:
    onchain_readings, broker_readings = _first_readings()
    view = inventory_view(onchain_readings, broker_readings, _fill_changes())

    aapl = view["AAPL"]
    assert aapl.onchain == D("67")  # 70 - 3 (block 101 only)
    assert aapl.broker == D("33")  # 30 + 3 (the fill after the answer only)
    assert aapl.total == D("100") and aapl.onchain_share == D("0.67")
    cash = view[CASH_ASSET]
    assert cash.onchain == D("5600")  # 5000 + 600
    assert cash.broker == D("9396.97")  # 10000 - 3 x 201 - 0.03
    assert (aapl.ambiguous, cash.ambiguous) == ("", "")


def test_a_later_pair_of_readings_gives_the_same_inventory() -> None:
    """Read again after every fill above: the readings now hold them, the same list of fills
    is passed, and nothing is counted twice or lost."""
    changes = _fill_changes()
    later_onchain = [
        OnchainReading("AAPL", D("67"), 105),
        OnchainReading(CASH_ASSET, D("5600"), 105),
    ]
    later_broker = [
        BrokerReading("AAPL", D("33"), 1_001_000, 1_001_100),
        BrokerReading(CASH_ASSET, D("9396.97"), 1_001_000, 1_001_100),
    ]
    first = inventory_view(*_first_readings(), changes)
    again = inventory_view(later_onchain, later_broker, changes)
    for asset in ("AAPL", CASH_ASSET):
        assert (again[asset].onchain, again[asset].broker) == (
            first[asset].onchain,
            first[asset].broker,
        )


def test_a_fill_inside_the_brokers_request_window_makes_the_reading_ambiguous() -> None:
    inside = BrokerFill("e3", D("1"), D("200"), STAMP_MS + 100)
    changes = [*_fill_changes(), *broker_fill_changes("AAPL", OrderSide.SELL, inside)]
    view = inventory_view(*_first_readings(), changes)
    assert view["AAPL"].ambiguous == (
        f"broker fill e3 happened while the broker's AAPL reading was taken "
        f"({STAMP_MS} to {ANSWERED_MS} ms): read it again"
    )
    assert view["AAPL"].broker == D("33")  # not applied: it may be in the answer already
    assert view[CASH_ASSET].ambiguous.startswith("broker fill e3")


def test_a_sell_at_the_broker_and_a_buy_onchain_move_both_assets() -> None:
    changes = [
        *onchain_fill_changes(onchain("AAPL", "4", "790", block=101)),  # maker bought 4
        *broker_fill_changes(
            "AAPL", OrderSide.SELL, BrokerFill("e9", D("4"), D("199"), 1_000_300, D("0.05"))
        ),
    ]
    view = inventory_view(*_first_readings(), changes)
    assert (view["AAPL"].onchain, view["AAPL"].broker) == (D("74"), D("26"))
    # USDC 5000 - 790; cash 10000 + 4 x 199 - 0.05
    assert (view[CASH_ASSET].onchain, view[CASH_ASSET].broker) == (D("4210"), D("10795.95"))


def test_a_move_in_flight_is_counted_once_between_the_sides() -> None:
    onchain_readings, broker_readings = _first_readings()
    # a mint of 10 AAPL left the broker after its answer; nothing arrived yet
    leaving = MoveLeg("m1", "AAPL", Direction.TO_CHAIN, D("10"), left_at=1_000_300)
    view = inventory_view(onchain_readings, broker_readings, legs=[leaving])
    aapl = view["AAPL"]
    assert (aapl.onchain, aapl.broker, aapl.in_flight_to_chain) == (D("70"), D("20"), D("10"))
    assert aapl.total == D("100") and aapl.onchain_share == D("0.8")  # (70 + 10) / 100
    assert aapl.has_move_in_flight

    # it landed at block 101 (after the pin): onchain + 10, nothing in flight
    landed = MoveLeg("m1", "AAPL", Direction.TO_CHAIN, D("10"), 1_000_300, D("10"), 101)
    view = inventory_view(onchain_readings, broker_readings, legs=[landed])
    assert (view["AAPL"].onchain, view["AAPL"].broker) == (D("80"), D("20"))
    assert not view["AAPL"].has_move_in_flight

    # cash home left the vault at block 100 (in the reading already) and landed at the broker
    # before the stamp (in that reading too): nothing to add, 9.5 USD of it went to fees
    home = MoveLeg("m2", CASH_ASSET, Direction.TO_BROKER, D("1000"), 100, D("990.5"), 990_000)
    view = inventory_view(onchain_readings, broker_readings, legs=[home])
    assert (view[CASH_ASSET].onchain, view[CASH_ASSET].broker) == (D("5000"), D("10000"))


def test_wrapped_holdings_are_converted_and_truncated_to_18_places() -> None:
    shares = onchain_shares([VaultHolding(WT_AAPL, D("1"), D("0.3333333333333333333333"))])
    assert shares == D("0.333333333333333333")
    with pytest.raises(InvalidInput, match="expected tokens >= 0, ratio > 0"):
        onchain_shares([VaultHolding(WT_AAPL, D("-1"))])


def test_readings_must_cover_both_sides_once() -> None:
    on = [OnchainReading("AAPL", D("1"), 10)]
    with pytest.raises(InvalidInput, match="assets read on one side only: AAPL"):
        inventory_view(on, [])
    with pytest.raises(InvalidInput, match="AAPL is read twice on the onchain side"):
        inventory_view([*on, *on], [BrokerReading("AAPL", D("1"), 1, 2)])
    with pytest.raises(InvalidInput, match="answered at 1 ms, before its stamp 2 ms"):
        inventory_view(on, [BrokerReading("AAPL", D("1"), 2, 1)])
    stray = InventoryChange("MSFT", Side.ONCHAIN, D("1"), 11, "x")
    with pytest.raises(InvalidInput, match="changes of assets not read: MSFT"):
        inventory_view(on, [BrokerReading("AAPL", D("1"), 1, 2)], [stray])
