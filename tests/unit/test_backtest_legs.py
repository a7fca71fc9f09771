"""A backtest over several legs: a perpetual and a rolling quarterly future priced at a basis,
and the basis counted as a carry apart from the tracking error."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal
from functools import partial

import pytest

from pegkeeper.backtest.basis_book import BasisBook
from pegkeeper.backtest.carry_run import CarryRun
from pegkeeper.backtest.flows import Flows
from pegkeeper.backtest.funding_rates import FundingSchedule
from pegkeeper.backtest.runner import BacktestInputs, BacktestSettings, PolicyRun
from pegkeeper.bootstrap.backtest import (
    BacktestInputError,
    BacktestRequest,
    backtest_settings,
    load_inputs,
)
from pegkeeper.config import load_settings
from pegkeeper.config.carry import CarrySettings
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.band_policy import BandHedgePolicy
from tests.shared_data import shared_data
from tests.unit.test_backtest_runner import flat_path, path_of

HALF_AND_HALF = Allocation(
    (HedgeLeg("BTC-USD-SWAP", Decimal(1)), HedgeLeg("BTC-USD-QUARTERLY", Decimal(1)))
)


class FlatBasis:
    """A fixed basis whatever the time to expiry: easy to check by hand."""

    def __init__(self, basis: float) -> None:
        self.value = basis

    @property
    def drawdown_window_ms(self) -> int:
        return 3_600_000

    def basis(self, now_ms: int, expiry_ms: int, drawdown: float) -> float:
        return self.value


def test_a_short_opened_at_a_premium_earns_it_as_the_basis_closes() -> None:
    book = BasisBook(100.0)
    assert book.trade("F", -10, 0.02) == 0.0  # opened: nothing earned yet
    assert book.trade("F", -10, 0.01) == 0.0  # grown: entry basis averaged to 0.015
    # 5 contracts of 100 USD closed at 0.005: earned 5 * 100 * (0.015 - 0.005) = 5 USD
    assert book.trade("F", 5, 0.005) == pytest.approx(5.0)
    assert book.contracts("F") == -15
    # what is still open, at a basis of 0 (the expiry): 15 * 100 * 0.015 = 22.5 USD
    assert book.open_value_usd({"F": 0.0}) == pytest.approx(22.5)
    # flipped to long: the 15 short contracts are closed at -0.01: 15 * 100 * 0.025
    assert book.trade("F", 20, -0.01) == pytest.approx(37.5)
    assert book.contracts("F") == 5 and book.open_value_usd({"F": -0.01}) == 0.0


async def test_two_legs_share_the_hedge_and_the_futures_basis_is_a_cost_apart() -> None:
    path = flat_path("8000", 120)
    inputs = BacktestInputs(path, Flows("none", (), ()), FundingSchedule.constant_rate(Decimal(0)))
    settings = BacktestSettings(
        initial_liability_usd=Decimal(100_000),
        allocation=HALF_AND_HALF,
        basis=FlatBasis(0.01),
    )
    run = PolicyRun(BandHedgePolicy(), inputs, settings)
    result = await run.run()
    # the liability of 100 000 USD split in halves: 500 contracts on each leg
    perp = run.engine.position("BTC-USD-SWAP")
    future = next(
        i
        for i in run.engine.instrument_ids
        if i != "BTC-USD-SWAP" and run.engine.position(i).size_contracts
    )
    assert perp.size_contracts == -500
    assert run.engine.position(future).size_contracts == -500
    # the future trades at 8 080 (1 % over spot); against spot, the hedge is whole: no
    # tracking error at a constant price
    assert run.engine.mark_price_usd(future) == Decimal("8080.0")
    m = result.metrics
    assert m.tracking_error_max_usd < 1e-6
    # the basis did not move: the open short is worth what it was sold at, nothing earned yet
    assert m.basis_usd == pytest.approx(0.0, abs=1e-9)


class StepBasis(FlatBasis):
    """`before` until `until_ms`, then `after`."""

    def __init__(self, until_ms: int, before: float, after: float) -> None:
        super().__init__(before)
        self.until_ms, self.after = until_ms, after

    def basis(self, now_ms: int, expiry_ms: int, drawdown: float) -> float:
        return self.value if now_ms < self.until_ms else self.after


async def open_short_future(before: float, after: float) -> float:
    """The basis cost of a run whose future's basis steps from `before` to `after`."""
    path = flat_path("8000", 120)
    inputs = BacktestInputs(path, Flows("none", (), ()), FundingSchedule.constant_rate(Decimal(0)))
    settings = BacktestSettings(
        initial_liability_usd=Decimal(100_000),
        allocation=HALF_AND_HALF,
        basis=StepBasis(path.start_ms + 30 * 60_000, before, after),
    )
    result = await PolicyRun(BandHedgePolicy(), inputs, settings).run()
    assert result.metrics.tracking_error_max_usd < 1e-6  # spot never moved
    return result.metrics.basis_usd


