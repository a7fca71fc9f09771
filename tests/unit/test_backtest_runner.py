"""The backtest runner on small paths whose numbers can be checked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.backtest.costs import CostModel
from pegkeeper.backtest.flows import Flows, PoissonFlows, generate_flows
from pegkeeper.backtest.funding_rates import FundingSchedule, parse_funding
from pegkeeper.backtest.funding_step import CollateralSettings
from pegkeeper.backtest.prices import PricePath, parse_prices
from pegkeeper.backtest.results import PolicyResult
from pegkeeper.backtest.runner import (
    BacktestInputs,
    BacktestSettings,
    FundingFactory,
    PolicyRun,
)
from pegkeeper.backtest.service_funding import ServiceFundingSettings, service_funding
from pegkeeper.domain.band_policy import BandHedgePolicy
from pegkeeper.domain.collateral_policy import (
    StablesatsCollateralParams,
    StablesatsCollateralPolicy,
)
from pegkeeper.domain.hedge_policy import HedgePolicy, StablesatsHedgePolicy

MIDNIGHT = 1_583_971_200_000  # 2020-03-12 00:00 UTC: an 8-hourly funding settlement
HEADER = "open_time_ms,open,high,low,close,volume"


def flat_path(price: str, minutes: int, start_ms: int = MIDNIGHT - 120_000) -> PricePath:
    rows = [f"{start_ms + i * 60_000},{price},{price},{price},{price},100" for i in range(minutes)]
    return parse_prices([HEADER, *rows], "flat")


def path_of(closes: list[float], start_ms: int = MIDNIGHT - 120_000) -> PricePath:
    rows, previous = [], closes[0]
    for i, close in enumerate(closes):
        high, low = max(previous, close), min(previous, close)
        rows.append(f"{start_ms + i * 60_000},{previous},{high},{low},{close},100")
        previous = close
    return parse_prices([HEADER, *rows], "path")


async def run(
    policy: HedgePolicy,
    path: PricePath,
    flows: Flows,
    funding: FundingSchedule | None = None,
    funding_step: FundingFactory | None = None,
    **settings: object,
) -> PolicyResult:
    inputs = BacktestInputs(path, flows, funding or FundingSchedule.constant_rate(Decimal(0)))
    options: dict[str, object] = {"initial_liability_usd": Decimal(100_000)} | settings
    backtest = BacktestSettings(**options)  # type: ignore[arg-type]
    return await PolicyRun(policy, inputs, backtest, funding_step).run()


@pytest.mark.parametrize("policy", [StablesatsHedgePolicy(), BandHedgePolicy()])
async def test_a_constant_price_gives_no_tracking_error_for_the_inverse_hedge(
    policy: HedgePolicy,
) -> None:
    path = flat_path("8000", 240)
    flows = generate_flows(
        PoissonFlows(rate_per_hour=120, median_usd=3_000, seed=3), path, 10_000_000, 10**9
    )
    result = await run(policy, path, flows)
    m = result.metrics
    assert m.orders > 0 and len(flows) > 400  # the hedge did follow the flows
    # the short's value in BTC is constant at a constant price; so is the users' BTC: the
    # hedged value always equals the liability, whatever the gap between them
    assert m.tracking_error_max_usd < 1e-6 and m.tracking_error_rms_usd < 1e-6
    assert not m.liquidated and m.events == len(path.tick_ms) - 1 + len(flows)


async def test_fees_slippage_and_funding_of_a_small_path_by_hand() -> None:
    path = flat_path("10000", 4)  # 23:58 to 00:01 UTC: the 00:00 settlement inside
    funding = parse_funding(["funding_time_ms,rate", f"{MIDNIGHT},0.0001"], "f")
    flows = Flows("one", (MIDNIGHT - 90_000,), (1_000_000,))  # a user buys 10 000 USD
    result = await run(StablesatsHedgePolicy(), path, flows, funding)
    m = result.metrics
    # opening: sell round(0.98 * 1 000) = 980 contracts on the deep book, not counted
    # the buy: L 110 000, ratio 98 000 / 110 000 = 0.89 < 0.95: sell round(1 078 - 980) = 98
    assert (m.orders, m.post_only_orders, m.orders_rejected) == (1, 0, 0)
    # the book: half spread 0.25 bps of 10 000 = 0.25 USD (a flat minute has no range); 98
    # contracts fit in its first level (0.5 of 100 BTC * 10 000 over 20 levels = 250)
    # fee: 9 800 USD / 9 999.75 = 0.98002450 BTC * 0.05 % = 0.00049001 -> up: 0.00049002 BTC
    assert m.fees_usd == pytest.approx(0.00049002 * 10_000)
    # slippage: 9 800 USD * (1 / 9 999.75 - 1 / 10 000) * 10 000 = 0.24500612 USD
    assert m.slippage_usd == pytest.approx(9_800 * (1 / 9_999.75 - 1 / 10_000) * 10_000)
    # funding at 00:00: 1 078 short contracts = 10.78 BTC at 10 000; shorts receive 0.01 %
    assert m.funding_usd == pytest.approx(-0.001078 * 10_000)
    assert m.transfers == 0 and m.transfer_fees_usd == 0
    assert m.total_cost_usd == pytest.approx(4.9002 + 0.24500612 - 10.78)
    assert m.opening_cost_usd == pytest.approx(980 * 100 * 0.0005, abs=0.01)  # no slippage
    assert m.latency_usd == pytest.approx(0)  # the price did not move before the fill
    # a year is 365.25 days: 3 min 45 s is 1/140 256 of it; average liability 107 500 USD or so
    assert m.cost_bps_per_year == pytest.approx(
        m.total_cost_usd / m.average_liability_usd * (365.25 * 86_400_000 / 225_000) * 10_000
    )


async def test_the_same_seed_gives_the_same_numbers() -> None:
    path = path_of([8000 - 20 * i for i in range(120)] + [5600 + 30 * i for i in range(120)])
    spec = PoissonFlows(rate_per_hour=120, median_usd=2_000, stress=0.1, seed=21)

    async def numbers(seed_spec: PoissonFlows) -> dict[str, object]:
        flows = generate_flows(seed_spec, path, 10_000_000, 10**9)
        result = await run(BandHedgePolicy(), path, flows)
        figures = result.metrics.as_dict()
        figures.pop("events_per_second")  # the one number that is the machine's, not the run's
        return figures

    first = await numbers(spec)
    assert first == await numbers(spec)
    assert first != await numbers(PoissonFlows(rate_per_hour=120, median_usd=2_000, seed=22))


async def test_a_price_spike_liquidates_a_thinly_collateralised_hedge() -> None:
    # a short at 10 000 opened at leverage 9 with an empty funding account: the funding
    # manager's deposit is onchain (a block, then an hour at the exchange) while the price
    # doubles within minutes
    closes = [10_000.0] * 3 + [11_000.0, 12_500.0, 15_000.0, 20_000.0] + [20_000.0] * 3
    collateral = CollateralSettings(target_leverage=Decimal(9), funding_reserve_share=Decimal(0))
    result = await run(
        StablesatsHedgePolicy(),
        path_of(closes),
        Flows("none", (), ()),
        exchange_leverage=10,
        collateral=collateral,
        costs=CostModel(deposit_minutes=60),
    )
    m = result.metrics
    assert m.liquidated and m.liquidations >= 1
    # leverage 9 means about 11 % of the price to liquidation at the start
    assert m.min_liquidation_distance_pct is not None and m.min_liquidation_distance_pct < 11


async def test_an_ample_collateral_survives_the_same_spike() -> None:
    closes = [10_000.0] * 3 + [11_000.0, 12_500.0, 15_000.0, 20_000.0] + [20_000.0] * 3
    # leverage 3 and a reserve of twice the collateral, 6.67 BTC, that the funding manager
    # keeps (its minimum balance 6.5 BTC: no surplus over 6.5 / 0.9 to withdraw)
    keeps_reserve = StablesatsCollateralPolicy(
        StablesatsCollateralParams(minimum_funding_balance_btc=Decimal("6.5"))
    )
    result = await run(
        StablesatsHedgePolicy(),
        path_of(closes),
        Flows("none", (), ()),
        funding_step=service_funding(ServiceFundingSettings(policy=keeps_reserve)),
        collateral=CollateralSettings(funding_reserve_share=Decimal(2)),
    )
    m = result.metrics
    assert not m.liquidated
    # each rise is met from the funding account: at 15 000 the trading account holds about
    # 5.49 BTC (a third of 6.67 BTC of need, plus the short's loss), which liquidates at
    # 98 000 * 0.996 * 10 000 / (98 000 - 54 900) = 22 646: 13 % above 20 000
    assert m.transfers >= 3
    assert m.min_liquidation_distance_pct is not None
    assert 10 < m.min_liquidation_distance_pct < 16


async def test_a_linear_hedge_follows_the_price_and_tracks_at_a_constant_one() -> None:
    path = flat_path("8000", 60)
    flows = generate_flows(
        PoissonFlows(rate_per_hour=120, median_usd=3_000), path, 10_000_000, 10**9
    )
    result = await run(StablesatsHedgePolicy(), path, flows, instrument_id="BTC-USDT-SWAP")
    assert result.metrics.tracking_error_max_usd < 1e-6 and result.metrics.orders > 0
