"""Quote math: the spec's worked example, the house-rounding table, depth walks by hand, and
the properties that no quote ever favours the user."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.quote_math import (
    Direction,
    FeeRates,
    QuoteBook,
    cents_from_sats,
    mid_rate_cents_per_sat,
    sats_from_cents,
    walk_sats_to_cents,
)
from tests.shared_data import shared_data

D = Decimal
DEEP = D(10**9)  # contracts
WORKED = QuoteBook.from_contracts([(D(1000), DEEP)], [(D(10000), DEEP)], 0, "test")
IMMEDIATE = FeeRates().rate(immediate=True)  # 0.0005 + 0.0005
DELAYED = FeeRates().rate(immediate=False)  # 0.0005 + 0.0007


def test_fee_composition() -> None:
    assert (D("0.0010"), D("0.0012")) == (IMMEDIATE, DELAYED)
    with pytest.raises(InvalidInput, match="base_fee_rate"):
        FeeRates(base_fee_rate=D("-0.1"))


def test_the_worked_example() -> None:
    # 1 BTC at 1 000 USD = 100 000 cents of bids; floor(100 000 * 0.999) = 99 900
    assert cents_from_sats(WORKED, Direction.BUY, 100_000_000, IMMEDIATE) == 99_900


@pytest.mark.parametrize(
    ("call", "direction", "amount", "rate", "expected"),
    [
        # 1 000 USD/BTC = 0.001 cents/sat; 10 000 USD/BTC = 0.01 cents/sat
        # CentsFromSats Buy: floor(12 345 * 0.001 * 0.999) = floor(12.332655) = 12
        (cents_from_sats, Direction.BUY, 12_345, IMMEDIATE, 12),
        # CentsFromSats Sell: ceil(12 345 * 0.01 * 1.001) = ceil(123.573450) = 124
        (cents_from_sats, Direction.SELL, 12_345, IMMEDIATE, 124),
        # SatsFromCents Buy: ceil(123 / 0.001 * 1.001) = ceil(123 123) = 123 123
        (sats_from_cents, Direction.BUY, 123, IMMEDIATE, 123_123),
        # SatsFromCents Sell: floor(123 / 0.01 * 0.999) = floor(12 287.7) = 12 287
        (sats_from_cents, Direction.SELL, 123, IMMEDIATE, 12_287),
        # the delayed rate (0.0012): floor(12 345 * 0.001 * 0.9988) = floor(12.330186) = 12
        (cents_from_sats, Direction.BUY, 12_345, DELAYED, 12),
        # ceil(12 345 * 0.01 * 1.0012) = ceil(123.598140) = 124
        (cents_from_sats, Direction.SELL, 12_345, DELAYED, 124),
        # ceil(1 / 0.001 * 1.0012) = ceil(1 001.2) = 1 002
        (sats_from_cents, Direction.BUY, 1, DELAYED, 1_002),
        # floor(1 / 0.01 * 0.9988) = floor(99.88) = 99
        (sats_from_cents, Direction.SELL, 1, DELAYED, 99),
    ],
)
def test_rounding_always_favours_the_house(call, direction, amount, rate, expected) -> None:  # type: ignore[no-untyped-def]
    assert call(WORKED, direction, amount, rate) == expected


def test_a_walk_crosses_levels_and_prices_the_rest_at_the_last() -> None:
    # bids: 1 contract (10 000 cents) at 10 000 USD/BTC (0.01 c/sat), then 1 at 5 000 (0.005)
    book = QuoteBook.from_contracts([(D(10000), D(1)), (D(5000), D(1))], [(D(20000), D(1))], 0, "t")
    # 3 000 000 sats: 1 000 000 fill the first level (10 000 cents), 2 000 000 the second
    # (10 000 cents); nothing left -> 20 000 cents
    assert walk_sats_to_cents(book.bids, D(3_000_000)) == 20_000
    # 5 000 000 sats: 3 000 000 as above, 2 000 000 beyond the book at 0.005 -> 30 000 cents
    assert walk_sats_to_cents(book.bids, D(5_000_000)) == 30_000
    # cents -> sats: 15 000 cents = 10 000 at 0.01 (1 000 000) + 5 000 at 0.005 (1 000 000)
    assert sats_from_cents(book, Direction.BUY, 15_000, D(0)) == 2_000_000


def test_the_stablesats_book_by_hand() -> None:
    message = json.loads((shared_data() / "okx" / "stablesats-books-snapshot.json").read_text())
    data = message["data"][0]
    bids = [(D(p), D(s)) for p, s, *_ in data["bids"]]
    asks = [(D(p), D(s)) for p, s, *_ in data["asks"]]
    book = QuoteBook.from_contracts(bids, asks, int(data["ts"]), "okx")
    # best bid 20 276.0, best ask 20 276.1 USD/BTC -> mid 20 276.05 USD = 0.02027605 c/sat
    assert (bids[0][0], asks[0][0]) == (D("20276"), D("20276.1"))
    assert mid_rate_cents_per_sat(book) == D("0.02027605")
    # 1 000 000 000 sats (10 BTC) against the bids: more than the first level holds
    first_price, first_size = bids[0]
    first_capacity_sats = first_size * 10_000 / (first_price / 1_000_000)
    assert first_capacity_sats < 1_000_000_000  # so the walk needs further levels
    expected = D(0)
    remaining = D(1_000_000_000)
    for price, size in bids:
        cents_per_sat = price / 1_000_000
        take = min(remaining, size * 10_000 / cents_per_sat)
        expected += take * cents_per_sat
        remaining -= take
        if remaining == 0:
            break
    # the same sum at 28 digits (the test) and 40 (the walk): equal far below a cent
    assert abs(walk_sats_to_cents(book.bids, D(1_000_000_000)) - expected) < D("1e-12")
    assert 20_000_000 < expected < 20_276_000  # a little under 202 760 USD for 10 BTC


def test_bad_amounts_are_refused() -> None:
    with pytest.raises(InvalidInput, match="positive"):
        cents_from_sats(WORKED, Direction.BUY, 0, IMMEDIATE)
    with pytest.raises(InvalidInput, match="uint64"):
        cents_from_sats(WORKED, Direction.BUY, 2**64, IMMEDIATE)
    # 2^64 - 1 cents of asks at 0.01 c/sat would be ~1.8e21 sats: overflow
    with pytest.raises(InvalidInput, match="overflow"):
        sats_from_cents(WORKED, Direction.SELL, 2**64 - 1, D(0))
    empty = QuoteBook((), (), 0, "t")
    with pytest.raises(InvalidInput, match="no levels"):
        cents_from_sats(empty, Direction.BUY, 1, IMMEDIATE)
    with pytest.raises(InvalidInput, match="both a bid and an ask"):
        mid_rate_cents_per_sat(empty)


prices = st.decimals(min_value=D(1000), max_value=D(200_000), places=1)
sizes = st.decimals(min_value=D(1), max_value=D(5000), places=0)


@st.composite
def books(draw: st.DrawFn) -> QuoteBook:
    mid = draw(prices)
    bid_levels = sorted({draw(prices) for _ in range(draw(st.integers(1, 5)))}, reverse=True)
    ask_levels = sorted({draw(prices) for _ in range(draw(st.integers(1, 5)))})
    bids = [(min(p, mid - 1), draw(sizes)) for p in bid_levels]
    asks = [(max(p, mid + 1), draw(sizes)) for p in ask_levels]
    bids = sorted(set(bids), key=lambda lv: -lv[0])
    asks = sorted(set(asks), key=lambda lv: lv[0])
    return QuoteBook.from_contracts(bids, asks, 0, "h")


amounts = st.integers(min_value=1, max_value=10**12)
rates = st.sampled_from([D(0), IMMEDIATE, DELAYED])


@given(books(), amounts, rates)
def test_a_buy_never_pays_more_cents_than_the_mid(
    book: QuoteBook, sats: int, rate: Decimal
) -> None:
    assert cents_from_sats(book, Direction.BUY, sats, rate) <= sats * mid_rate_cents_per_sat(book)


@given(books(), amounts, rates)
def test_a_sell_never_charges_fewer_cents_than_the_mid(
    book: QuoteBook, sats: int, rate: Decimal
) -> None:
    assert cents_from_sats(book, Direction.SELL, sats, rate) >= sats * mid_rate_cents_per_sat(book)


@given(books(), amounts, rates)
def test_buying_then_selling_back_never_gains(book: QuoteBook, sats: int, rate: Decimal) -> None:
    cents = cents_from_sats(book, Direction.BUY, sats, rate)
    if cents > 0:
        assert sats_from_cents(book, Direction.SELL, cents, rate) <= sats


@given(books(), st.integers(min_value=1, max_value=10**9), rates)
def test_cents_bought_cost_at_least_their_mid_value_in_sats(
    book: QuoteBook, cents: int, rate: Decimal
) -> None:
    sats = sats_from_cents(book, Direction.BUY, cents, rate)
    assert sats >= cents / mid_rate_cents_per_sat(book)
