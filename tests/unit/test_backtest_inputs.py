"""The backtester's inputs: price files, funding histories and user flows, and their errors."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from pegkeeper.backtest.flows import (
    FlowSpecError,
    PoissonFlows,
    generate_flows,
    parse_flow_rows,
    parse_flow_spec,
)
from pegkeeper.backtest.funding_rates import (
    FundingFileError,
    FundingSchedule,
    boundaries_between,
    parse_funding,
)
from pegkeeper.backtest.prices import PriceFileError, load_prices, parse_prices
from tests.shared_data import shared_data

T0 = 1_583_884_800_000  # 2020-03-11 00:00 UTC
HEADER = "open_time_ms,open,high,low,close,volume"


def bars(*rows: str) -> list[str]:
    return [HEADER, *rows]


def test_each_bar_is_four_ticks_in_the_order_the_bar_most_likely_went() -> None:
    path = parse_prices(bars(f"{T0},100,110,90,105,1.5", f"{T0 + 60_000},105,106,80,81,2"), "test")
    # up bar: open, low, high, close; down bar: open, high, low, close; 15 s apart
    assert path.tick_prices == [
        Decimal(p) for p in ["100", "90", "110", "105", "105", "106", "80", "81"]
    ]
    assert path.tick_ms.tolist() == [T0 + i * 15_000 for i in range(8)]
    assert path.bar_volume.tolist() == [1.5, 2.0] and path.filled_bars == 0
    assert path.end_ms == T0 + 105_000


def test_the_price_between_ticks_is_linear_to_the_cent() -> None:
    path = parse_prices(bars(f"{T0},100,110,90,105,1"), "test")
    assert path.price_at(T0) == Decimal(100)
    assert path.price_at(T0 + 5_000) == Decimal("96.67")  # 100 - 10 * 5/15
    assert path.price_at(T0 + 22_500) == Decimal(100)  # halfway from 90 to 110
    assert path.price_at(T0 + 99_000) == Decimal(105)  # after the last tick


def test_timestamps_as_text_are_read_as_utc() -> None:
    path = parse_prices(
        ["timestamp,open,high,low,close,volume", "2020-03-11 00:00:00.000000,1,1,1,1,5"], "t"
    )
    assert path.start_ms == T0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            (f"{T0},1,1,1,1,1", f"{T0 + 120_000},1,1,1,1,1"),
            "line 3: column time: a gap of 1 minute",
        ),
        ((f"{T0},1,1,1,1,1", f"{T0},1,1,1,1,1"), "line 3: column time: duplicate bar"),
        ((f"{T0 + 60_000},1,1,1,1,1", f"{T0},1,1,1,1,1"), "line 3: column time: unsorted"),
        ((f"{T0},1,1,1,abc,1",), "line 2: column close: not a positive number: 'abc'"),
        ((f"{T0},1,1,1,-1,1",), "line 2: column close: not a positive number"),
        ((f"{T0},1,1,1,1,lots",), "line 2: column volume: not a number >= 0"),
        ((f"{T0},10,11,9.5,9,1",), "line 2: column high/low: low 9.5 and high 11 do not enclose"),
        ((f"{T0 + 1},1,1,1,1,1",), "line 2: column time: 1583884800001 is not on a whole minute"),
        ((f"{T0},1,1",), "line 2: expected at least 6 columns, got 3"),
        (("yesterday,1,1,1,1,1",), "line 2: column time: 'yesterday' is neither epoch ms"),
        ((), "line 2: no bars after the header"),
    ],
)
def test_a_bad_price_file_is_refused_naming_the_line(rows: tuple[str, ...], message: str) -> None:
    with pytest.raises(PriceFileError) as refused:
        parse_prices(bars(*rows), "prices.csv")
    assert str(refused.value).startswith("prices.csv: ") and message in str(refused.value)


def test_a_header_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(PriceFileError, match="line 1: the header lacks column\\(s\\) close"):
        parse_prices(["open_time_ms,open,high,low", f"{T0},1,1,1"], "p")


def test_gaps_are_filled_forward_when_asked() -> None:
    path = parse_prices(
        bars(f"{T0},100,110,90,105,1", f"{T0 + 180_000},105,105,105,105,1"), "t", fill_gaps=True
    )
    assert path.filled_bars == 2 and path.bars == 4
    # the two missing minutes are flat at the previous close, without volume
    assert path.tick_prices[4:12] == [Decimal(105)] * 8
    assert path.bar_volume.tolist() == [1, 0, 0, 1]


# -- funding -------------------------------------------------------------------------------------

B1 = T0 + 8 * 3_600_000  # 08:00 UTC, an OKX settlement


def test_binance_times_are_rounded_to_the_hour_they_settle() -> None:
    schedule = parse_funding(
        ["calc_time,funding_interval_hours,last_funding_rate", f"{B1 + 47},8,-0.00015149"], "b"
    )
    assert schedule.times_ms == (B1,) and schedule.rate_at(B1) == Decimal("-0.00015149")


def test_a_bitmex_rate_applies_to_the_okx_settlement_after_it() -> None:
    schedule = parse_funding(
        [
            "timestamp,symbol,fundingInterval,fundingRate,fundingRateDaily",
            "2020-03-11T04:00:00Z,XBTUSD,2000-01-01T08:00:00Z,1e-4,3e-4",
            "2020-03-11T12:00:00Z,XBTUSD,2000-01-01T08:00:00Z,5.3e-5,1.59e-4",
        ],
        "x",
    )
    assert schedule.rate_at(B1) == Decimal("0.0001")  # fixed at 04:00, settled at 08:00
    assert schedule.rate_at(B1 + 8 * 3_600_000) == Decimal("0.000053")  # 12:00 -> 16:00


def test_a_funding_file_that_does_not_cover_the_window_is_refused() -> None:
    schedule = parse_funding(["funding_time_ms,rate", f"{B1},0.0001"], "f.csv")
    schedule.check_covers(T0, B1 + 60_000)  # the window holds one settlement: 08:00
    with pytest.raises(FundingFileError) as refused:
        schedule.check_covers(T0, B1 + 8 * 3_600_000)  # and 16:00, which the file lacks
    assert "no funding rate for the settlement at 2020-03-11 16:00 UTC" in str(refused.value)
    assert "the file covers 2020-03-11 08:00 UTC to 2020-03-11 08:00 UTC" in str(refused.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["when,what"], "line 1: unknown header when,what"),
        (["funding_time_ms,rate", f"{B1},0.1", f"{B1},0.1"], "line 3: column funding_time_ms"),
        (["funding_time_ms,rate", f"{B1},x"], "line 2: column rate: not a rate"),
        (["funding_time_ms,rate"], "line 2: no rates after the header"),
    ],
)
def test_a_bad_funding_file_is_refused(lines: list[str], message: str) -> None:
    with pytest.raises(FundingFileError, match=message):
        parse_funding(lines, "f.csv")


def test_the_constant_rate_and_the_boundaries() -> None:
    assert FundingSchedule.constant_rate(Decimal("0.0002")).rate_at(B1) == Decimal("0.0002")
    assert boundaries_between(T0, B1) == [B1]  # (00:00, 08:00]: 00:00 itself is excluded
    assert boundaries_between(T0 - 1, B1 - 1) == [T0]


# -- flows ---------------------------------------------------------------------------------------


def falling_path(minutes: int = 240) -> list[str]:
    """Flat for an hour, then down 1 % a minute."""
    rows, price = [], 10_000.0
    for i in range(minutes):
        close = price if i < 60 else price * 0.99
        rows.append(f"{T0 + i * 60_000},{price},{price},{close},{close},1")
        price = close
    return bars(*rows)


def test_flow_specs_are_parsed_or_refused() -> None:
    assert parse_flow_spec("none") is None
    assert parse_flow_spec("poisson") == PoissonFlows()
    spec = parse_flow_spec("poisson:rate_per_hour=60,stress=2,seed=3")
    assert spec == PoissonFlows(rate_per_hour=60, stress=2, seed=3)
    for bad, message in [
        ("poisson:rate=1", "not key=value with a key among rate_per_hour"),
        ("poisson:sigma=x", "sigma='x' is not a number"),
        ("poisson:seed=1.5", "whole numbers"),
        ("poisson:rate_per_hour=0", "must be positive"),
        ("/no/such/file.csv", "neither `none`"),
    ]:
        with pytest.raises(FlowSpecError, match=message):
            parse_flow_spec(bad)


def test_generated_flows_are_reproducible_from_their_seed() -> None:
    path = parse_prices(falling_path(), "t")
    spec = PoissonFlows(rate_per_hour=120, seed=11)
    first = generate_flows(spec, path, 10_000_000, 10**9)
    assert first == generate_flows(spec, path, 10_000_000, 10**9)
    other = generate_flows(PoissonFlows(rate_per_hour=120, seed=12), path, 10_000_000, 10**9)
    assert other.delta_cents != first.delta_cents
    assert list(first.ts_ms) == sorted(first.ts_ms)
    assert all(path.start_ms <= t < path.start_ms + 240 * 60_000 for t in first.ts_ms)


def test_sales_never_take_the_liability_below_zero() -> None:
    path = parse_prices(falling_path(), "t")
    flows = generate_flows(
        PoissonFlows(rate_per_hour=600, median_usd=5_000, drift_usd_per_day=-(10**9)),
        path,
        100_000,
        10**9,
    )
    balances = np.cumsum((100_000, *flows.delta_cents))
    assert balances.min() >= 0 and min(flows.delta_cents) < 0


def test_stress_brings_buys_as_the_price_falls() -> None:
    path = parse_prices(falling_path(), "t")
    calm = generate_flows(PoissonFlows(rate_per_hour=30, seed=5), path, 10**8, 10**9)
    stressed = generate_flows(PoissonFlows(rate_per_hour=30, stress=1, seed=5), path, 10**8, 10**9)
    first_hour = path.start_ms + 61 * 60_000  # flat until then: no drawdown, no extra buys
    assert sum(t < first_hour for t in stressed.ts_ms) == sum(t < first_hour for t in calm.ts_ms)
    # three hours down 1 % a minute (drawdowns of 1 % to 45 %): many times the calm arrivals
    assert len(stressed) > 10 * len(calm)
    assert sum(stressed.delta_cents) > sum(calm.delta_cents) + 10**7


def test_the_buy_probability_gives_the_drift() -> None:
    spec = PoissonFlows(rate_per_hour=10, median_usd=100, sigma=0, drift_usd_per_day=4_800)
    # 240 trades a day of 100 USD: (2p - 1) * 24 000 = 4 800 -> p = 0.6
    assert spec.buy_probability == pytest.approx(0.6)


def test_a_flow_file_is_checked_line_by_line() -> None:
    header = "ts_ms,delta_cents"
    flows = parse_flow_rows([header, f"{T0},500", f"{T0 + 10},-300"], "f", T0, T0 + 60, 0, 10**6)
    assert flows.delta_cents == (500, -300)
    for rows, message in [
        ([f"{T0},500", f"{T0 + 5},-501"], "line 3: column delta_cents: a sale of 501 cents"),
        ([f"{T0 - 1},5"], "line 2: column ts_ms: 1583884799999 is outside the price window"),
        ([f"{T0 + 5},5", f"{T0},5"], "line 3: column ts_ms: unsorted"),
        ([f"{T0},0"], "line 2: column delta_cents: 0 must be non-zero"),
        ([f"{T0},1.5"], "line 2: expected whole numbers"),
    ]:
        with pytest.raises(FlowSpecError, match=message):
            parse_flow_rows([header, *rows], "f", T0, T0 + 60, 0, 10**6)
    with pytest.raises(FlowSpecError, match="line 1: expected the header ts_ms,delta_cents"):
        parse_flow_rows(["when,cents"], "f", T0, T0 + 60, 0, 10**6)


def test_the_shared_stress_file_has_the_low_its_readme_states() -> None:
    path = load_prices(shared_data() / "btc" / "binance-btcusdt-1m-2020-03-11_14.csv")
    # README: 5 760 rows, low 3 621.81 (03-13 02:16), high 7 988.00 (03-11 22:40)
    assert path.bars == 5_760 and path.filled_bars == 0
    assert float(path.bar_low_usd.min()) == 3621.81 and float(path.bar_high_usd.max()) == 7988.0
