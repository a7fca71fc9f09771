"""The `liquidation-floor` funding policy, with numbers worked out by hand from its rule
(domain/floor_policy.py) and the liquidation formula of specs/hedging.md.

Unless a test says otherwise: an inverse short, the BTC price 10 000 USD, the liability and the
short 1 000 000 USD (100 BTC), no maintenance margin and an exchange leverage of 100 (so that
the equity over notional at distance d is d / (1 + d): 1/6 at 20 %, 1/5 at 25 %, 1/3 at 50 %),
no volatility floor, and levels floor 20 %, target 25 %, release 50 %.
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.collateral_policy import CollateralActionKind, CollateralInputs
from pegkeeper.domain.floor_policy import LiquidationFloorParams, LiquidationFloorPolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.leverage import HeldPosition, equity_for_distance, read_leverage
from pegkeeper.domain.outlook import Outlook
from pegkeeper.domain.venue import VenueBalances, VenuePosition

D = Decimal
P = D(1_000_000)  # cents per BTC
L = 100_000_000  # 1 000 000 USD
HOLD, IN, OUT = (
    CollateralActionKind.HOLD,
    CollateralActionKind.TRANSFER_TO_TRADING,
    CollateralActionKind.TRANSFER_TO_FUNDING,
)
DEPOSIT, WITHDRAW = CollateralActionKind.DEPOSIT, CollateralActionKind.WITHDRAW

PLAIN = LiquidationFloorParams(
    target_pct=D(25),
    maintenance_margin_rate=D(0),
    exchange_leverage=D(100),
    volatility_floor_annual_pct=D(0),
)
# One deposit delay of 15 minutes at a growth of 400 000 USD per hour and a volatility of 4 %
# per square root of an hour: G = 100 000 USD, u = 3 x 0.04 x sqrt(0.25) = 6 %.
STRESS = Outlook(D(40_000_000), D("0.04"), D(900))


def decide(
    collateral: str,
    funding: str,
    *,
    liability: int = L,
    exposure: int = -L,
    outlook: Outlook | None = None,
    params: LiquidationFloorParams = PLAIN,
) -> tuple[CollateralActionKind, Decimal, str]:
    inputs = CollateralInputs(liability, exposure, P, D(collateral), D(funding), outlook=outlook)
    decision = LiquidationFloorPolicy(params).decide(inputs)
    return decision.action.kind, decision.action.amount, decision.rule


# --- under stress -----------------------------------------------------------------------------
# Rise to 10 600: the hedge of 1 100 000 USD is 103.77358490566 BTC there; the short held now
# loses 1 000 000 x (1/10 000 - 1/10 600) = 5.66037735849 BTC. need(d) = 103.773584906 x
# d/(1+d) + 5.660377358: floor 22.95597484, target 26.41509434, release 40.25157233.
# The fall to 9 400 asks less: 117.0212766 x d/(1+d) - 6.38297872 (floor 13.12).
# Reserve R = target - 100/6 (the bare floor) = 9.74842767; 2R = 19.49685535.


def test_below_the_floor_the_trading_account_is_topped_up_to_the_target() -> None:
    # 26.41509434 - 22
    assert decide("22", "30", outlook=STRESS) == (IN, D("4.41509434"), "2-below-floor-transfer")
    # the funding account gives what it has
    assert decide("22", "3", outlook=STRESS)[:2] == (IN, D(3))


def test_with_the_funding_account_empty_the_deposit_also_refills_the_reserve() -> None:
    # 4.41509434 + 2R 19.49685535
    assert decide("22", "0", outlook=STRESS) == (DEPOSIT, D("23.91194969"), "2-below-floor-deposit")


def test_a_reserve_under_one_delay_of_stress_starts_a_deposit_to_twice_it() -> None:
    # 2R - 9 = 19.49685535 - 9
    assert decide("30", "9", outlook=STRESS) == (
        DEPOSIT,
        D("10.49685535"),
        "4-reserve-short-deposit",
    )
    assert decide("30", "9.75", outlook=STRESS) == (HOLD, D(0), "6-inside-bands")


def test_above_the_release_the_trading_account_gives_back_down_to_the_target() -> None:
    # floor(41 - 26.41509434)
    assert decide("41", "20", outlook=STRESS) == (OUT, D("14.58490566"), "3-above-release-out")
    assert decide("40.25", "20", outlook=STRESS)[0] is HOLD


def test_a_surplus_over_four_reserves_is_withdrawn_down_to_two() -> None:
    # 4R = 38.99371069; floor(40 - 19.49685535)
    assert decide("30", "40", outlook=STRESS) == (
        WITHDRAW,
        D("20.50314465"),
        "5-reserve-surplus-withdraw",
    )
    assert decide("30", "38.99", outlook=STRESS)[0] is HOLD


def test_stress_asks_more_than_calm() -> None:
    # calm: need(floor) = 100/6 = 16.67, so 22 holds; the stressed floor is 22.96
    assert decide("22", "10")[0] is HOLD
    assert decide("22", "10", outlook=STRESS)[0] is IN


def test_the_larger_of_liability_and_short_is_protected() -> None:
    # the hedge lags a liability of 1 200 000 USD: calm need(floor) = 120/6 = 20, target 24
    assert decide("19", "30", liability=120_000_000) == (IN, D(5), "2-below-floor-transfer")
    # over-hedged: the short of 1 200 000 USD counts
    assert decide("19", "30", exposure=-120_000_000) == (IN, D(5), "2-below-floor-transfer")


# --- the bands' hysteresis (calm: floor 16.667, target 20, release 33.333, R 3.333) ----------


def test_trading_account_bands_have_hysteresis() -> None:
    assert decide("20", "5")[0] is HOLD  # at the target
    assert decide("16.67", "5")[0] is HOLD  # still above the floor: no move back and forth
    assert decide("16.66", "5") == (IN, D("3.34"), "2-below-floor-transfer")  # to 20, not 16.67
    assert decide("33.33", "5")[0] is HOLD  # far above the target, under the release
    assert decide("33.34", "5") == (OUT, D("13.34"), "3-above-release-out")  # to 20


def test_funding_account_bands_have_hysteresis() -> None:
    assert decide("20", "3.34")[0] is HOLD  # R = 3.33333333
    assert decide("20", "3.33") == (DEPOSIT, D("3.33666667"), "4-reserve-short-deposit")  # to 2R
    assert decide("20", "13.33")[0] is HOLD  # under 4R = 13.33333333
    # floor(13.34 - 6.66666667)
    assert decide("20", "13.34") == (WITHDRAW, D("6.67333333"), "5-reserve-surplus-withdraw")


def test_small_moves_are_not_made() -> None:
    # a funding balance under 100 USD (0.01 BTC) is empty: deposit, not transfer
    assert decide("16", "0.009")[0] is DEPOSIT
    # liability 2 000 USD: target 0.04, R = 0.00666667; 2R - 0.006 is under 100 USD
    assert decide("0.04", "0.006", liability=200_000, exposure=-200_000) == (
        HOLD,
        D(0),
        "4-reserve-short-under-minimum",
    )
    # liability 10 000 USD: R = 0.03333333, 4R = 0.13333333; a surplus under 1 000 USD
    # (0.1 BTC) stays: 0.15 - 0.06666667
    assert decide("0.2", "0.15", liability=1_000_000, exposure=-1_000_000) == (
        HOLD,
        D(0),
        "5-reserve-surplus-withdraw-under-minimum",
    )


# --- nothing to hedge, first collateral --------------------------------------------------------


def test_unhedged_everything_goes_back() -> None:
    assert decide("1", "2", liability=4_900, exposure=0) == (OUT, D(1), "1-unhedged-collateral-out")
    assert decide("0", "2", liability=4_900, exposure=0) == (
        WITHDRAW,
        D(2),
        "1-unhedged-withdraw-all",
    )
    assert decide("0", "0.05", liability=4_900, exposure=0)[0] is HOLD  # under 1 000 USD


def test_the_first_collateral_comes_from_funding_else_onchain_with_the_reserve() -> None:
    assert decide("0", "50", exposure=0) == (IN, D(20), "2-below-floor-transfer")
    # 20 + 2R = 20 + 6.66666667
    assert decide("0", "0", exposure=0) == (DEPOSIT, D("26.66666667"), "2-below-floor-deposit")


def test_wanted_is_the_target_and_the_reserve_target() -> None:
    policy = LiquidationFloorPolicy(PLAIN)
    inputs = CollateralInputs(L, -L, P, D(0), D(0), outlook=STRESS)
    assert policy.wanted(inputs) == (D("26.41509434"), D("19.49685535"))


# --- maintenance margin, the exchange's initial margin, linear --------------------------------


def test_the_exchange_initial_margin_lifts_every_level() -> None:
    # defaults: MMR 0.4 %, leverage 4. Equity over notional at 20 %: 0.204 / 1.2 = 0.17, under
    # the initial margin 1/4: every level x 0.25 / 0.17. Floor 25 BTC; target at 30 %:
    # 100 x 0.304 / 1.3 x 0.25 / 0.17 = 34.38914027
    params = LiquidationFloorParams(volatility_floor_annual_pct=D(0))
    assert decide("24", "20", params=params) == (IN, D("10.38914027"), "2-below-floor-transfer")
    assert decide("24.99", "20", params=params)[0] is IN
    assert decide("25.01", "20", params=params)[0] is HOLD
    assert LiquidationFloorPolicy(params).high_bound_leverage == 4
    # leverage 10: no lift; the leverage at the floor is 1 / 0.17
    wide = LiquidationFloorParams(exchange_leverage=D(10))
    assert wide.lift == 1
    assert abs(LiquidationFloorPolicy(wide).high_bound_leverage - D(100) / 17) < D("1e-20")


def test_a_linear_short_in_usdt() -> None:
    # USDT at 1 USD (price_cents 100), BTC at 10 000. Equity over notional at d: d (no MMR).
    # Rise of 6 %: the short of 100 BTC kept + 100 000 USD / 10 600 = 1 160 000 USDT at the
    # moved mark, loss 60 000: need(d) = 1 160 000 d + 60 000 (floor 292 000, target 350 000).
    # The fall: 1 100 000 d - 60 000. Bare floor 200 000: R = 150 000.
    params = LiquidationFloorParams(
        target_pct=D(25),
        maintenance_margin_rate=D(0),
        exchange_leverage=D(100),
        volatility_floor_annual_pct=D(0),
        inverse=False,
    )
    policy = LiquidationFloorPolicy(params)

    def linear(collateral: int, funding: int) -> tuple[CollateralActionKind, Decimal]:
        inputs = CollateralInputs(
            L, -L, D(100), D(collateral), D(funding), mark_price_usd=D(10_000), outlook=STRESS
        )
        action = policy.decide(inputs).action
        return action.kind, action.amount

    assert linear(280_000, 400_000) == (IN, D(70_000))
    assert linear(300_000, 100_000) == (DEPOSIT, D(200_000))  # 2R - F
    assert linear(300_000, 200_000) == (HOLD, D(0))
    with pytest.raises(ValueError, match="mark_price_usd"):
        policy.decide(CollateralInputs(L, -L, D(100), D(1), D(1)))


@given(
    contracts=st.integers(1, 10**6),
    mark=st.integers(1_000, 200_000),
    distance_bp=st.integers(1, 9_000),
)
def test_equity_for_distance_gives_that_distance(
    contracts: int, mark: int, distance_bp: int
) -> None:
    """The inverse of the liquidation formula read_leverage uses."""
    distance = D(distance_bp) / 10_000
    mmr = D("0.004")
    equity = equity_for_distance(D(-contracts * 100), D(mark), mmr, distance, inverse=True)
    position = VenuePosition("BTC-USD-SWAP", D(-contracts), D(mark), D(mark), None)
    reading = read_leverage(
        [HeldPosition(BTC_USD_SWAP, position)],
        VenueBalances("BTC", equity, D(0), D(0)),
        D(mark),
        mmr,
    )
    assert reading.distance_pct is not None
    assert abs(reading.distance_pct - distance * 100) < D("1e-18")


# --- bad parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"floor_pct": D(30)}, "0 < floor_pct < target_pct < release_pct"),
        ({"release_pct": D(25)}, "0 < floor_pct < target_pct < release_pct"),
        ({"floor_pct": D(0)}, "0 < floor_pct"),
        ({"reserve_target_ratio": D("0.5")}, "1 <= reserve_target_ratio < reserve_release_ratio"),
        ({"reserve_release_ratio": D(2)}, "reserve_target_ratio < reserve_release_ratio"),
        ({"price_move_sigmas": D(-1)}, "price_move_sigmas must be >= 0"),
        ({"volatility_floor_annual_pct": D(-1)}, "volatility_floor_annual_pct must be >= 0"),
        ({"minimum_withdrawal_cents": -1}, "must be >= 0"),
        ({"maintenance_margin_rate": D(1)}, r"maintenance_margin_rate must be in \[0, 1\)"),
        ({"exchange_leverage": D("0.5")}, "exchange_leverage must be >= 1"),
    ],
)
def test_bad_parameters_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LiquidationFloorParams(**changes)  # type: ignore[arg-type]
