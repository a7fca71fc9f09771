"""The `maker-band` hedge policy: its band, its urgent bound, its order styles."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.band_policy import BandHedgeParams, BandHedgePolicy
from pegkeeper.domain.hedge_policy import (
    ActionKind,
    HedgeAction,
    HedgeInputs,
    StablesatsHedgePolicy,
)

INVERSE = Decimal(10_000)  # cents per 100 USD contract
POLICY = BandHedgePolicy()


def decide(liability_cents: int, short_contracts: int, contract: Decimal = INVERSE) -> HedgeAction:
    exposure = -int(short_contracts * contract)
    return POLICY.decide(HedgeInputs(liability_cents, exposure, contract)).action


def maker(kind: ActionKind, contracts: int) -> HedgeAction:
    return HedgeAction.trade(kind, contracts, post_only=True)


def taker(kind: ActionKind, contracts: int) -> HedgeAction:
    return HedgeAction.trade(kind, contracts, post_only=False)


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        # L = 1 000 000 USD: target 10 000 contracts, band max(2, 2 %) = 200, urgent 400
        (9_850, HedgeAction.hold()),  # gap 150
        (9_800, HedgeAction.hold()),  # gap 200: the band's edge is inside
        (9_750, maker(ActionKind.SELL, 250)),  # gap 250: a maker, to the whole target
        (9_600, maker(ActionKind.SELL, 400)),  # gap 400: the urgent edge is still patient
        (9_500, taker(ActionKind.SELL, 500)),  # gap 500: at once
        (10_300, maker(ActionKind.BUY, 300)),
        (10_450, taker(ActionKind.BUY, 450)),
        (-100, taker(ActionKind.SELL, 10_100)),  # long: sell through to the target
    ],
)
def test_a_large_book_keeps_a_band_of_two_percent(short: int, expected: HedgeAction) -> None:
    assert decide(100_000_000, short) == expected


def test_a_small_book_has_a_band_of_whole_contracts() -> None:
    # L = 1 500 USD: target 15 contracts; band max(2, 0.3) = 2 contracts, urgent max(4, 0.6) = 4
    assert decide(150_000, 14) == HedgeAction.hold()
    assert decide(150_000, 13) == HedgeAction.hold()
    assert decide(150_000, 12) == maker(ActionKind.SELL, 3)
    assert decide(150_000, 10) == taker(ActionKind.SELL, 5)
    # stablesats sells one contract at 14 (ratio 0.933 < 0.95: round(14 700 - 14 000) / 10 000)
    stablesats = StablesatsHedgePolicy().decide(HedgeInputs(150_000, -140_000, INVERSE))
    assert stablesats.action == HedgeAction.sell(1)


def test_over_the_urgent_bound_of_a_small_book() -> None:
    # short 19 of a 15-contract target: gap -4 is at the urgent edge (patient), -5 is not
    assert decide(150_000, 19) == maker(ActionKind.BUY, 4)
    assert decide(150_000, 20) == taker(ActionKind.BUY, 5)


def test_below_the_threshold_the_position_is_closed() -> None:
    assert decide(4_999, 1) == HedgeAction.close()
    assert decide(4_999, 0) == HedgeAction.hold()
    # 50 USD is not below: the target round(0.5) = 0 (halves to even), the gap 0
    assert decide(5_000, 0) == HedgeAction.hold()


def test_the_rules_are_named_for_the_audit_trail() -> None:
    rules = [
        POLICY.decide(HedgeInputs(100_000_000, -short * 10_000, INVERSE)).rule
        for short in (9_850, 9_750, 9_500, 10_300, 10_450)
    ]
    assert rules == [
        "inside-band",
        "under-hedged-post-only",
        "under-hedged-market",
        "over-hedged-post-only",
        "over-hedged-market",
    ]
    assert POLICY.decide(HedgeInputs(100_000_000, 0, INVERSE)).policy == "maker-band"


def test_a_linear_contract_is_counted_at_its_value() -> None:
    contract = Decimal("0.01") * 50_000 * 100  # 0.01 BTC at 50 000 USD: 50 000 cents
    # L = 100 000 USD: target 200 contracts, band max(2, 4) = 4, urgent max(4, 8) = 8
    assert decide(10_000_000, 196, contract) == HedgeAction.hold()
    assert decide(10_000_000, 194, contract) == maker(ActionKind.SELL, 6)
    assert decide(10_000_000, 190, contract) == taker(ActionKind.SELL, 10)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="band_ratio <= urgent_ratio"):
        BandHedgeParams(band_ratio=Decimal("0.05"), urgent_ratio=Decimal("0.04"))
    with pytest.raises(ValueError, match="min_band_contracts <= min_urgent_contracts"):
        BandHedgeParams(min_band_contracts=5, min_urgent_contracts=4)
    with pytest.raises(ValueError, match="minimum_liability_threshold_cents"):
        BandHedgeParams(minimum_liability_threshold_cents=-1)


@given(
    liability=st.integers(min_value=5_000, max_value=10**11),
    short=st.integers(min_value=-(10**6), max_value=10**7),
)
def test_a_trade_lands_on_the_target_and_a_hold_is_inside_the_band(
    liability: int, short: int
) -> None:
    action = decide(liability, short)
    target = round(Decimal(liability) / INVERSE)  # half to even, as the policy
    band = max(Decimal(2), Decimal("0.02") * target)
    if action.is_hold:
        assert abs(target - short) <= band
        return
    after = short + action.size_contracts if action.kind is ActionKind.SELL else short
    after = after - action.size_contracts if action.kind is ActionKind.BUY else after
    assert after == target
    urgent = max(Decimal(4), Decimal("0.04") * target)
    assert action.post_only == (abs(target - short) <= urgent)
