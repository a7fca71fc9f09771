"""The carry-aware allocation (domain/carry.py) with hand-computed vectors, and its settings
(`[allocation.carry]`)."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from pegkeeper.backtest.venue_funding import load_venue_funding
from pegkeeper.config import load_settings
from pegkeeper.config.carry import CarrySettings
from pegkeeper.domain.carry import (
    CarryLeg,
    CarryParams,
    CarryState,
    decide_carry,
    future_carry_per_year,
    perpetual_carry_per_year,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.instruments import InstrumentKind
from tests.shared_data import shared_data

D = Decimal
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TENTH_OF_A_YEAR_MS = 36 * DAY_MS + 12 * HOUR_MS  # 36.5 days
PARAMS = CarryParams()  # 72 h, margin 5 bps, hold 24 h, steps of 0.02, blend 0.5, lead 24 h
PERP_KEY, FUTURE_KEY = "okx:BTC-USD-SWAP", "okx:BTC-USD-200424"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2020-03-12 21:00")
LONG_AGO = CarryState(last_step_ms=NOW - 25 * HOUR_MS, moving_to=PERP_KEY)


def perp(carry: str, weight: str, cost: str = "7") -> CarryLeg:
    return CarryLeg("BTC-USD-SWAP", "okx", InstrumentKind.SWAP, D(carry), D(cost), D(weight))


def future(carry: str, weight: str, expiry_ms: int = NOW + TENTH_OF_A_YEAR_MS) -> CarryLeg:
    instrument = "BTC-USD-200424"
    return CarryLeg(instrument, "okx", InstrumentKind.FUTURE, D(carry), D(7), D(weight), expiry_ms)


# -- carry per year ------------------------------------------------------------------------------


def test_funding_and_basis_are_annualised() -> None:
    # (0.5 * -0.00375 + 0.5 * -0.00012) per 8 h x 3 x 365
    assert perpetual_carry_per_year(D("-0.00375"), D("-0.00012"), 8, D("0.5")) == D("-2.118825")
    assert perpetual_carry_per_year(D("0.00001"), D("0.00003"), 1, D("0.25")) == D("0.219")
    # 1 % over a quarter of a year (91.25 days)
    assert future_carry_per_year(D(10_100), D(10_000), 0, 7_884_000_000) == D("0.04")


def test_a_futures_roll_cost_is_spread_over_its_life() -> None:
    # 0.03 - 14 bps (two trades of 7) over 0.1 yr
    assert future("0.03", "0").net_carry_per_year(NOW) == D("0.016")
    with_roll = CarryLeg(
        "F", "okx", InstrumentKind.FUTURE, D("0.03"), D(7), D(0), NOW + DAY_MS, D(1)
    )
    assert with_roll.net_carry_per_year(NOW) == D("0.03") - D("0.0365")  # 1 bp over 1/365 yr


# -- moving ---------------------------------------------------------------------------------------


def test_negative_funding_moves_the_hedge_to_a_future_with_positive_basis() -> None:
    bitmex = load_venue_funding(shared_data() / "funding" / "bitmex-xbtusd-funding-2016_2020.csv")
    next_rate = bitmex.predicted_rate_8h(NOW)  # -0.375 % on 2020-03-13 04:00Z
    mean_rate = bitmex.trailing_mean_rate_8h(NOW, 72 * HOUR_MS)
    carry = perpetual_carry_per_year(next_rate, mean_rate, 8, PARAMS.funding_blend)
    # the 9 rates of 2020-03-10 04:00Z .. 2020-03-12 20:00Z add up to -0.001082; the blend is
    # 0.3 of the next rate and 0.7 of that mean
    assert carry == (D("0.3") * D("-0.00375") + D("0.7") * D("-0.001082") / 9) * 1095
    basis = future_carry_per_year(D(5_015), D(5_000), NOW, NOW + TENTH_OF_A_YEAR_MS)
    assert basis == D("0.03")
    decision = decide_carry([perp(str(carry), "1"), future("0.03", "0")], NOW, CarryState(), PARAMS)
    assert decision.weights == (D("0.98"), D("0.02"))
    assert decision.move is not None
    assert (decision.move.from_key, decision.move.to_key) == (PERP_KEY, FUTURE_KEY)
    # (0.016 + 1.3240...) per year over 3 days: 110.1 bps, against 7 + 7 + 5
    assert decision.gain_bps is not None and round(decision.gain_bps, 1) == D("110.1")
    assert decision.cost_bps == D(19)


def test_an_advantage_below_the_costs_holds_and_above_them_moves() -> None:
    # 19 bps over 3 days needs 0.2312 per year more. Future net: carry - 0.014.
    below = decide_carry([perp("0.1095", "1"), future("0.35", "0")], NOW, CarryState(), PARAMS)
    assert below.weights == (D(1), D(0)) and below.move is None
    assert below.gain_bps is not None and round(below.gain_bps, 2) == D("18.62")  # 0.2265 x 3/365
    assert below.rule.startswith("holding: the gain over the horizon")
    assert below.next_state(NOW, LONG_AGO) == LONG_AGO
    above = decide_carry([perp("0.1095", "1"), future("0.36", "0")], NOW, CarryState(), PARAMS)
    assert above.weights == (D("0.98"), D("0.02"))
    assert above.gain_bps is not None and round(above.gain_bps, 2) == D("19.44")  # 0.2365 x 3/365


def test_hysteresis_both_ways() -> None:
    after_moving = CarryState(last_step_ms=NOW - 25 * HOUR_MS, moving_to=FUTURE_KEY)
    # the perpetual ahead by 0.1 a year (8.2 bps over 3 days): no way back
    back = decide_carry([perp("0.2", "0.5"), future("0.114", "0.5")], NOW, after_moving, PARAMS)
    assert back.move is None and back.weights == (D("0.5"), D("0.5"))
    # ahead by 0.4 a year (32.9 bps): back, a step at a time, once the hold is over
    legs = [perp("0.5", "0.5"), future("0.114", "0.5")]
    back = decide_carry(legs, NOW, after_moving, PARAMS)
    assert back.weights == (D("0.52"), D("0.48"))
    assert back.move is not None and back.move.to_key == PERP_KEY
    too_soon = CarryState(last_step_ms=NOW - HOUR_MS, moving_to=FUTURE_KEY)
    held = decide_carry(legs, NOW, too_soon, PARAMS)
    assert held.move is None and held.rule.endswith("waits the minimum hold after the last step")
    # ... while the next step of the same move does not wait
    onward = decide_carry([perp("0.1", "0.5"), future("0.514", "0.5")], NOW, too_soon, PARAMS)
    assert onward.weights == (D("0.48"), D("0.52"))
    assert onward.next_state(NOW, too_soon) == CarryState(NOW, FUTURE_KEY)


def test_steps_are_capped_by_the_share_and_by_what_the_source_holds() -> None:
    legs = [perp("-1", "0.015"), future("0.5", "0.985")]
    assert decide_carry(legs, NOW, LONG_AGO, PARAMS).weights == (D(0), D(1))
    wide = CarryParams(max_step_share=D("0.3"))
    legs = [perp("-1", "1"), future("0.5", "0")]
    assert decide_carry(legs, NOW, CarryState(), wide).weights == (D("0.7"), D("0.3"))


def test_nothing_held_yet_opens_on_the_best() -> None:
    decision = decide_carry([perp("0.1", "0"), future("0.5", "0")], NOW, CarryState(), PARAMS)
    assert decision.weights == (D(0), D(1)) and decision.move is None


def test_the_best_holding_everything_holds() -> None:
    decision = decide_carry([perp("0.1", "0"), future("0.5", "1")], NOW, CarryState(), PARAMS)
    assert decision.weights == (D(0), D(1)) and decision.move is None


# -- futures near expiry --------------------------------------------------------------------------


def test_a_future_within_the_roll_lead_is_left_whatever_its_carry() -> None:
    expiring = future("5", "0.4", expiry_ms=NOW + 23 * HOUR_MS)
    too_soon = CarryState(last_step_ms=NOW - HOUR_MS, moving_to=FUTURE_KEY)
    decision = decide_carry([perp("0.01", "0.6"), expiring], NOW, too_soon, PARAMS)
    assert decision.weights == (D("0.62"), D("0.38"))
    assert decision.rule == "leaving a future within its roll lead"
    # and receives nothing, however high its basis
    unheld = future("5", "0", expiry_ms=NOW + 23 * HOUR_MS)
    decision = decide_carry([perp("0.01", "1"), unheld], NOW, CarryState(), PARAMS)
    assert decision.weights == (D(1), D(0))


def test_an_expiring_future_moves_to_the_next_expiry() -> None:
    near = CarryLeg(
        "BTC-USD-200327", "okx", InstrumentKind.FUTURE, D("0.1"), D(7), D(1), NOW + HOUR_MS
    )
    far = CarryLeg(
        "BTC-USD-200626", "okx", InstrumentKind.FUTURE, D("0.1"), D(7), D(0), NOW + 105 * DAY_MS
    )
    assert decide_carry([near, far], NOW, CarryState(), PARAMS).weights == (D("0.98"), D("0.02"))
    with pytest.raises(InvalidInput, match="no candidate leg"):
        decide_carry([near], NOW, CarryState(), PARAMS)


# -- refusals and settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: decide_carry([perp("0", "0.5")], NOW, CarryState(), PARAMS), "add up to 1"),
        (
            lambda: decide_carry([perp("0", "1"), perp("0", "0")], NOW, CarryState(), PARAMS),
            "okx:BTC-USD-SWAP more than once",
        ),
        (lambda: CarryLeg("F", "okx", InstrumentKind.FUTURE, D(0), D(1), D(1)), "needs an expiry"),
        (lambda: perp("0", "1", cost="-1"), "costs must be >= 0 bps"),
        (lambda: perp("0", "1.5"), "the weight must be in [0, 1]"),
        (lambda: CarryParams(max_step_share=D(0)), "max_step_share must be in (0, 1]"),
        (lambda: CarryParams(funding_blend=D(2)), "funding_blend must be in [0, 1]"),
        (lambda: CarryParams(horizon_ms=0), "the carry horizon must be > 0 ms"),
        (lambda: CarryParams(min_hold_ms=-1), "min_hold_ms and roll_lead_ms must be >= 0"),
        (lambda: CarryParams(margin_bps=D(-1)), "margin_bps must be >= 0"),
        (lambda: perp("NaN", "1"), "carry_per_year must be a number"),
        (lambda: CarryLeg("", "okx", InstrumentKind.SWAP, D(0), D(0), D(1)), "an instrument_id"),
        (lambda: decide_carry([], NOW, CarryState(), PARAMS), "at least one leg"),
        (lambda: perpetual_carry_per_year(D(0), D(0), 0, D(1)), "interval must be > 0 hours"),
        (lambda: perpetual_carry_per_year(D(0), D(0), 8, D(-1)), "funding_blend must be in"),
        (lambda: future_carry_per_year(D(1), D(0), 5, 6), "prices must be > 0"),
        (lambda: future_carry_per_year(D(1), D(1), 5, 5), "not after now"),
    ],
)
def test_bad_inputs_are_refused_naming_them(make: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        make()
    assert message in str(refused.value)


def test_the_settings_give_the_domain_defaults_and_refuse_bad_values() -> None:
    assert CarrySettings().params(roll_lead_hours=24) == CarryParams()
    assert CarrySettings().trade_cost_bps(D("0.0005")) == D(7)  # 5 bps taker + 2 slippage
    assert load_settings().allocation.carry == CarrySettings()
    with pytest.raises(ValidationError, match="max_step_share"):
        CarrySettings(max_step_share=D(0))
    with pytest.raises(ValidationError, match="funding_blend"):
        CarrySettings(funding_blend=D("1.5"))


def test_half_next_half_mean_forecasts_three_days_of_funding_best() -> None:
    """The default blend and window, on Binance 2020-2026 (config/carry.py)."""
    binance = load_venue_funding(
        shared_data() / "funding" / "binance-btcusdt-funding-8h-2020_2026.csv"
    )
    window = 72 * HOUR_MS
    errors: dict[str, list[float]] = {"next": [], "mean": [], "blend": []}
    for now in binance.settle_ms[100:-10]:
        coming = binance.settled_between(now, now + window)
        actual = float(sum(coming, D(0)) / len(coming))
        next_rate = float(binance.predicted_rate_8h(now))
        mean_rate = float(binance.trailing_mean_rate_8h(now, window))
        for name, forecast in [("next", next_rate), ("mean", mean_rate)]:
            errors[name].append(abs(forecast - actual))
        errors["blend"].append(abs((next_rate + mean_rate) / 2 - actual))
    per_year = {name: sum(e) / len(e) * 1095 for name, e in errors.items()}
    assert per_year["blend"] == pytest.approx(0.049, abs=0.001)
    assert per_year["next"] == pytest.approx(0.059, abs=0.001)
    assert per_year["mean"] == pytest.approx(0.059, abs=0.001)
