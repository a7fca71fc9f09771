"""When an open exposure is hedged and by how much: whole shares floored, fractional
quantities truncated to 9 dp behind a dollar minimum valued at the last onchain price."""

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.accumulation import HedgeSize, Wait, hedge_size
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def whole(exposure: str) -> HedgeSize | Wait:
    return hedge_size(
        D(exposure), BrokerKind.WHOLE_SHARES, last_price_usd=None, min_notional_usd=D(0)
    )


def fractional(exposure: str, price: str | None, minimum: str = "2") -> HedgeSize | Wait:
    return hedge_size(
        D(exposure),
        BrokerKind.FRACTIONAL,
        last_price_usd=None if price is None else D(price),
        min_notional_usd=D(minimum),
    )


@pytest.mark.parametrize(
    ("exposure", "expected"),
    [
        ("2.7", HedgeSize(SELL, D(2))),
        ("-2.7", HedgeSize(BUY, D(2))),
        ("1", HedgeSize(SELL, D(1))),
        ("-1.000000000000000001", HedgeSize(BUY, D(1))),
        ("12.999999999", HedgeSize(SELL, D(12))),
    ],
)
def test_whole_share_brokers_hedge_the_floor(exposure: str, expected: HedgeSize) -> None:
    assert whole(exposure) == expected


@pytest.mark.parametrize("exposure", ["0", "0.999999999999999999", "-0.5"])
def test_whole_share_brokers_wait_below_one_share(exposure: str) -> None:
    assert isinstance(whole(exposure), Wait)


def test_fractional_quantity_is_truncated_to_9_dp() -> None:
    # 0.012345678 x 200 = 2.4691356 USD >= 2
    assert fractional("0.0123456789123", "200") == HedgeSize(SELL, D("0.012345678"))
    assert fractional("-0.0123456789999", "200") == HedgeSize(BUY, D("0.012345678"))


def test_fractional_minimum_is_reached_at_exactly_the_minimum() -> None:
    assert fractional("-0.01", "200") == HedgeSize(BUY, D("0.01"))  # 2.00 USD
    below = fractional("0.009", "200")  # 1.8 USD
    assert (
        isinstance(below, Wait)
        and below.reason == "0.009 shares at 200 USD is 1.8 USD, below the 2 USD minimum"
    )


def test_the_minimum_is_valued_on_the_truncated_quantity() -> None:
    # |exposure| x price = 2.0000000002 but the 9-dp quantity is worth 1.99999999 USD
    assert isinstance(fractional("0.0100000000999", "199.999999"), Wait)


def test_fractional_waits_without_a_price_or_below_9_dp() -> None:
    no_price = fractional("5", None)
    assert isinstance(no_price, Wait) and "price" in no_price.reason
    assert isinstance(fractional("5", "0"), Wait)
    dust = fractional("0.0000000009", "1000000000000")
    assert isinstance(dust, Wait) and "truncates to 0" in dust.reason
    assert isinstance(fractional("0", "100"), Wait)


def test_a_negative_minimum_is_refused() -> None:
    with pytest.raises(InvalidInput, match="min_notional_usd"):
        fractional("1", "100", minimum="-1")
