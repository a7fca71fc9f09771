"""The backtest of the README over the real March 2020 crash: Binance BTCUSDT perpetual
1-minute bars and its funding history, users fleeing into USD as BTC fell."""

from __future__ import annotations

from pathlib import Path

from pegkeeper.bootstrap.backtest import (
    BacktestRequest,
    backtest_settings,
    load_inputs,
    run_policies,
)
from pegkeeper.config import load_settings
from tests.shared_data import shared_data

DATA = shared_data()
PRICES = DATA / "btc" / "binance-btcusdt-1m-2020-03-11_14.csv"
FUNDING = DATA / "funding" / "binance-btcusdt-funding-8h-2020_2026.csv"


async def test_maker_band_beats_stablesats_on_the_march_2020_crash(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    request = BacktestRequest(prices=PRICES, funding=FUNDING, flows="poisson:stress=0.5,seed=7")
    backtest = backtest_settings(settings, request)
    inputs = load_inputs(request, settings, backtest)
    # README of the data: 5 760 minutes from 03-11 00:00, the low 3 621.81 on 03-13 at 02:16
    assert len(inputs.path.tick_ms) == 4 * 5_760
    assert min(inputs.path.tick_usd) == 3621.81
    stablesats, band = await run_policies(["stablesats", "maker-band"], settings, inputs, backtest)
    s, b = stablesats.metrics, band.metrics
    assert (s.policy, b.policy) == ("stablesats", "maker-band")
    # users flee into USD as BTC falls: the liability more than doubles (from 1 000 000 USD)
    assert s.average_liability_usd > 1_500_000
    assert b.tracking_error_max_usd < s.tracking_error_max_usd / 2
    assert b.tracking_error_rms_usd < s.tracking_error_rms_usd / 2
    assert b.total_cost_usd <= s.total_cost_usd
    assert b.fees_usd < s.fees_usd and b.slippage_usd < s.slippage_usd
    # Binance's funding was negative from 03-12 16:00 (-0.3 % at 03-13 00:00): shorts paid
    assert s.funding_usd > 0 and b.funding_usd > 0
    assert not s.liquidated and not b.liquidated
    assert b.post_only_orders > 0 and s.post_only_orders == 0
