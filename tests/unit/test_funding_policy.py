"""The funding policies, rule by rule, with numbers worked out by hand from specs/hedging.md.

Unless a test says otherwise the BTC price is 10 000 USD (P = 1 000 000 cents), so 1 000 000
cents of liability is 1 BTC and zeroF = 10 000 / 10 / P = 0.001 BTC.
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.collateral_policy import (
    CollateralActionKind,
    CollateralInputs,
    GaloyDealerCollateralParams,
    GaloyDealerCollateralPolicy,
    StablesatsCollateralParams,
    StablesatsCollateralPolicy,
)

P = Decimal(1_000_000)
D = Decimal
HOLD, IN, OUT = (
    CollateralActionKind.HOLD,
    CollateralActionKind.TRANSFER_TO_TRADING,
    CollateralActionKind.TRANSFER_TO_FUNDING,
)
DEPOSIT, WITHDRAW = CollateralActionKind.DEPOSIT, CollateralActionKind.WITHDRAW


def inputs(
    liability: int, exposure: int, collateral: str, funding: str, price: Decimal = P
) -> CollateralInputs:
    return CollateralInputs(liability, exposure, price, D(collateral), D(funding))


def stablesats(*args: object) -> tuple[CollateralActionKind, Decimal, str]:
    decision = StablesatsCollateralPolicy().decide(inputs(*args))  # type: ignore[arg-type]
    return decision.action.kind, decision.action.amount, decision.rule


def galoy(*args: object) -> tuple[CollateralActionKind, Decimal, str]:
    decision = GaloyDealerCollateralPolicy().decide(inputs(*args))  # type: ignore[arg-type]
    return decision.action.kind, decision.action.amount, decision.rule


# --- stablesats -----------------------------------------------------------------------------


def test_defaults_are_the_specs() -> None:
    p = StablesatsCollateralParams()
    assert (p.minimum_transfer_amount_cents, p.minimum_funding_balance_btc) == (10_000, 1)
    assert (
        p.low_bound_ratio_leverage,
        p.low_safebound_ratio_leverage,
        p.high_safebound_ratio_leverage,
        p.high_bound_ratio_leverage,
        p.high_bound_buffer_percentage,
    ) == (2, 3, 3, 4, D("0.9"))


def test_rule_1_first_collateral_comes_onchain_with_the_funding_refill() -> None:
    # L = 30 000 USD = 3 BTC; 3 / 3 = 1 BTC for trading, plus 1 BTC to refill funding
    assert stablesats(3_000_000, 0, "0", "0") == (DEPOSIT, D(2), "1-first-collateral-deposit")
    # F = 0.0005 is below zeroF 0.001: still empty; the refill is 1 - 0.0005
    assert stablesats(3_000_000, 0, "0", "0.0005")[:2] == (DEPOSIT, D("1.9995"))
    # 10 000 USD: 1 / 3 BTC rounds to 0.33333333, plus 1
    assert stablesats(1_000_000, 0, "0", "0")[:2] == (DEPOSIT, D("1.33333333"))


def test_the_liability_is_rounded_to_whole_contracts_half_to_even() -> None:
    # 1 004 999 cents = 100.4999 contracts -> 100 -> 1 BTC; 1 005 000 = 100.5 -> 100 (even);
    # 1 015 000 = 101.5 -> 102 -> 1.02 BTC / 3 = 0.34
    assert stablesats(1_004_999, 0, "0", "0")[1] == D("1.33333333")
    assert stablesats(1_005_000, 0, "0", "0")[1] == D("1.33333333")
    assert stablesats(1_015_000, 0, "0", "0")[1] == D("1.34")


def test_rule_2_first_collateral_comes_from_the_funding_account() -> None:
    assert stablesats(3_000_000, 0, "0", "5") == (IN, D(1), "2-first-collateral-transfer")
    assert stablesats(3_000_000, 0, "0", "0.5")[:2] == (IN, D("0.5"))  # min(F, 1)
    assert stablesats(3_000_000, 0, "0", "0.001")[:2] == (IN, D("0.001"))  # F = zeroF counts


def test_rules_1_and_2_need_a_liability_above_the_hedge_threshold() -> None:
    # 5 000 cents is not above 5 000: nothing to hedge, nothing to fund (rule 10)
    assert stablesats(5_000, 0, "0", "0") == (HOLD, D(0), "10-inside-bounds")


def test_rule_3_unhedged_collateral_goes_back_to_funding_floored_to_the_sat() -> None:
    assert stablesats(9_999, 0, "0.123456789", "0") == (
        OUT,
        D("0.12345678"),
        "3-unhedged-collateral-out",
    )
    # L = 10 000 is not below the minimum transfer amount: rule 6 moves it instead
    assert stablesats(10_000, 0, "0.123456789", "0") == (
        OUT,
        D("0.12345678"),
        "6-under-low-bound-out",
    )
    # less than a sat of collateral rounds to nothing
    assert stablesats(0, 0, "0.000000009", "0")[0] is HOLD


def test_rule_4_unhedged_and_empty_trading_account_withdraws_the_funding_account() -> None:
    assert stablesats(0, 0, "0", "0.5") == (WITHDRAW, D("0.5"), "4-unhedged-withdraw-all")
    assert stablesats(4_000, 0, "0", "0.001")[:2] == (WITHDRAW, D("0.001"))
    # between 50 and 100 USD rule 2 comes first: L = 9 999 rounds to 1 contract, 0.01 BTC,
    # of which a third goes to trading, limited to what the funding account holds
    assert stablesats(9_999, 0, "0", "0.001") == (IN, D("0.001"), "2-first-collateral-transfer")
    # below zeroF the funding account counts as empty: nothing left to do
    assert stablesats(0, 0, "0", "0.0009") == (HOLD, D(0), "10-inside-bounds")


def test_rule_5_liability_over_four_times_collateral_tops_up_to_three() -> None:
    # L = 4 BTC > 4 x 0.9 = 3.6: round(4/3 - 0.9) = 0.43333333
    assert stablesats(4_000_000, -4_000_000, "0.9", "2") == (
        IN,
        D("0.43333333"),
        "5-liability-over-high-bound",
    )
    assert stablesats(4_000_000, -4_000_000, "0.9", "0.2")[:2] == (IN, D("0.2"))
    # an empty funding account: onchain, plus the refill to 1 BTC
    assert stablesats(4_000_000, -4_000_000, "0.9", "0") == (
        DEPOSIT,
        D("1.43333333"),
        "5-liability-over-high-bound-deposit",
    )


def test_rule_5_comes_before_rule_6_when_both_match() -> None:
    # not yet hedged (E = 0), L = 3 BTC > 4 x 0.5, and E = 0 < 2 x 0.5 would also match rule 6
    assert stablesats(3_000_000, 0, "0.5", "1") == (IN, D("0.5"), "5-liability-over-high-bound")


def test_rule_6_exposure_under_twice_collateral_moves_the_excess_out() -> None:
    # E = 1 BTC < 2 x 0.6: floor(0.6 - 1/3) = floor(0.26666666..) = 0.26666666
    assert stablesats(1_000_000, -1_000_000, "0.6", "1") == (
        OUT,
        D("0.26666666"),
        "6-under-low-bound-out",
    )


def test_rule_7_a_funding_surplus_above_one_btc_over_the_buffer_goes_home() -> None:
    # leverage 3 (inside), F = 1.2 > 1 / 0.9: withdraw 0.2
    assert stablesats(3_000_000, -3_000_000, "1", "1.2") == (
        WITHDRAW,
        D("0.2"),
        "7-funding-surplus-withdraw",
    )
    # 1.11111111 is not above 1/0.9 = 1.1111...; 1.11111112 is
    assert stablesats(3_000_000, -3_000_000, "1", "1.11111111")[0] is HOLD
    assert stablesats(3_000_000, -3_000_000, "1", "1.11111112")[:2] == (
        WITHDRAW,
        D("0.11111112"),
    )


def test_rule_8_exposure_near_the_high_bound_tops_up_to_three() -> None:
    # E = 3.7 > 0.9 x 4 x 1: round(3.7/3 - 1) = 0.23333333
    assert stablesats(3_700_000, -3_700_000, "1", "1") == (
        IN,
        D("0.23333333"),
        "8-exposure-near-high-bound",
    )
    assert stablesats(3_700_000, -3_700_000, "1", "0.1")[:2] == (IN, D("0.1"))
    assert stablesats(3_700_000, -3_700_000, "1", "0") == (
        DEPOSIT,
        D("1.23333333"),
        "8-exposure-near-high-bound-deposit",
    )
    # 3.6 exactly is not above the buffered bound
    assert stablesats(3_600_000, -3_600_000, "1", "1")[0] is HOLD


def test_rule_9_a_low_funding_account_is_refilled_onchain() -> None:
    assert stablesats(3_000_000, -3_000_000, "1", "0.5") == (
        DEPOSIT,
        D("0.5"),
        "9-funding-refill-deposit",
    )
    assert stablesats(3_000_000, -3_000_000, "1", "0.9")[0] is HOLD  # 0.9 is not below 0.9


def test_rule_10_inside_the_bounds_nothing_moves() -> None:
    assert stablesats(3_000_000, -3_000_000, "1", "1") == (HOLD, D(0), "10-inside-bounds")


def test_amounts_round_to_the_nearest_sat_half_to_even() -> None:
    # P = 2 000 000 USD; |E| = 780 000 003 cents = 3.900000015 BTC, L = 78 000 contracts = 3.9:
    # rule 8: 3.900000015 / 3 - 1 = 0.300000005 -> 0.30000000 (half to the even sat)
    price = D(200_000_000)
    assert stablesats(780_000_000, -780_000_003, "1", "1", price)[:2] == (IN, D("0.3"))
    # 780 000 009 cents: 0.300000015 -> 0.30000002
    assert stablesats(780_000_000, -780_000_009, "1", "1", price)[:2] == (IN, D("0.30000002"))


def test_a_long_position_counts_by_its_size() -> None:
    # E = +3.7 BTC (long) is as large an exposure as a short of 3.7: rule 8
    assert stablesats(3_700_000, 3_700_000, "1", "1")[2] == "8-exposure-near-high-bound"


def test_bad_inputs_and_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="liability_cents must be >= 0"):
        inputs(-1, 0, "0", "0")
    with pytest.raises(ValueError, match="price_cents must be positive"):
        inputs(1, 0, "0", "0", D(0))
    with pytest.raises(ValueError, match="low_bound <= low_safebound"):
        StablesatsCollateralParams(low_bound_ratio_leverage=D(5))
    with pytest.raises(ValueError, match="high_bound_buffer_percentage"):
        StablesatsCollateralParams(high_bound_buffer_percentage=D("1.5"))


@given(
    liability=st.integers(0, 10**10),
    exposure_share=st.decimals("0", "1.2", places=3),
    collateral=st.decimals("0", "50", places=8),
    funding=st.decimals("0", "5", places=8),
)
def test_every_amount_is_whole_sats_and_never_more_than_the_source_holds(
    liability: int, exposure_share: Decimal, collateral: Decimal, funding: Decimal
) -> None:
    exposure = -int(liability * exposure_share)
    for policy in (StablesatsCollateralPolicy(), GaloyDealerCollateralPolicy()):
        action = policy.decide(inputs(liability, exposure, str(collateral), str(funding))).action
        assert action.amount == action.amount.quantize(D("0.00000001"))
        assert action.amount >= 0 and action.is_hold == (action.amount == 0)
        if action.kind is IN:
            assert action.amount <= funding
        if action.kind is OUT:
            assert action.amount <= collateral
        if action.kind is WITHDRAW:
            assert action.amount <= funding


# --- the Galoy dealer -----------------------------------------------------------------------


def test_galoy_defaults() -> None:
    p = GaloyDealerCollateralParams()
    assert (
        p.low_bound_ratio_leverage,
        p.low_safebound_ratio_leverage,
        p.high_safebound_ratio_leverage,
        p.high_bound_ratio_leverage,
    ) == (D("1.2"), D("1.8"), D("2.25"), D(3))


def test_galoy_rule_1_first_deposit_is_liability_over_2_25() -> None:
    # 1 BTC / 2.25 = 0.444444444.. -> 0.44444444; the funding account first, else onchain
    assert galoy(1_000_000, 0, "0", "0") == (DEPOSIT, D("0.44444444"), "1-first-deposit-onchain")
    assert galoy(1_000_000, 0, "0", "2") == (IN, D("0.44444444"), "1-first-deposit")
    assert galoy(1_000_000, 0, "0", "0.1")[:2] == (IN, D("0.1"))


def test_galoy_rule_2_unhedged_withdraws_everything_through_funding() -> None:
    assert galoy(9_999, 0, "0.5", "0") == (OUT, D("0.5"), "2-withdraw-all")
    # then onchain, only what exceeds 1 BTC in funding
    assert galoy(4_000, 0, "0", "1.5") == (WITHDRAW, D("0.5"), "2-withdraw-all-onchain")
    assert galoy(4_000, 0, "0", "1.0005")[0] is HOLD  # 0.0005 is under zeroF
    # between 50 and 100 USD with an empty trading account rule 1 comes first
    assert galoy(9_999, 0, "0", "1.5")[2] == "1-first-deposit"


def test_galoy_rule_3_liability_over_three_times_collateral() -> None:
    # 3 BTC > 3 x 0.9: 3/2.25 - 0.9 = 1.33333333.. - 0.9 = 0.43333333
    assert galoy(3_000_000, -3_000_000, "0.9", "1") == (
        IN,
        D("0.43333333"),
        "3-liability-over-high-bound",
    )
    assert galoy(3_000_000, -3_000_000, "0.9", "0")[:2] == (DEPOSIT, D("0.43333333"))


def test_galoy_rule_4_exposure_under_1_2_collateral() -> None:
    # E = 1 < 1.2: floor(1 - 1/1.8) = floor(0.4444..) = 0.44444444
    assert galoy(1_000_000, -1_000_000, "1", "1") == (OUT, D("0.44444444"), "4-under-low-bound")


def test_galoy_rule_5_exposure_over_0_9_of_three_times_collateral() -> None:
    # E = 2.8 > 2.7: 2.8/2.25 - 1 = 0.24444444
    assert galoy(2_800_000, -2_800_000, "1", "1") == (
        IN,
        D("0.24444444"),
        "5-exposure-near-high-bound",
    )


def test_galoy_leverage_follows_the_mark_price() -> None:
    # The same 28 000 USD short and 1 BTC of equity: at 10 000 USD it is 2.8 BTC of exposure
    # (rule 5); after BTC halves to 5 000 USD it is 5.6 BTC, so rule 3 tops up to 5.6 / 2.25.
    assert galoy(2_800_000, -2_800_000, "1", "5")[2] == "5-exposure-near-high-bound"
    kind, amount, rule = galoy(2_800_000, -2_800_000, "1", "5", D(500_000))
    assert (kind, rule) == (IN, "3-liability-over-high-bound")
    assert amount == D("1.48888889")  # 5.6 / 2.25 - 1 = 1.488888..


def test_galoy_rule_6_funding_surplus_and_inside_bounds() -> None:
    assert galoy(2_000_000, -2_000_000, "1", "1.5") == (
        WITHDRAW,
        D("0.5"),
        "6-funding-surplus-withdraw",
    )
    assert galoy(2_000_000, -2_000_000, "1", "1") == (HOLD, D(0), "inside-bounds")
