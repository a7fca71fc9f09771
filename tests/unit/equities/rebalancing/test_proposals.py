"""Proposals: outside the band, back to the target (amounts worked out by hand); a blocked
hedge unblocked even inside the band; the broker's minimums; the limit per move; none while a
move of the asset is in flight."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from pegkeeper.domain.equities.inventory import (
    CASH_ASSET,
    BrokerReading,
    Direction,
    InventoryChange,
    InventoryView,
    MoveLeg,
    OnchainReading,
    Side,
    inventory_view,
)
from pegkeeper.domain.equities.moves import MoveKind
from pegkeeper.domain.equities.proposals import (
    ALPACA_CONVERSION_COLLAR,
    ALPACA_MIN_TO_CHAIN_TRANSFER_USD,
    ALPACA_MIN_WITHDRAWAL_USD,
    PRODUCTION_CASH_BAND,
    PRODUCTION_STOCK_BAND,
    Assessment,
    AssetPolicy,
    Band,
    BlockedHedge,
    assess,
    blocked_buy,
    blocked_sell,
    minimum_of,
)
from pegkeeper.domain.errors import InvalidInput

D = Decimal
POLICIES = {
    "AAPL": AssetPolicy(PRODUCTION_STOCK_BAND, D("1000")),
    CASH_ASSET: AssetPolicy(PRODUCTION_CASH_BAND, D("100000")),
}


def _view(asset: str, onchain: str, broker: str, *legs: MoveLeg) -> InventoryView:
    return inventory_view(
        [OnchainReading(asset, D(onchain), 100)],
        [BrokerReading(asset, D(broker), 1_000, 1_100)],
        legs=legs,
    )


def _one(
    asset: str,
    onchain: str,
    broker: str,
    *,
    blocked: tuple[BlockedHedge, ...] = (),
    moving: tuple[str, ...] = (),
    policies: dict[str, AssetPolicy] = POLICIES,
) -> Assessment:
    [found] = assess(_view(asset, onchain, broker), policies, blocked, moving)
    return found


def test_the_minimums_are_alpacas() -> None:
    assert D(51) == ALPACA_MIN_WITHDRAWAL_USD
    assert minimum_of(MoveKind.CASH_TO_CHAIN) == ALPACA_MIN_TO_CHAIN_TRANSFER_USD == D(53)
    assert minimum_of(MoveKind.CASH_HOME) == minimum_of(MoveKind.MINT) == D(0)


def test_too_much_onchain_is_redeemed_back_to_the_target() -> None:
    found = _one("AAPL", "67", "33")
    assert found.onchain_share == D("0.67")
    assert found.proposal is not None
    # total 100, target 0.5: 67 - 50
    assert (found.proposal.direction, found.proposal.amount) == (Direction.TO_BROKER, D("17"))
    assert found.proposal.kind is MoveKind.REDEEM
    assert found.proposal.reason == (
        "onchain share 0.67 is outside 0.5 +- 0.05 (onchain 67, broker 33 shares): bring it "
        "to 0.5: redeem 17 shares"
    )


def test_too_little_onchain_is_minted_and_shares_truncate_to_9_places() -> None:
    # total 15.1234567891; target 7.56172839455; onchain 4.1234567891 -> mint 3.43827160545
    found = _one("AAPL", "4.1234567891", "11")
    assert found.proposal is not None
    assert found.proposal.kind is MoveKind.MINT
    assert found.proposal.amount == D("3.438271605")


def test_cash_goes_to_the_chain_in_whole_cents_down() -> None:
    # total 14996.97, target 0.6 -> 8998.182 onchain: 3398.182 to move, 3398.18 in cents
    found = _one(CASH_ASSET, "5600", "9396.97")
    assert found.proposal is not None
    assert found.proposal.kind is MoveKind.CASH_TO_CHAIN
    assert found.proposal.amount == D("3398.18")


def test_cash_home_has_no_minimum() -> None:
    # 100 USDC, 50 USD: share 0.667 > 0.65; 100 - 0.6 x 150 = 10
    found = _one(CASH_ASSET, "100", "50")
    assert found.proposal is not None
    assert (found.proposal.kind, found.proposal.amount) == (MoveKind.CASH_HOME, D("10.00"))


def test_cash_to_the_chain_below_the_53_usd_minimum_is_not_proposed() -> None:
    # 40 USDC, 100 USD: share 0.286; 0.6 x 140 - 40 = 44 < 53
    found = _one(CASH_ASSET, "40", "100")
    assert found.proposal is None
    assert found.reason.endswith(
        "44 USD is below the broker's 53 USD minimum for a cash to chain move: none proposed"
    )


def test_the_limit_per_move_caps_the_amount() -> None:
    limited = {"AAPL": AssetPolicy(PRODUCTION_STOCK_BAND, D("10"))}
    found = _one("AAPL", "67", "33", policies=limited)
    assert found.proposal is not None and found.proposal.amount == D("10")
    assert "capped at the 10 shares limit per move" in found.reason
    # a cash limit under the minimum never proposes a move to the chain
    cash_limit = {CASH_ASSET: AssetPolicy(PRODUCTION_CASH_BAND, D("50"))}
    found = _one(CASH_ASSET, "5600", "9396.97", policies=cash_limit)
    assert found.proposal is None and "below the broker's 53 USD minimum" in found.reason


def test_inside_the_band_nothing_is_proposed() -> None:
    for onchain, broker in (("55", "45"), ("45", "55"), ("52", "48")):
        found = _one("AAPL", onchain, broker)
        assert found.proposal is None
        assert found.reason.startswith(f"onchain share {D(onchain) / 100} is inside 0.5 +- 0.05")


def test_a_blocked_sell_is_unblocked_inside_the_band() -> None:
    # 50/50, a sell of 60 with 50 at the broker: 10 short
    found = _one("AAPL", "50", "50", blocked=(blocked_sell("AAPL", D("60")),))
    assert found.proposal is not None
    assert (found.proposal.kind, found.proposal.amount) == (MoveKind.REDEEM, D("10"))
    assert found.proposal.unblocks == ("sell 60 AAPL",)
    assert found.reason.startswith("sell 60 AAPL blocked: 10 shares short at the broker")


def test_a_blocked_sell_moves_at_least_up_to_the_target() -> None:
    # 54/46: 2 short for a sell of 48, but the target asks 54 - 50 = 4
    found = _one("AAPL", "54", "46", blocked=(blocked_sell("AAPL", D("48")),))
    assert found.proposal is not None and found.proposal.amount == D("4")


def test_a_blocked_sell_moves_no_more_than_is_onchain() -> None:
    found = _one("AAPL", "3", "10", blocked=(blocked_sell("AAPL", D("20")),))
    assert found.proposal is not None and found.proposal.amount == D("3")
    assert found.reason.endswith("; only 3 shares onchain: redeem 3 shares")


def test_blocked_buys_bring_home_the_cash_they_need_together() -> None:
    # 6000 USDC, 4000 USD (share 0.6); two buys need 3000 + 2500: 1500 short
    blocked = (blocked_buy("AAPL", D("10"), D("3000")), blocked_buy("MSFT", D("5"), D("2500")))
    found = _one(CASH_ASSET, "6000", "4000", blocked=blocked)
    assert found.proposal is not None
    assert (found.proposal.kind, found.proposal.amount) == (MoveKind.CASH_HOME, D("1500.00"))
    assert found.proposal.unblocks == ("buy 10 AAPL", "buy 5 MSFT")


def test_a_hedge_that_is_not_short_of_inventory_asks_for_nothing() -> None:
    # preflight refused it for shares reserved by open orders; the broker holds enough
    found = _one("AAPL", "50", "50", blocked=(blocked_sell("AAPL", D("40")),))
    assert found.proposal is None


def test_no_proposal_while_a_move_of_the_asset_is_in_flight() -> None:
    assert _one("AAPL", "80", "20", moving=("AAPL",)).proposal is None
    leg = MoveLeg("m1", "AAPL", Direction.TO_BROKER, D("10"), left_at=101)
    [found] = assess(_view("AAPL", "90", "20", leg), POLICIES)
    assert found.proposal is None
    assert found.reason == "a move of AAPL is in flight: no other until it ends"


def test_nothing_held_and_unknown_assets() -> None:
    assert _one("AAPL", "0", "0").reason == "no AAPL on either side"
    with pytest.raises(InvalidInput, match="no rebalancing policy"):
        assess(_view("MSFT", "1", "1"), POLICIES)


def test_a_band_must_fit_inside_zero_and_one() -> None:
    assert Band(D("0.5"), D("0.2")).contains(D("0.7"))
    with pytest.raises(InvalidInput, match="0 < target < 1"):
        Band(D("1"), D("0"))
    with pytest.raises(InvalidInput, match=r"reaches outside 0\.\.1"):
        Band(D("0.9"), D("0.2"))
    with pytest.raises(InvalidInput, match="limit per move must be > 0"):
        AssetPolicy(PRODUCTION_STOCK_BAND, D("0"))


def test_an_ambiguous_reading_or_a_dust_amount_proposes_nothing() -> None:
    inside = BrokerReading("AAPL", D("33"), 1_000, 1_100)
    view = inventory_view(
        [OnchainReading("AAPL", D("67"), 100)],
        [inside],
        [InventoryChange("AAPL", Side.BROKER, D("1"), 1_050, "broker fill e5")],
    )
    [found] = assess(view, POLICIES)
    assert found.proposal is None and found.reason.startswith("broker fill e5 happened while")
    # 1e-10 shares too much onchain against a zero band: truncates to nothing at 9 dp
    exact = {"AAPL": AssetPolicy(Band(D("0.5"), D("0")), D("10"))}
    found = _one("AAPL", "0.5000000001", "0.4999999999", policies=exact)
    assert found.proposal is None
    assert found.reason.endswith("0.0000000001 shares rounds to nothing: no redeem proposed")


def test_cash_to_the_chain_is_capped_by_the_conversions_collar() -> None:
    # 1 000 USDC onchain; at the broker 9 000, of which 8 000 USDC back from a failed
    # withdrawal: the target 0.5 of 10 000 wants 4 000 more onchain, but a USDCUSD buy holds
    # its notional plus 2 % out of the 1 000 dollars: 1 000 / 1.02 = 980.392..., 980.39
    view = replace(_view(CASH_ASSET, "1000", "9000"), broker_usdc=D("8000"))
    policies = {CASH_ASSET: AssetPolicy(Band(D("0.5"), D("0.1")), D("100000"))}
    [found] = assess(view, policies)
    assert found.proposal is not None
    assert (found.proposal.kind, found.proposal.amount) == (MoveKind.CASH_TO_CHAIN, D("980.39"))
    assert found.reason.endswith(
        "; capped at 980.39 USD: the conversion holds its notional plus the 2 % collar out of "
        "the broker's 1000 USD: cash to chain 980.39 USD"
    )
    assert D("0.02") == ALPACA_CONVERSION_COLLAR


def test_a_high_target_leaves_the_collar_at_the_broker() -> None:
    # nothing onchain, 1 000 USD at the broker, target 0.99: 990 wanted, 980.39 convertible
    policies = {CASH_ASSET: AssetPolicy(Band(D("0.99"), D("0.01")), D("100000"))}
    [found] = assess(_view(CASH_ASSET, "0", "1000"), policies)
    assert found.proposal is not None and found.proposal.amount == D("980.39")
    # the first case with 9 000 dollars at the broker: 4 000 is far inside 9 000 / 1.02
    half = {CASH_ASSET: AssetPolicy(Band(D("0.5"), D("0.1")), D("100000"))}
    found = _one(CASH_ASSET, "1000", "9000", policies=half)
    assert found.proposal is not None and found.proposal.amount == D("4000.00")
    assert "collar" not in found.reason


def test_dollars_short_of_the_minimum_after_the_collar_propose_nothing() -> None:
    # 50 dollars at the broker (the rest USDC): 49.01 convertible, under the 53 USD minimum
    view = replace(_view(CASH_ASSET, "100", "9900"), broker_usdc=D("9850"))
    [found] = assess(view, POLICIES)
    assert found.proposal is None
    assert found.reason.endswith(
        "49.01 USD is below the broker's 53 USD minimum for a cash to chain move: none proposed"
    )
