"""The funding manager's quiet band: the prices at which the policy has nothing new to do,
found to within its tolerance, never holding a price that is not quiet, and found again in
few policy evaluations when a new reading moved its edges little or not at all.

The account: a short of 300 contracts of 100 USD (30 000 USD) read at 10 000 USD, E BTC of
equity, 1 BTC in the funding account, 30 000 USD owed. At a price P the exposure is
30 000 / P BTC and the equity E - 3 + 30 000 / P. Stablesats' rules that bound the band:
- rule 6 (exposure < 2 x collateral) below it: 30 000 / P < 2 (E - 3 + 30 000 / P), that is
  P < 30 000 / (6 - 2 E): 7 500 for E = 1, 8 333.33 for E = 1.2;
- rule 8 (exposure > 0.9 x 4 x collateral) above it: 30 000 / P > 3.6 (E - 3 + 30 000 / P),
  that is P > 78 000 / (10.8 - 3.6 E): 10 833.33 for E = 1, 12 037.04 for E = 1.2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.collateral_policy import (
    CollateralDecision,
    CollateralInputs,
    StablesatsCollateralPolicy,
)
from pegkeeper.domain.leverage import LeverageReading, LiquidationSource
from pegkeeper.domain.venue import VenueBalances
from pegkeeper.services.collateral.reading import EDGE_TOLERANCE, AccountState, QuietBand

D = Decimal
MARK = D(10_000)


@dataclass
class CountingPolicy:
    policy: StablesatsCollateralPolicy = field(default_factory=StablesatsCollateralPolicy)
    decisions: int = 0

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def high_bound_leverage(self) -> Decimal:
        return self.policy.high_bound_leverage

    def decide(self, inputs: CollateralInputs) -> CollateralDecision:
        self.decisions += 1
        return self.policy.decide(inputs)


def account(equity_btc: str, liability_cents: int = 3_000_000) -> AccountState:
    equity = D(equity_btc)
    reading = LeverageReading(
        currency="BTC",
        mark_price_usd=MARK,
        position_contracts=D(-300),
        signed_face=D(-30_000),
        notional=D(3),
        equity=equity,
        leverage=D(3) / equity,
        liquidation_price_usd=None,
        liquidation_source=LiquidationSource.NONE,
        distance_pct=None,
    )
    inputs = CollateralInputs(
        liability_cents=liability_cents,
        exposure_cents=-3_000_000,
        price_cents=MARK * 100,
        collateral=equity,
        funding_balance=D(1),
        contract_value_cents=D(10_000),
    )
    balances = VenueBalances("BTC", equity, equity, D(1))
    return AccountState(0, liability_cents, liability_cents, (), balances, reading, inputs)


def assert_edges(band: QuietBand, state: AccountState, low: Decimal, high: Decimal) -> None:
    """The band holds the prices just inside the edges (to the tolerance), none outside."""
    assert band.contains(state, low * (1 + EDGE_TOLERANCE) + D("0.01"), None)
    assert band.contains(state, high * (1 - EDGE_TOLERANCE) - D("0.01"), None)
    assert not band.contains(state, low, None) and not band.contains(state, low - 1, None)
    assert not band.contains(state, high + D("0.01"), None)


def test_the_band_is_the_quiet_prices_to_within_the_tolerance() -> None:
    policy = CountingPolicy()
    band = QuietBand(policy, D(0))
    state = account("1")
    assert band.contains(state, MARK, None)
    assert_edges(band, state, D(7_500), D("10833.33"))


def test_a_reading_that_moved_no_edge_costs_two_evaluations() -> None:
    policy = CountingPolicy()
    band = QuietBand(policy, D(0))
    assert band.contains(account("1"), MARK, None)
    policy.decisions = 0
    # 100 USD more owed: rules 6 and 8 look at the exposure and the collateral only
    moved = account("1", liability_cents=3_010_000)
    assert band.contains(moved, MARK, None)
    assert policy.decisions == 2  # each last edge, still quiet
    assert_edges(band, moved, D(7_500), D("10833.33"))


def test_an_edge_kept_from_an_older_reading_is_found_again_when_a_price_goes_beyond_it() -> None:
    # 36 000 USD owed makes rule 5 (liability > 4 x collateral) the upper bound:
    # 36 000 / P > 4 (1 - 3 + 30 000 / P) for P > 10 500
    policy = CountingPolicy()
    band = QuietBand(policy, D(0))
    owing_more = account("1", liability_cents=3_600_000)
    assert_edges(band, owing_more, D(7_500), D(10_500))
    # back to 30 000 USD: both edges are still quiet, and the band is kept as it was ...
    state = account("1")
    assert band.contains(state, MARK, None)
    policy.decisions = 0
    # ... until a price beyond its upper edge: found again, at rule 8's 10 833.33
    assert band.contains(state, D(10_700), None)
    assert policy.decisions > 0
    assert_edges(band, state, D(7_500), D("10833.33"))


def test_a_reading_that_moved_the_edges_far_finds_them_again() -> None:
    band = QuietBand(CountingPolicy(), D(0))
    assert band.contains(account("1"), MARK, None)
    richer = account("1.2")
    assert band.contains(richer, MARK, None)
    assert_edges(band, richer, D("8333.34"), D("12037.03"))
    poorer = account("1")
    assert band.contains(poorer, MARK, None)
    assert_edges(band, poorer, D(7_500), D("10833.33"))
