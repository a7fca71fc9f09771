"""The stablesats hedge policy: the spec's vectors, each rule, and the invariants."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.hedge_policy import (
    ActionKind,
    HedgeAction,
    HedgeInputs,
    StablesatsHedgeParams,
    StablesatsHedgePolicy,
)

CONTRACT = Decimal(10_000)
POLICY = StablesatsHedgePolicy()


def decide(liability_cents: int, exposure_cents: int) -> HedgeAction:
    return POLICY.decide(HedgeInputs(liability_cents, exposure_cents, CONTRACT)).action


@pytest.mark.parametrize(
    ("liability", "exposure", "expected"),
    [
        # the vectors of specs/hedging.md
        (10_000, -10_000, HedgeAction.hold()),
        (20_000, -10_000, HedgeAction.sell(1)),
        (100_000, -599_800, HedgeAction.buy(50)),
        (10_000, 10_000, HedgeAction.sell(2)),
        (4_900, -30_000, HedgeAction.close()),
        (4_900, 20_000, HedgeAction.close()),
        (5_500, -19_998, HedgeAction.buy(1)),
    ],
)
def test_spec_vectors(liability: int, exposure: int, expected: HedgeAction) -> None:
    assert decide(liability, exposure) == expected


def test_below_threshold_and_flat_does_nothing() -> None:
    assert decide(4_900, 0) == HedgeAction.hold()
    assert decide(0, 0) == HedgeAction.hold()


def test_threshold_is_exclusive() -> None:
    # L = 5 000 is not below the threshold: flat -> ratio 0 < 0.95 -> sell round(4 900/10 000) = 0
    assert decide(5_000, 0) == HedgeAction.hold()
    # L = 6 000 flat: round(5 880 / 10 000) = round(0.588) = 1
    assert decide(6_000, 0) == HedgeAction.sell(1)


def test_bracket_edges() -> None:
    # ratio exactly 0.95 and 1.03 are inside the brackets
    assert decide(1_000_000, -950_000) == HedgeAction.hold()
    assert decide(1_000_000, -1_030_000) == HedgeAction.hold()
    # just outside: 0.9499 -> sell round((980 000 - 949 900) / 10 000) = round(3.01) = 3
    assert decide(1_000_000, -949_900) == HedgeAction.sell(3)
    # 1.0301 -> buy round((1 030 100 - 1 000 000) / 10 000) = round(3.01) = 3
    assert decide(1_000_000, -1_030_100) == HedgeAction.buy(3)


def test_halves_round_to_even_like_rust_decimal() -> None:
    # flat, L = 25 510.204...: use L whose 0.98 L / 10 000 is exactly 2.5 -> L = 25 510.2 (not
    # whole cents), so use exposure instead: (0.98 * 100 000 - 73 000) / 10 000 = 2.5 -> 2
    assert decide(100_000, -73_000) == HedgeAction.sell(2)
    # (0.98 * 100 000 - 63 000) / 10 000 = 3.5 -> 4
    assert decide(100_000, -63_000) == HedgeAction.sell(4)


def test_decision_names_rule_and_ratio() -> None:
    decision = POLICY.decide(HedgeInputs(20_000, -10_000, CONTRACT))
    assert decision.rule == "under-hedged-sell"
    assert decision.inputs.hedge_ratio == Decimal("0.5")
    assert decision.policy == "stablesats"


def test_brackets_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="low_bound"):
        StablesatsHedgeParams(low_bound_ratio_shorting=Decimal("0.99"))


def test_negative_liability_is_refused() -> None:
    with pytest.raises(ValueError, match="liability_cents"):
        HedgeInputs(-1, 0, CONTRACT)


liabilities = st.integers(min_value=5_000, max_value=10**12)
exposures = st.integers(min_value=-(10**12), max_value=10**12)
HALF_CONTRACT = 5_000


def exposure_after(exposure: int, action: HedgeAction) -> int:
    delta = int(action.size_contracts * CONTRACT)
    return exposure - delta if action.kind is ActionKind.SELL else exposure + delta


@given(liabilities, exposures)
def test_a_sell_never_overshoots_the_safe_bound(liability: int, exposure: int) -> None:
    action = decide(liability, exposure)
    if action.kind is ActionKind.SELL:
        short_after = -exposure_after(exposure, action)
        # at most half a contract beyond the low safe bound it aims at, never long after a sell
        assert short_after <= liability * Decimal("0.98") + HALF_CONTRACT
        assert short_after >= 0


@given(liabilities, exposures)
def test_a_buy_never_undershoots_the_safe_bound(liability: int, exposure: int) -> None:
    action = decide(liability, exposure)
    if action.kind is ActionKind.BUY:
        short_after = -exposure_after(exposure, action)
        assert short_after >= liability - HALF_CONTRACT
        assert short_after >= 0  # a buy never turns the short into a long


@given(liabilities, exposures)
def test_an_action_always_moves_towards_the_brackets(liability: int, exposure: int) -> None:
    action = decide(liability, exposure)
    ratio = Decimal(exposure) / Decimal(-liability)
    if Decimal("0.95") <= ratio <= Decimal("1.03"):
        assert action.is_hold
    elif not action.is_hold:
        before = abs(Decimal(-exposure) - liability)
        after = abs(Decimal(-exposure_after(exposure, action)) - liability)
        assert after < before
