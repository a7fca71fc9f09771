"""The basis of a dated future in the backtester: the model, its calibration on the real CME
data (README of the shared data, futures/), and its refusals."""

import re
from decimal import Decimal
from statistics import median

import pytest
from pydantic import ValidationError

from pegkeeper.backtest.basis import BasisModel, TrailingDrawdown
from pegkeeper.backtest.basis_calibration import BasisCalibration, calibrate_basis, main
from pegkeeper.config.basis import BasisSettings
from tests.shared_data import shared_data

D = Decimal
DAY_MS = 86_400_000
NOW_MS = 1_600_000_000_000


@pytest.fixture(scope="module")
def fit() -> BasisCalibration:
    return calibrate_basis(shared_data())


# -- the model ------------------------------------------------------------------------------------


def test_a_calm_future_trades_above_spot_by_the_term_structure() -> None:
    model = BasisModel()
    # 73 days = 0.2 yr: annualised 0.102 - 0.063 * 0.2 = 0.0894; basis 0.0894 * 0.2 = 0.01788
    assert model.annualised_basis(73 * DAY_MS) == pytest.approx(0.0894, abs=1e-15)
    assert model.future_price(D(10_000), NOW_MS, NOW_MS + 73 * DAY_MS, 0.1) == D("10178.80")
    # a year out the annualised basis stays at its 183-day value: 0.102 - 0.063 * 183 / 365
    year_out = model.future_price(D(10_000), NOW_MS, NOW_MS + 365 * DAY_MS, 0.0)
    assert year_out == D("10704.14")


def test_a_crash_discounts_the_future_beyond_the_threshold() -> None:
    model = BasisModel()
    expiry_ms = NOW_MS + 73 * DAY_MS
    # drawdown 0.325: 0.30 * (0.325 - 0.225) = 0.03 off; 0.01788 - 0.03 = -0.01212
    assert model.future_price(D(10_000), NOW_MS, expiry_ms, 0.325) == D("9878.80")
    # at the threshold nothing is taken off
    assert model.future_price(D(10_000), NOW_MS, expiry_ms, 0.225) == D("10178.80")


