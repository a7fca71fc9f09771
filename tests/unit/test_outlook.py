"""The outlook estimator: the liability's growth, the mark's realised volatility and the
deposit delay, from what the collateral manager sees, with numbers worked out by hand."""

from decimal import Decimal

import pytest

from pegkeeper.domain.outlook import Outlook, OutlookEstimator, OutlookParams

D = Decimal
MINUTE = 60_000


def test_growth_is_the_rise_from_the_windows_low_per_hour_of_window() -> None:
    estimator = OutlookEstimator(OutlookParams(window_seconds=3_600, sample_seconds=60))
    estimator.observe_liability(0, 100_000_000)  # 1 000 000 USD
    estimator.observe_liability(30 * MINUTE, 130_000_000)
    estimator.observe_liability(45 * MINUTE, 120_000_000)
    # at 60 min the window [0, 60] starts at 1 000 000: a rise of 200 000 USD in one hour
    assert estimator.outlook(60 * MINUTE).liability_growth_cents_per_hour == 20_000_000
    # at 100 min the window [40, 100] starts at 1 300 000 and only fell since: no growth
    assert estimator.outlook(100 * MINUTE).liability_growth_cents_per_hour == 0


def test_growth_counts_the_level_before_a_change_in_the_window() -> None:
    estimator = OutlookEstimator(OutlookParams(window_seconds=1_800, sample_seconds=60))
    estimator.observe_liability(0, 100_000_000)
    estimator.observe_liability(50 * MINUTE, 110_000_000)  # the first change in [30, 60]
    # rise 100 000 USD in a window of half an hour: 200 000 USD per hour
    assert estimator.outlook(60 * MINUTE).liability_growth_cents_per_hour == 20_000_000
    # nothing changed in [60, 90]
    assert estimator.outlook(90 * MINUTE).liability_growth_cents_per_hour == 0


def test_volatility_from_the_returns_between_samples() -> None:
    estimator = OutlookEstimator(OutlookParams(window_seconds=3_600, sample_seconds=60))
    price = D(10_000)
    for minute in range(61):
        estimator.observe_price(minute * MINUTE, price)
        # ticks between samples are not samples: a spike 15 s later is not counted
        estimator.observe_price(minute * MINUTE + 15_000, price * 2)
        price *= D("1.01")
    # 60 returns of 1 % in one hour: sqrt(60 x 0.0001) = sqrt(0.006) = 0.0774597 per square
    # root of an hour, rounded up to two significant digits
    assert estimator.outlook(60 * MINUTE).volatility_per_sqrt_hour == D("0.078")


def test_volatility_keeps_only_the_window() -> None:
    estimator = OutlookEstimator(OutlookParams(window_seconds=600, sample_seconds=60))
    estimator.observe_price(0, D(100))
    estimator.observe_price(MINUTE, D(150))  # a 50 % jump, 20 minutes before
    for minute in range(2, 22):
        estimator.observe_price(minute * MINUTE, D(150))
    assert estimator.outlook(21 * MINUTE).volatility_per_sqrt_hour == 0
    # at 10 minutes the jump was in the window: 0.5^2 over the 10 minutes observed
    fresh = OutlookEstimator(OutlookParams(window_seconds=600, sample_seconds=60))
    fresh.observe_price(0, D(100))
    fresh.observe_price(MINUTE, D(150))
    fresh.observe_price(10 * MINUTE, D(150))
    # sqrt(1.5) = 1.2247
    assert fresh.outlook(10 * MINUTE).volatility_per_sqrt_hour == D("1.3")


def test_the_deposit_delay_is_the_longest_of_the_configured_and_the_recent_ones() -> None:
    estimator = OutlookEstimator(OutlookParams(deposit_delay_seconds=3_600))
    assert estimator.outlook(0).deposit_delay_seconds == 3_600
    estimator.observe_deposit(0, 5_400_000)
    estimator.observe_deposit(6_000_000, 7_200_000)  # 20 minutes: the longer one stays
    assert estimator.outlook(0).deposit_delay_seconds == 5_400
    for index in range(4):  # the 90-minute deposit is no longer among the last five
        estimator.observe_deposit(index * MINUTE, index * MINUTE + 600_000)
    assert estimator.outlook(0).deposit_delay_seconds == 3_600


def test_the_reading_changes_only_at_a_new_sample_and_beyond_two_digits() -> None:
    estimator = OutlookEstimator(OutlookParams(sample_seconds=60))
    estimator.observe_liability(0, 100_000)
    first = estimator.outlook(1_000)
    estimator.observe_liability(2_000, 150_000)
    assert estimator.outlook(59_999) is first  # the same object: a band found for it stays
    second = estimator.outlook(60_000)
    assert second.liability_growth_cents_per_hour == 50_000
    estimator.observe_liability(61_000, 150_400)  # 50 400 rounds up to 51 000
    third = estimator.outlook(120_000)
    assert third.liability_growth_cents_per_hour == 51_000
    estimator.observe_liability(121_000, 150_900)  # 50 900 too: the same reading, kept
    assert estimator.outlook(180_000) is third


def test_nothing_seen_is_no_growth_no_volatility() -> None:
    assert OutlookEstimator().outlook(0) == Outlook(D(0), D(0), D(3_600))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sample_seconds": 0}, "sample_seconds must be positive"),
        ({"window_seconds": 60}, "window_seconds must hold at least two samples of 60 s"),
        ({"deposit_delay_seconds": -1}, "deposit_delay_seconds must be >= 0"),
    ],
)
def test_bad_parameters_are_refused(changes: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutlookParams(**changes)


def test_a_negative_outlook_is_refused() -> None:
    with pytest.raises(ValueError, match="volatility_per_sqrt_hour must be >= 0"):
        Outlook(D(0), D(-1), D(0))
