"""Leverage against the mark, liquidation price and distance; the allocation of the liability
across legs and the rolling quarterly future."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.allocation import (
    Allocation,
    HedgeLeg,
    quarterlies_to_roll_from,
    quarterly_instrument_id,
    split_cents,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.instruments import BTC_USD_SWAP, BTC_USDT_SWAP, btc_usd_future
from pegkeeper.domain.leverage import (
    HeldPosition,
    LiquidationSource,
    equity_at,
    initial_margin,
    read_leverage,
)
from pegkeeper.domain.margin import inverse_liquidation_price_usd
from pegkeeper.domain.venue import VenueBalances, VenuePosition

D = Decimal
MMR = D("0.004")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def inverse_short(
    contracts: int, equity: str, liquidation: Decimal | None = None
) -> tuple[list[HeldPosition], VenueBalances]:
    position = VenuePosition("BTC-USD-SWAP", D(-contracts), D(10_000), D(10_000), liquidation)
    return [HeldPosition(BTC_USD_SWAP, position)], VenueBalances("BTC", D(equity), D(0), D(1))


def test_inverse_leverage_and_liquidation_from_the_formula() -> None:
    held, balances = inverse_short(100, "0.25")
    reading = read_leverage(held, balances, D(10_000), MMR)
    # 100 x 100 USD at 10 000 USD = 1 BTC over 0.25 BTC of equity
    assert reading.notional == 1 and reading.leverage == 4
    # spec: FV*N*(1-MMR)*OPx / (FV*N - OPx*B) = 10 000 * 0.996 * 10 000 / (10 000 - 2 500)
    assert reading.liquidation_price_usd == D(13_280)
    assert reading.liquidation_source is LiquidationSource.FORMULA
    assert reading.distance_pct == D("32.8")
    assert reading.liquidation_price_usd == inverse_liquidation_price_usd(
        D(-100), D(100), D(10_000), D("0.25"), MMR
    )


def test_the_venues_own_liquidation_price_is_used_when_it_gives_one() -> None:
    held, balances = inverse_short(100, "0.25", liquidation=D(13_000))
    reading = read_leverage(held, balances, D(10_000), MMR)
    assert reading.liquidation_source is LiquidationSource.VENUE
    assert reading.liquidation_price_usd == 13_000 and reading.distance_pct == 30


def test_linear_leverage_and_liquidation() -> None:
    position = VenuePosition("BTC-USDT-SWAP", D(-100), D(10_000), D(10_000))
    balances = VenueBalances("USDT", D(2_500), D(0), D(0))
    reading = read_leverage([HeldPosition(BTC_USDT_SWAP, position)], balances, D(10_000), MMR)
    # 100 x 0.01 BTC x 10 000 = 10 000 USDT over 2 500
    assert reading.notional == 10_000 and reading.leverage == 4
    # equity 2 500 - (P - 10 000) = 0.004 P  ->  P = 12 500 / 1.004
    assert reading.liquidation_price_usd == D(12_500) / D("1.004")


def test_a_rise_raises_the_leverage_of_a_short() -> None:
    held, balances = inverse_short(100, "0.25")
    reading = read_leverage(held, balances, D(10_000), MMR)
    equity, notional = equity_at(reading, D(12_000))
    # 0.25 - 10 000 * (1/10 000 - 1/12 000) = 0.08333..; 10 000 / 12 000 = 0.8333..
    assert equity.quantize(D("0.00000001")) == D("0.08333333")
    assert (notional / equity).quantize(D("0.0001")) == D(10)


def test_an_account_below_maintenance_is_at_its_liquidation_price_now() -> None:
    held, balances = inverse_short(100, "0.003")  # leverage 333: under 0.4 % maintenance
    reading = read_leverage(held, balances, D(10_000), MMR)
    assert reading.liquidation_price_usd == D(10_000) and reading.distance_pct == 0


def test_no_position_or_leverage_under_one_cannot_be_liquidated() -> None:
    held, balances = inverse_short(0, "1")
    assert read_leverage(held, balances, D(10_000), MMR).liquidation_price_usd is None
    held, balances = inverse_short(100, "2")  # 1 BTC short on 2 BTC: never liquidated
    reading = read_leverage(held, balances, D(10_000), MMR)
    assert reading.liquidation_source is LiquidationSource.NONE and reading.distance_pct is None


def test_two_futures_mid_roll_add_up() -> None:
    old = btc_usd_future(ms("2020-03-27T08:00:00"))
    new = btc_usd_future(ms("2020-06-26T08:00:00"))
    held = [
        HeldPosition(old, VenuePosition(old.instrument_id, D(-60), D(10_000), D(10_000), D(1))),
        HeldPosition(new, VenuePosition(new.instrument_id, D(-40), D(10_000), D(10_000), D(2))),
    ]
    reading = read_leverage(held, VenueBalances("BTC", D("0.25"), D(0), D(0)), D(10_000), MMR)
    # two positions: the venue's per-position numbers do not apply, the formula does
    assert reading.position_contracts == -100 and reading.liquidation_price_usd == D(13_280)


# --- allocation -----------------------------------------------------------------------------


def test_the_liability_splits_in_whole_cents_that_add_up() -> None:
    assert split_cents(100, [D(1), D(1), D(1)]) == [34, 33, 33]
    # 666 667.33 and 333 333.67: the larger remainder takes the spare cent
    assert split_cents(1_000_001, [D(2), D(1)]) == [666_667, 333_334]
    assert split_cents(0, [D(1), D(3)]) == [0, 0]
    assert split_cents(12_345, [D("0.3")]) == [12_345]  # one leg carries it all


@given(
    total=st.integers(0, 10**12),
    weights=st.lists(st.decimals("0.01", "100", places=2), min_size=1, max_size=6),
)
def test_shares_add_up_and_stay_within_a_cent_of_exact(total: int, weights: list[Decimal]) -> None:
    shares = split_cents(total, weights)
    assert sum(shares) == total
    whole = sum(weights, D(0))
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - D(total) * weight / whole) < 1


def test_allocations_refuse_what_cannot_work() -> None:
    with pytest.raises(InvalidInput, match="must be positive"):
        HedgeLeg("BTC-USD-SWAP", D(0))
    with pytest.raises(InvalidInput, match="allocated twice"):
        Allocation((HedgeLeg("BTC-USD-SWAP"), HedgeLeg("BTC-USD-SWAP", D(2))))
    with pytest.raises(InvalidInput, match="do not also allocate BTC-USD-200327"):
        Allocation((HedgeLeg("BTC-USD-QUARTERLY"), HedgeLeg("BTC-USD-200327")))


def test_a_rolling_leg_owns_every_dated_future_and_nothing_else() -> None:
    leg = HedgeLeg("BTC-USD-QUARTERLY")
    assert leg.rolls and leg.owns("BTC-USD-200327") and leg.owns("BTC-USD-200626")
    assert not leg.owns("BTC-USD-SWAP") and not leg.owns("BTC-USDT-SWAP")


def test_the_quarterly_to_hold_changes_one_lead_time_before_expiry() -> None:
    day = 86_400_000
    # expiries: 2020-03-27 08:00, 2020-06-26 08:00 (last Fridays)
    assert quarterly_instrument_id(ms("2020-03-12T00:00:00"), day) == "BTC-USD-200327"
    assert quarterlies_to_roll_from(ms("2020-03-12T00:00:00"), day) == []
    assert quarterly_instrument_id(ms("2020-03-26T07:59:59"), day) == "BTC-USD-200327"
    assert quarterly_instrument_id(ms("2020-03-26T08:00:00"), day) == "BTC-USD-200626"
    assert quarterlies_to_roll_from(ms("2020-03-26T08:00:00"), day) == ["BTC-USD-200327"]


def test_bad_allocations_and_splits_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(InvalidInput, match="needs an instrument_id"):
        HedgeLeg("")
    with pytest.raises(InvalidInput, match="at least one leg"):
        Allocation(())
    with pytest.raises(ValueError, match="cannot split a negative amount"):
        split_cents(-1, [D(1)])
    with pytest.raises(ValueError, match="weights must be positive"):
        split_cents(1, [])
    with pytest.raises(ValueError, match="or zero beside a positive one"):
        split_cents(1, [D(0), D(0)])
    assert split_cents(101, [D(0), D(1), D(1)]) == [0, 51, 50]  # an emptied leg gets nothing
    with pytest.raises(ValueError, match="roll lead time must be >= 0"):
        quarterly_instrument_id(0, -1)
    with pytest.raises(ValueError, match="longer than two quarters"):
        quarterly_instrument_id(ms("2020-03-12T00:00:00"), 300 * 86_400_000)
    assert Allocation.single("BTC-USD-SWAP").split_cents(12_345) == [12_345]


def test_a_linear_reading_re_prices_and_a_long_cannot_be_liquidated_by_a_rise() -> None:
    position = VenuePosition("BTC-USDT-SWAP", D(-100), D(10_000), D(10_000))
    balances = VenueBalances("USDT", D(2_500), D(0), D(0))
    reading = read_leverage([HeldPosition(BTC_USDT_SWAP, position)], balances, D(10_000), MMR)
    equity, notional = equity_at(reading, D(11_000))
    # 1 BTC short loses 1 000 USDT on a 1 000 USD rise; the notional is 11 000 USDT
    assert (equity, notional) == (D(1_500), D(11_000))
    # a long with equity above its notional has no liquidation price (leverage under 1)
    long = VenuePosition("BTC-USDT-SWAP", D(100), D(10_000), D(10_000))
    rich = VenueBalances("USDT", D(20_000), D(0), D(0))
    held = [HeldPosition(BTC_USDT_SWAP, long)]
    assert read_leverage(held, rich, D(10_000), MMR).liquidation_price_usd is None
    with pytest.raises(ValueError, match="mark price must be positive"):
        read_leverage(held, rich, D(0), MMR)


def test_initial_margin_of_inverse_and_linear_contracts() -> None:
    # 100 contracts of 100 USD at 10 000 USD and 4x: 1 BTC / 4; linear: 10 000 USDT / 4
    assert initial_margin(BTC_USD_SWAP, D(100), D(10_000), D(4)) == D("0.25")
    assert initial_margin(BTC_USDT_SWAP, D(100), D(10_000), D(4)) == D(2_500)
