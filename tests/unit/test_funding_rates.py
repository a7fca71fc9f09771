"""A perpetual's funding rates as the venue publishes them: OKX's payloads read by the OKX
adapter's parser (the recorded ones of shared/data/okx/nautilus), and the simulated exchange's
own, which keeps every rate it settled."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues import okx_parse
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.domain.errors import OrderRejected
from pegkeeper.domain.instruments import btc_usd_future
from pegkeeper.domain.venue import FundingRate, SettledFundingRate
from pegkeeper.sim.engine import SimEngine
from tests.shared_data import shared_data

SWAP = "BTC-USD-SWAP"
T0 = 1_583_971_200_000  # 2020-03-12 00:00 UTC, a funding boundary
H8 = 8 * 3_600_000
MARCH = btc_usd_future(T0 + 15 * 24 * 3_600_000)  # BTC-USD-200327


def nautilus(name: str) -> Any:
    return json.loads((shared_data() / "okx" / "nautilus" / name).read_text())


def test_okx_funding_rate_with_its_forecast_of_the_next_period() -> None:
    row = nautilus("ws_funding_rate.json")["data"][0]
    rate = okx_parse.funding_rate(row)
    # fundingTime 1744590349506, nextFundingTime 1744619149506: 28 800 000 ms apart
    assert rate == FundingRate(
        "BTC-USDT-SWAP", D("0.0001"), 1744590349506, 1744619149506, D("0.0002")
    )
    assert rate.interval_hours == 8


def test_okx_collecting_in_the_current_period_forecasts_nothing() -> None:
    row = {"instId": SWAP, "fundingRate": "-0.0003", "fundingTime": str(T0 + H8)}
    row |= {"nextFundingRate": "", "nextFundingTime": str(T0 + 2 * H8), "method": "current_period"}
    assert okx_parse.funding_rate(row) == FundingRate(SWAP, D("-0.0003"), T0 + H8, T0 + 2 * H8)


def test_okx_history_reads_the_rate_actually_charged() -> None:
    rows = nautilus("http_get_funding_rate_history.json")["data"]
    assert [okx_parse.settled_funding_rate(r) for r in rows] == [
        SettledFundingRate("BTC-USDT-SWAP", D("0.00015"), 1704067200000),
        SettledFundingRate("BTC-USDT-SWAP", D("-0.00002"), 1704038400000),
    ]
    without = {k: v for k, v in rows[0].items() if k != "realizedRate"}
    assert okx_parse.settled_funding_rate(without).rate == D("0.0001515032")


def test_the_simulated_exchange_keeps_every_rate_it_settled_even_without_a_position() -> None:
    engine = SimEngine()
    engine.set_price(T0 + 1_000, D(7_000))
    engine.set_funding_rate(D("-0.0005"))
    engine.set_price(T0 + H8 + 1_000, D(7_000))  # settles 08:00 at -0.0005, nothing held
    engine.set_funding_rate(D("0.0002"))
    engine.set_price(T0 + 3 * H8, D(7_000))  # 16:00 and 00:00 at 0.0002
    assert engine.funding_payments == ()
    assert engine.settled_funding_rates(SWAP) == [
        (T0 + H8, D("-0.0005")),
        (T0 + 2 * H8, D("0.0002")),
        (T0 + 3 * H8, D("0.0002")),
    ]


async def test_the_in_process_adapter_answers_the_rate_and_its_history() -> None:
    engine = SimEngine()
    clock = ManualClock(T0 + 1_000)
    engine.set_price(clock.now_ms(), D(7_000))
    engine.set_funding_rate(D("-0.003"))
    funding = SimFunding(engine, clock)
    # the next boundary is 08:00: that settlement charges -0.003, the one after is 16:00
    assert await funding.funding_rate(SWAP) == FundingRate(SWAP, D("-0.003"), T0 + H8, T0 + 2 * H8)
    engine.set_price(T0 + 2 * H8, D(7_000))
    assert await funding.funding_rate_history(SWAP, T0 + 2 * H8) == [
        SettledFundingRate(SWAP, D("-0.003"), T0 + 2 * H8)
    ]
    assert len(await funding.funding_rate_history(SWAP, 0)) == 2
    with pytest.raises(OrderRejected, match="no funding rate"):
        await SimFunding(SimEngine([MARCH]), clock).funding_rate(MARCH.instrument_id)
