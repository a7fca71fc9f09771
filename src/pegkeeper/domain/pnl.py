"""The dealer's P&L over a window, in components, for an inverse (BTC-margined) hedge.

Money that moves between the operator's own accounts (the venue's trading and funding
accounts, the operator's wallet) is neither gained nor lost: only its fees are (a withdrawal's
exchange fee, a deposit's onchain fee). The hedge is marked to market from the position at the
window's start and each fill in it to the mark at the window's end. Funding is what the venue
booked as the swap's funding in the window. What the components leave of the change of equity
(venue plus wallet) unexplained is the reconciliation's difference: a settlement no record
shows, or rounding. Quote income is the wallet's: the spread of each accepted quote against the
mid at acceptance, in USD; it is not part of the venue's or the operator wallet's equity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.collateral import OperationKind
from pegkeeper.domain.margin import inverse_unrealised_pnl_btc
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.units import SATS_PER_BTC

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class VenueState:
    """The venue's accounts at one time (a position snapshot)."""

    ts_ms: int
    size_contracts: Decimal  # signed: a short is negative
    mark_price_usd: Decimal
    equity_btc: Decimal  # trading equity (with unrealised P&L) + funding account


@dataclass(frozen=True, slots=True)
class HedgeFill:
    size_contracts: Decimal  # signed: a buy is positive
    price_usd: Decimal
    fee_btc: Decimal  # positive: paid


@dataclass(frozen=True, slots=True)
class OwnMove:
    """A transfer, deposit or withdrawal between the operator's accounts that arrived."""

    kind: OperationKind
    amount_btc: Decimal
    fee_btc: Decimal  # on top of the amount: a withdrawal's exchange fee, a deposit's onchain


@dataclass(frozen=True, slots=True)
class AcceptedQuote:
    direction: Direction  # BUY: the user buys USD with sats
    amount_sats: int
    amount_cents: int
    mid_usd_per_btc: Decimal | None  # None: no price known at acceptance


@dataclass(frozen=True, slots=True)
class PnlInputs:
    """What the store recorded over a window: the venue's accounts at its start and end, and
    between them the hedge's fills, the own moves that arrived, the quotes accepted and the
    swap's funding payments (BTC received, negative when paid)."""

    start: VenueState
    end: VenueState
    fills: Sequence[HedgeFill]
    moves: Sequence[OwnMove]
    quotes: Sequence[AcceptedQuote]
    funding_btc: Sequence[Decimal] = ()


@dataclass(frozen=True, slots=True)
class DealerPnl:
    """Signed components: a gain is positive, a cost negative."""

    hedge_btc: Decimal
    funding_btc: Decimal
    trading_fees_btc: Decimal
    onchain_fees_btc: Decimal
    quote_income_usd: Decimal
    quotes_unpriced: int  # accepted quotes with no price at acceptance (not counted)
    venue_equity_change_btc: Decimal
    wallet_change_btc: Decimal  # what the own moves brought to (+) or took from (-) the wallet
    own_transfers_btc: Decimal  # net moved into the venue from the wallet, fees apart
    price_usd: Decimal  # the mark at the window's end: USD values are at this price

    @property
    def total_btc(self) -> Decimal:
        """The P&L of the venue and the operator's wallet together."""
        return self.hedge_btc + self.funding_btc + self.trading_fees_btc + self.onchain_fees_btc

    @property
    def equity_change_btc(self) -> Decimal:
        """The change of total equity (venue accounts plus wallet) net of external flows."""
        return self.venue_equity_change_btc + self.wallet_change_btc

    @property
    def unexplained_btc(self) -> Decimal:
        """What no component explains: zero when every settlement was recorded."""
        return self.equity_change_btc - self.total_btc

    def usd(self, amount_btc: Decimal) -> Decimal:
        return amount_btc * self.price_usd


def dealer_pnl(recorded: PnlInputs, face_value_usd: Decimal) -> DealerPnl:
    start, end, fills = recorded.start, recorded.end, recorded.fills
    mark = end.mark_price_usd
    hedge = inverse_unrealised_pnl_btc(
        start.size_contracts, face_value_usd, start.mark_price_usd, mark
    ) + sum(
        (
            inverse_unrealised_pnl_btc(f.size_contracts, face_value_usd, f.price_usd, mark)
            for f in fills
        ),
        ZERO,
    )
    trading_fees = -sum((f.fee_btc for f in fills), ZERO)
    wallet_change, onchain_fees, moved = _own_moves(recorded.moves)
    venue_change = end.equity_btc - start.equity_btc
    funding = sum(recorded.funding_btc, ZERO)
    priced = [q for q in recorded.quotes if q.mid_usd_per_btc is not None]
    return DealerPnl(
        hedge_btc=hedge,
        funding_btc=funding,
        trading_fees_btc=trading_fees,
        onchain_fees_btc=onchain_fees,
        quote_income_usd=sum((quote_income_usd(q) for q in priced), ZERO),
        quotes_unpriced=len(recorded.quotes) - len(priced),
        venue_equity_change_btc=venue_change,
        wallet_change_btc=wallet_change,
        own_transfers_btc=moved,
        price_usd=mark,
    )


def _own_moves(moves: Sequence[OwnMove]) -> tuple[Decimal, Decimal, Decimal]:
    """What the moves did to the wallet, their fees (negative), and the amount moved from the
    wallet into the venue, fees apart, in BTC. Transfers between the venue's two accounts
    change neither account's sum but by their fees."""
    wallet = fees = moved = ZERO
    for move in moves:
        if move.kind is OperationKind.DEPOSIT:
            wallet -= move.amount_btc + move.fee_btc
            moved += move.amount_btc
        elif move.kind is OperationKind.WITHDRAWAL:
            wallet += move.amount_btc
            moved -= move.amount_btc
        fees -= move.fee_btc
    return wallet, fees, moved


def quote_income_usd(quote: AcceptedQuote) -> Decimal:
    """The dealer's spread on one quote against the mid: a user buying USD gives sats worth
    more than the cents received; a user selling USD gives cents worth more than the sats."""
    assert quote.mid_usd_per_btc is not None
    sats_usd = Decimal(quote.amount_sats) * quote.mid_usd_per_btc / SATS_PER_BTC
    cents_usd = Decimal(quote.amount_cents) / 100
    return sats_usd - cents_usd if quote.direction is Direction.BUY else cents_usd - sats_usd
