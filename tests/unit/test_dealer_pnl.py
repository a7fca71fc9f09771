"""The dealer's P&L in components, checked against numbers worked by hand: a short of 1 000
BTC-USD-SWAP contracts (100 USD each) from 10 000 to 8 000 USD/BTC, with a 1.52 BTC withdrawal
to the operator's own wallet in the window, which must not show as a loss."""

from __future__ import annotations

from decimal import Decimal as D

from pegkeeper.domain.collateral import OperationKind
from pegkeeper.domain.pnl import (
    AcceptedQuote,
    HedgeFill,
    OwnMove,
    PnlInputs,
    VenueState,
    dealer_pnl,
)
from pegkeeper.domain.quote_math import Direction

FACE_USD = D(100)
# hedge: -1000 * 100 * (1/10000 - 1/8000) = +2.5 BTC; the fill at the final mark adds 0
# venue at the end: 3 + 2.5 - 0.0005 (fee) + 0.001 (funding) - 1.52 - 0.0002 (withdrawal fee)
START = VenueState(0, D(-1000), D(10_000), D(3))
END = VenueState(3_600_000, D(-1100), D(8_000), D("3.9803"))
FILL = HedgeFill(D(-100), D(8_000), D("0.0005"))
WITHDRAWAL = OwnMove(OperationKind.WITHDRAWAL, D("1.52"), D("0.0002"))
TRANSFER = OwnMove(OperationKind.TRANSFER_TO_TRADING, D("0.3"), D(0))


def test_a_withdrawal_to_the_own_wallet_is_no_loss_and_the_components_reconcile() -> None:
    recorded = PnlInputs(START, END, [FILL], [WITHDRAWAL, TRANSFER], [], [D("0.001")])
    pnl = dealer_pnl(recorded, FACE_USD)
    assert pnl.hedge_btc == D("2.5")
    assert pnl.trading_fees_btc == D("-0.0005")
    assert pnl.onchain_fees_btc == D("-0.0002")
    assert pnl.funding_btc == D("0.001")
    assert pnl.total_btc == D("2.5003")
    assert pnl.venue_equity_change_btc == D("0.9803")  # what the old page called the P&L
    assert pnl.wallet_change_btc == D("1.52")
    assert pnl.own_transfers_btc == D("-1.52")
    assert pnl.equity_change_btc == pnl.total_btc  # venue plus wallet, no external flow
    assert pnl.unexplained_btc == 0
    assert pnl.usd(pnl.total_btc) == D("20002.4000")  # at the window's last mark, 8 000


def test_quote_income_is_the_spread_against_the_mid_at_acceptance() -> None:
    quotes = [
        # the user sells 0.01 BTC (100 USD at the mid) for 99.50 USD: the dealer keeps 0.50
        AcceptedQuote(Direction.BUY, 1_000_000, 9_950, D(10_000)),
        # the user pays 80.40 USD for 0.01 BTC (80 USD at the mid): the dealer keeps 0.40
        AcceptedQuote(Direction.SELL, 1_000_000, 8_040, D(8_000)),
        AcceptedQuote(Direction.SELL, 1_000_000, 8_040, None),  # no price then: not counted
    ]
    pnl = dealer_pnl(PnlInputs(START, START, [], [], quotes), FACE_USD)
    assert pnl.quote_income_usd == D("0.90")
    assert pnl.quotes_unpriced == 1
    assert pnl.total_btc == 0  # nothing moved at the venue


def test_funding_is_what_the_venue_booked_and_a_settlement_not_recorded_is_unexplained() -> None:
    # the same window with the funding bill not recorded: 0.001 BTC of the venue's equity
    # change is explained by no component, and is not called funding
    pnl = dealer_pnl(PnlInputs(START, END, [FILL], [WITHDRAWAL, TRANSFER], []), FACE_USD)
    assert pnl.funding_btc == 0
    assert pnl.total_btc == D("2.4993")
    assert pnl.unexplained_btc == D("0.001")


def test_a_deposit_costs_its_onchain_fee_only() -> None:
    # 0.5 BTC from the wallet to the venue, 2 820 sats of fee (after a bump) paid by the wallet;
    # two funding bills: +0.0004 and -0.0001 BTC. The position does not move (price flat).
    start = VenueState(0, D(-1000), D(10_000), D(3))
    end = VenueState(3_600_000, D(-1000), D(10_000), D("3.5003"))
    deposit = OwnMove(OperationKind.DEPOSIT, D("0.5"), D("0.0000282"))
    recorded = PnlInputs(start, end, [], [deposit], [], [D("0.0004"), D("-0.0001")])
    pnl = dealer_pnl(recorded, FACE_USD)
    assert pnl.hedge_btc == 0
    assert pnl.funding_btc == D("0.0003")
    assert pnl.onchain_fees_btc == D("-0.0000282")
    assert pnl.wallet_change_btc == D("-0.5000282")  # the amount and its fee left the wallet
    assert pnl.own_transfers_btc == D("0.5")
    assert pnl.total_btc == D("0.0002718")
    assert pnl.equity_change_btc == D("0.0002718") and pnl.unexplained_btc == 0