async def test_a_short_future_still_open_counts_a_loss_of_basis_not_a_gain() -> None:
    # 500 contracts sold at spot; the future then trades 1 % over spot: against spot the short
    # lost 500 * 100 * 0.01 USD, counted though not realised
    assert await open_short_future(0.0, 0.01) == pytest.approx(500.0)
    # sold at a 1 % premium that closes: earned on paper only, not claimed before it is realised
    assert await open_short_future(0.01, 0.0) == pytest.approx(0.0, abs=1e-9)


async def carry_run(funding_rate: str, minutes: int) -> PolicyRun:
    # the price swings by 10 USD a minute, so that resting (maker) orders fill
    path = path_of([8000.0 + 10 * (i % 2) for i in range(minutes)])
    funding = FundingSchedule.constant_rate(Decimal(funding_rate))
    inputs = BacktestInputs(path, Flows("none", (), ()), funding)
    settings = BacktestSettings(
        initial_liability_usd=Decimal(100_000),
        allocation=HALF_AND_HALF,
        basis=FlatBasis(0.0),
        carry_factory=partial(CarryRun, settings=CarrySettings(), roll_lead_hours=24.0),
    )
    run = PolicyRun(BandHedgePolicy(), inputs, settings)
    await run.run()
    return run


async def test_deeply_negative_funding_moves_the_hedge_to_the_future_in_steps() -> None:
    run = await carry_run("-0.00375", 120)  # BitMEX's rate of 13 March 2020, per 8 h
    assert run.carry is not None
    # a short on the perpetual pays 0.375 % three times a day; the future at spot costs
    # nothing but its trades: the weight moves, 2 % of the liability a step, every minute
    steps = run.carry.decisions
    assert len(steps) == 50 and steps[-1][2] == (Decimal(0), Decimal(1))
    assert [w[1] for _, _, w in steps[:3]] == [Decimal("0.02"), Decimal("0.04"), Decimal("0.06")]
    # each step waited for the one before to fill: at least a minute apart
    assert all(b[0] - a[0] >= 60_000 for a, b in itertools.pairwise(steps))
    # all of 100 000 USD on the March future (1 000 contracts) within maker-band's band of 2 %
    assert -1000 <= run.engine.position("BTC-USD-200327").size_contracts <= -980
    assert run.engine.position("BTC-USD-SWAP").size_contracts == 0


async def test_positive_funding_keeps_the_hedge_on_the_perpetual() -> None:
    run = await carry_run("0.0001", 60)  # shorts earn 11 %/yr there, nothing on the future
    assert run.carry is not None and run.carry.decisions == []
    assert run.engine.position("BTC-USD-SWAP").size_contracts == -1000


@pytest.mark.parametrize(("venue", "rate"), [("bybit", "0.00008265"), ("gate", "0.000086")])
def test_a_funding_file_of_several_venues_is_read_for_the_venue_named(
    venue: str, rate: str
) -> None:
    data = shared_data()
    request = BacktestRequest(
        data / "btc" / "binance-btcusdt-1m-2022-11-07_10.csv",
        data / "funding" / "btcusdt-funding-6venues-utc.csv",
        "none",
        funding_venue=venue,
    )
    settings = load_settings()
    inputs = load_inputs(request, settings, backtest_settings(settings, request))
    # the file's row of that venue for 2022-11-08 00:00 UTC
    assert inputs.funding.rate_at(1_667_865_600_000) == Decimal(rate)
    with pytest.raises(BacktestInputError, match="no rows of venue 'nasdaq'; the file holds"):
        load_inputs(
            replace(request, funding_venue="nasdaq"),
            settings,
            backtest_settings(settings, request),
        )
