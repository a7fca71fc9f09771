"""Funding of several venues for the carry backtest: Deribit hourly, the six-venue long file,
the 8-hour layouts; the next rate, the trailing mean and the settlement schedule, checked
against rows of the real files (values copied from the files by hand)."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.backtest.funding_rates import FundingFileError
from pegkeeper.backtest.venue_funding import (
    VenueFunding,
    load_venue_funding,
    parse_venue_funding,
)
from tests.shared_data import shared_data

D = Decimal
HOUR_MS = 3_600_000
FUNDING = shared_data() / "funding"
SIX_VENUES = FUNDING / "btcusdt-funding-6venues-utc.csv"
VENUES = "venue,funding_time_ms,nominal_interval_hours,funding_rate"
DERIBIT = "time_dt,timestamp,interest_8h,interest_1h"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def mean(*texts: str) -> Decimal:
    return sum((D(t) for t in texts), D(0)) / len(texts)


@pytest.fixture(scope="module")
def deribit() -> VenueFunding:
    return load_venue_funding(FUNDING / "deribit-btc-perp-funding-1h-2019_2021.csv")


# -- Deribit, hourly -----------------------------------------------------------------------------


def test_deribit_rows_are_sorted_by_time(deribit: VenueFunding) -> None:
    assert (deribit.venue, deribit.interval_hours, len(deribit.rates)) == ("deribit", 1, 16_008)
    # stored as 01:00Z then 00:00Z on 2019-10-27 (the clock change)
    at = deribit.settle_ms.index(ms("2019-10-27 00:00"))
    assert deribit.settle_ms[at + 1] == ms("2019-10-27 01:00")
    assert deribit.rates[at : at + 2] == (D("2.7304620360302412e-05"), D("2.5018382046969737e-05"))


def test_deribit_next_and_last_rates_are_hourly_times_eight(deribit: VenueFunding) -> None:
    now = ms("2020-03-12 10:30")
    assert deribit.predicted_rate_8h(now) == D("-0.00026750404459270795") * 8  # 11:00Z
    assert deribit.last_rate_8h(now) == D("9.129151219235982e-06") * 8  # 10:00Z
    three_hours = mean(
        "-0.00026750404459270795", "-0.0006248925465348567", "-0.0006059921619257594"
    )
    assert deribit.trailing_mean_rate_8h(ms("2020-03-12 13:00"), 3 * HOUR_MS) == three_hours * 8


def test_deribit_missing_hours_are_bridged(deribit: VenueFunding) -> None:
    # 2020-08-27 06:00Z and 07:00Z are missing: from 05:30Z the next settlement is 08:00Z
    assert deribit.predicted_rate_8h(ms("2020-08-27 05:30")) == D("1.891509107741882e-05") * 8


def test_deribit_settles_the_simulator_every_8_hours(deribit: VenueFunding) -> None:
    schedule = deribit.schedule()
    hours = [  # 09:00Z to 16:00Z on 2020-03-12
        "9.644817527169743e-08",
        "9.129151219235982e-06",
        "-0.00026750404459270795",
        "-0.0006248925465348567",
        "-0.0006059921619257594",
        "-0.00024096495077741142",
        "-0.00014166172460505932",
        "-0.00018049888853886368",
    ]
    assert schedule.rate_at(ms("2020-03-12 16:00")) == mean(*hours) * 8


# -- the six-venue long file ---------------------------------------------------------------------


def test_bybit_around_the_ftx_collapse() -> None:
    bybit = load_venue_funding(SIX_VENUES, "bybit")
    assert (bybit.interval_hours, bybit.settle_ms[0]) == (8, ms("2021-01-01 00:00"))
    assert bybit.predicted_rate_8h(ms("2022-11-09 01:00")) == D("-0.0000553")  # 08:00Z
    assert bybit.last_rate_8h(ms("2022-11-09 01:00")) == D("-0.00013242")  # 00:00Z
    day = bybit.trailing_mean_rate_8h(ms("2022-11-09 16:00"), 24 * HOUR_MS)
    assert day == mean("-0.00013242", "-0.0000553", "-0.00011464")


def test_dydx_is_hourly() -> None:
    dydx = load_venue_funding(SIX_VENUES, "dydx")
    assert dydx.interval_hours == 1
    assert dydx.predicted_rate_8h(ms("2022-11-08 10:30")) == D("-0.0000057780") * 8
    hours = ["-0.0000120336", "-0.0000044345", "-0.0000057780", "-0.0000005369"]
    hours += ["0.0000037359", "0.0000025370", "0.0000214389", "0.0000293678"]
    assert dydx.schedule().rate_at(ms("2022-11-08 16:00")) == mean(*hours) * 8


def test_kucoin_settles_at_4_12_20_and_pays_at_the_next_8_hour_boundary() -> None:
    schedule = load_venue_funding(SIX_VENUES, "kucoin").schedule()
    assert schedule.rate_at(ms("2022-11-09 08:00")) == D("0.0001")  # fixed 04:00Z
    assert schedule.rate_at(ms("2022-11-09 16:00")) == D("-2e-05")  # fixed 12:00Z


def test_a_missing_day_of_htx_is_bridged_but_a_longer_gap_refused() -> None:
    htx = load_venue_funding(SIX_VENUES, "htx")
    # 2021-02-19 16:00Z and 2021-02-20 00:00Z are missing
    assert htx.predicted_rate_8h(ms("2021-02-19 08:30")) == D("0.000589053288222451")
    lines = ["funding_time_ms,rate", f"{ms('2021-01-01 00:00')},0.0001"]
    lines.append(f"{ms('2021-01-02 08:00')},0.0002")
    with pytest.raises(FundingFileError, match="no settlement within 24 h after 2021-01-01 01:00"):
        parse_venue_funding(lines, "f.csv").predicted_rate_8h(ms("2021-01-01 01:00"))


# -- the 8-hour layouts --------------------------------------------------------------------------


def test_bitmex_on_12_march_2020() -> None:
    bitmex = load_venue_funding(FUNDING / "bitmex-xbtusd-funding-2016_2020.csv")
    now = ms("2020-03-12 21:00")
    assert bitmex.venue == "bitmex"
    assert bitmex.predicted_rate_8h(now) == D("-0.00375")  # settles 2020-03-13 04:00Z
    assert bitmex.last_rate_8h(now) == D("-0.001691")  # settled 2020-03-12 20:00Z
    three_days = mean(
        "1e-4", "1e-4", "-4.4e-5", "1e-4", "5.3e-5", "1e-4", "1e-4", "1e-4", "-0.001691"
    )
    assert bitmex.trailing_mean_rate_8h(now, 72 * HOUR_MS) == three_days


def test_binance_keeps_its_schedule() -> None:
    binance = load_venue_funding(FUNDING / "binance-btcusdt-funding-8h-2020_2026.csv", "binance")
    assert binance.schedule().rate_at(ms("2020-01-01 08:00")) == D("-0.00012383")
    assert binance.predicted_rate_8h(ms("2020-01-01 00:00")) == D("-0.00012383")


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "venue", "message"),
    [
        ([VENUES, "gate,1,8,0.1"], None, "no venue chosen; the file holds gate"),
        ([VENUES, "gate,1,8,0.1"], "okx", "no rows of venue 'okx'; the file holds gate"),
        ([VENUES, "gate,1,4,0.1"], "gate", "settles every 4 h; expected 1 or 8"),
        ([VENUES, "gate,2,8,0.1", "gate,1,8,0.1"], "gate", "line 3: column funding_time_ms"),
        ([DERIBIT, "a,3600000,0,0.1", "b,3600000,0,0.1"], None, "01:00 UTC is also on line 2"),
        ([DERIBIT, "a,3600000,0,x"], None, "line 2: column interest_1h: not a rate"),
        ([DERIBIT, "a,3600000,0,0.1"], "bybit", "the funding of deribit only, not of 'bybit'"),
        (["when,what"], None, "line 1: unknown header when,what; expected columns"),
        ([], None, "line 1: unknown header (empty)"),
        ([DERIBIT, ""], None, "no funding rates of deribit"),
        ([DERIBIT, "a,1"], None, "line 2: expected 4 columns"),
        ([DERIBIT, "a,x,0,0.1"], None, "line 2: column timestamp: not a time in epoch ms: 'x'"),
        ([VENUES, "gate,1,8,0.1", "gate,2,1,0.1"], "gate", "nominal_interval_hours 1, 8; expected"),
    ],
)
def test_bad_files_are_refused(lines: list[str], venue: str | None, message: str) -> None:
    with pytest.raises(FundingFileError, match=re.escape(message)):
        parse_venue_funding(lines, "f.csv", venue)


def test_times_outside_the_file_are_refused(deribit: VenueFunding) -> None:
    with pytest.raises(FundingFileError, match="no deribit settlement in the 1 h before 2019-01"):
        deribit.trailing_mean_rate_8h(ms("2019-01-01 00:00"), HOUR_MS)
    with pytest.raises(ValueError, match="expected a window > 0 ms, got 0"):
        deribit.trailing_mean_rate_8h(ms("2020-01-01 00:00"), 0)
    with pytest.raises(FundingFileError, match="no settlement within 3 h before 2019-01-01"):
        deribit.last_rate_8h(ms("2019-01-01 00:00"))
    with pytest.raises(FundingFileError, match="no settlement within 3 h after 2021-03-01"):
        deribit.predicted_rate_8h(ms("2021-03-01 00:00"))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FundingFileError, match=r"none\.csv: cannot be read"):
        load_venue_funding(tmp_path / "none.csv")