def test_the_price_converges_to_spot_at_expiry() -> None:
    model = BasisModel()
    expiry_ms = NOW_MS + 10 * DAY_MS
    assert model.future_price(D("8123.45"), expiry_ms, expiry_ms, 0.5) == D("8123.45")
    # 3.65 days = 0.01 yr: calm 0.10137 * 0.01 = 0.0010137; discount 0.03 * 3.65 / 7
    # = 0.015642857...; basis -0.014629157... -> 9853.708...
    half_faded = model.future_price(D(10_000), expiry_ms - 365 * DAY_MS // 100, expiry_ms, 0.325)
    assert half_faded == D("9853.71")
    one_minute = model.future_price(D(10_000), expiry_ms - 60_000, expiry_ms, 0.325)
    assert abs(one_minute - 10_000) <= D("0.05")


def test_the_drawdown_is_from_the_highest_price_of_the_window() -> None:
    tracker = TrailingDrawdown(window_ms=3 * 3_600_000)
    hour = 3_600_000
    seen = [tracker.update(0, 100.0), tracker.update(hour, 80.0), tracker.update(2 * hour, 90.0)]
    seen.append(tracker.update(3 * hour, 72.0))  # the 100 at 0 h is still in the window
    seen.append(tracker.update(4 * hour, 72.0))  # now the high is the 90 at 2 h
    seen.append(tracker.update(6 * hour, 99.0))
    assert seen == pytest.approx([0, 0.2, 0.1, 0.28, 0.2, 0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"level_per_year": D(1)}, "level_per_year"),
        ({"crash_threshold": D("-0.1")}, "crash_threshold"),
        ({"crash_slope": D(2), "crash_threshold": D("0.4")}, "crash_slope * (1 - crash_threshold)"),
        ({"slope_per_year": D("-0.9"), "level_per_year": D("-0.9")}, "at the longest term"),
        ({"crash_fade_days": 0}, "crash_fade_days"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_parameters_are_refused_naming_them(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        BasisSettings.model_validate(changes)


@pytest.mark.parametrize(
    ("spot", "now_ms", "drawdown", "message"),
    [
        (D(0), NOW_MS, 0.0, "expected a spot price > 0 USD, got 0"),
        (D(100), NOW_MS + DAY_MS + 1, 0.0, "the future expired"),
        (D(100), NOW_MS, 1.0, r"expected a drawdown in \[0, 1\)"),
        (D(100), NOW_MS, -0.1, r"expected a drawdown in \[0, 1\)"),
        (D(100), NOW_MS, float("nan"), r"expected a drawdown in \[0, 1\)"),
    ],
)
def test_bad_inputs_are_refused(spot: Decimal, now_ms: int, drawdown: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BasisModel().future_price(spot, now_ms, NOW_MS + DAY_MS, drawdown)


def test_prices_must_come_in_time_order_and_be_positive() -> None:
    tracker = TrailingDrawdown(3_600_000)
    tracker.update(10, 1.0)
    with pytest.raises(ValueError, match="time order"):
        tracker.update(9, 1.0)
    with pytest.raises(ValueError, match="expected a price > 0 USD, got 0"):
        tracker.update(11, 0.0)
    with pytest.raises(ValueError, match="expected a window > 0 ms, got 0"):
        TrailingDrawdown(0)


def test_an_expiry_too_far_for_a_falling_curve_is_refused() -> None:
    falling = BasisModel(BasisSettings(level_per_year=D("-0.5"), slope_per_year=D(0)))
    assert falling.drawdown_window_ms == 72 * 3_600_000
    # -0.5 a year over 3 years: -150 %
    with pytest.raises(ValueError, match="no positive price"):
        falling.future_price(D(100), 0, 3 * 365 * DAY_MS, 0.0)
    with pytest.raises(ValueError, match="expected a time to expiry >= 0 ms"):
        falling.annualised_basis(-1)


# -- the calibration on the real data ------------------------------------------------------------


def test_the_calibration_prints_the_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(shared_data())]) == 0
    printed = capsys.readouterr().out
    assert '[backtest.basis]\nlevel_per_year = "0.102"\nslope_per_year = "-0.063"' in printed
    assert main(["calibrate"]) == 2


def test_the_calibration_gives_the_committed_defaults(fit: BasisCalibration) -> None:
    defaults = BasisSettings()
    assert fit.level_per_year == pytest.approx(float(defaults.level_per_year), abs=0.001)
    assert fit.slope_per_year == pytest.approx(float(defaults.slope_per_year), abs=0.001)
    assert fit.crash_threshold == pytest.approx(float(defaults.crash_threshold), abs=0.005)
    assert fit.crash_slope == pytest.approx(float(defaults.crash_slope), abs=0.01)
    assert fit.settings() == defaults


def test_the_front_month_basis_is_the_readmes(fit: BasisCalibration) -> None:
    # README: 439 non-expiry days, median +0.37 %, min -2.00 % on 2020-03-13, 48 negative
    bases = sorted(p.basis for p in fit.front_month)
    assert len(bases) == 439
    assert median(bases) == pytest.approx(0.0037, abs=0.00005)
    assert sum(1 for b in bases if b < 0) == 48
    lowest = min(fit.front_month, key=lambda p: p.basis)
    assert (lowest.day, round(lowest.basis, 4)) == ("2020-03-13", -0.0200)
    march = {p.day: round(p.basis, 4) for p in fit.front_month if p.day.startswith("2020-03")}
    assert [march[d] for d in ("2020-03-11", "2020-03-12", "2020-03-16")] == [
        0.0028,
        -0.0034,
        -0.0035,
    ]


def test_the_term_structure_is_the_readmes(fit: BasisCalibration) -> None:
    # README: medians 1M +0.88 %, 2M +1.55 %, 3M +2.17 %, 6M +3.56 %; front month at 15 days
    by_term = {round(days): basis for days, basis in fit.medians}
    assert by_term[15] == pytest.approx(0.0037, abs=0.00005)
    for days, readme in [(30, 0.0088), (61, 0.0155), (91, 0.0217), (182, 0.0356)]:
        assert by_term[days] == pytest.approx(readme, abs=0.0003)
    # the model at those terms, calm: within 0.15 percentage points of each median
    model = BasisModel()
    for days, basis in fit.medians:
        assert model.basis(0, round(days * DAY_MS), 0.0) == pytest.approx(basis, abs=0.0015)


def test_the_crash_days_are_the_readmes_and_the_model_follows_them(fit: BasisCalibration) -> None:
    model = BasisModel()
    front = {p.day: p for p in fit.front_month}
    observed = [
        (front["2020-03-12"], -0.0034, 0.0055),
        (front["2020-03-13"], -0.0200, 0.0055),
        (fit.constant_maturity_3m[1], -0.0122, 0.0055),  # 3M on 2020-03-13
        (fit.late_2022[0], -0.0055, 0.0055),  # 2022-11-09, 16:00 Chicago
        # 2022-11-10: a drawdown of 14 % gives no discount; the basis was -0.38 %
        (fit.late_2022[1], -0.0038, 0.008),
    ]
    for point, readme, tolerance in observed:
        assert round(point.basis, 4) == readme, point.day
        modelled = model.basis(0, round(point.term_days * DAY_MS), point.drawdown)
        assert modelled == pytest.approx(readme, abs=tolerance), point.day
    assert [p.day for p in fit.late_2022] == ["2022-11-09", "2022-11-10"]
    assert fit.constant_maturity_3m[1].day == "2020-03-13"
