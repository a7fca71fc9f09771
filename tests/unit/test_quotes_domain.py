"""Quotes in the domain: ids, the fee the house keeps, expiry, the liability's sign."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.quote_math import Direction, QuoteBook
from pegkeeper.domain.quotes import (
    Quote,
    QuoteNotAcceptable,
    QuoteState,
    parse_quote_id,
    price_amounts,
)

D = Decimal
# bids 1 000 USD/BTC (0.001 c/sat) then 500 (0.0005); asks 10 000 (0.01) then 20 000 (0.02)
BOOK = QuoteBook.from_contracts(
    [(D(1000), D(1)), (D(500), D(100))], [(D(10000), D(1)), (D(20000), D(100))], 0, "t"
)


def test_quote_ids_are_canonical_uuids() -> None:
    assert parse_quote_id("0B6C4F1E-8D2A-4C6E-9A51-3F0D2B7C9E10") == (
        "0b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10"
    )
    for bad in (
        "",
        "0b6c4f1e8d2a4c6e9a513f0d2b7c9e10",
        "urn:uuid:0b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10",
        "0b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e1٠",
        "x" * 10_000,
    ):
        with pytest.raises(InvalidInput, match="UUID"):
            parse_quote_id(bad)


def test_the_fee_is_the_house_margin_valued_on_the_walked_side() -> None:
    # a contract is 10 000 cents. Buy 15 000 000 sats: 10 000 000 at 0.001 (10 000 cents),
    # 5 000 000 at 0.0005 (2 500 cents): 12 500 cents of value; floor(12 500 * 0.999) = 12 487
    bought = price_amounts(BOOK, Direction.BUY, D("0.001"), sats=15_000_000)
    assert (bought.amount_cents, bought.fee_cents) == (12_487, D("13.000000"))
    # sell 15 000 cents: 10 000 at 0.01 (1 000 000 sats) + 5 000 at 0.02 (250 000 sats);
    # floor(1 250 000 * 0.999) = 1 248 750 sats, worth 10 000 + 248 750 * 0.02 = 14 975 cents
    sold = price_amounts(BOOK, Direction.SELL, D("0.001"), cents=15_000)
    assert (sold.amount_sats, sold.fee_cents) == (1_248_750, D("25.000000"))


def test_amount_checks() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        price_amounts(BOOK, Direction.BUY, D(0))
    with pytest.raises(InvalidInput, match="too small"):
        price_amounts(BOOK, Direction.BUY, D("0.001"), sats=999)
    with pytest.raises(InvalidInput, match="too large"):
        price_amounts(BOOK, Direction.SELL, D(0), sats=2**63)


def quote(direction: Direction, state: QuoteState = QuoteState.OPEN) -> Quote:
    return Quote("q", direction, False, 10, 7, D(0), D(0), "t", 0, 0, 2_999, state)


def test_expiry_and_the_liability_sign() -> None:
    assert quote(Direction.BUY).liability_delta_cents == 7
    assert quote(Direction.SELL).liability_delta_cents == -7
    assert quote(Direction.BUY).expires_at_s == 2  # rounded down
    quote(Direction.BUY).check_acceptable(2_998)
    with pytest.raises(QuoteNotAcceptable, match="expired"):
        quote(Direction.BUY).check_acceptable(2_999)
    with pytest.raises(QuoteNotAcceptable, match="already accepted"):
        quote(Direction.BUY, QuoteState.ACCEPTED).check_acceptable(0)
