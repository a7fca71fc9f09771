"""Leverage and liquidation of the positions margined in one currency, against the mark price.

Leverage is the positions' notional at the mark over the trading account's equity at the
mark, so a price rise that shrinks the equity of a short shows at once (the Galoy dealer's
liability-over-collateral did not). The liquidation price is the venue's own when it reports
one for the only open position, and otherwise solved from the equity:

- inverse (USD face value, BTC margin), with N the signed contracts times their face value:
  equity(P') = eq + N (1/P - 1/P') = MMR |N| / P'  gives  P' = (N + MMR |N|) / (eq + N / P);
- linear (BTC face value, USDT margin), with s the signed BTC size:
  equity(P') = eq + s (P' - P) = MMR |s| P'  gives  P' = (s P - eq) / (s - MMR |s|).

With one position these equal the spec's formula in terms of open price and cash balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.margin import liquidation_distance_pct
from pegkeeper.domain.venue import VenueBalances, VenuePosition

ZERO = Decimal(0)
ONE = Decimal(1)


class LiquidationSource(StrEnum):
    VENUE = "venue"  # the venue's own number
    FORMULA = "formula"  # solved from equity, size and the maintenance margin rate
    NONE = "none"  # no position, or a position the price cannot liquidate


@dataclass(frozen=True, slots=True)
class LeverageReading:
    currency: str  # the collateral currency
    mark_price_usd: Decimal
    position_contracts: Decimal  # signed, summed over the positions
    signed_face: Decimal  # summed contracts x face value: USD (inverse) or BTC (linear)
    notional: Decimal  # unsigned, collateral currency at the mark
    equity: Decimal  # trading-account equity, collateral currency
    leverage: Decimal | None  # None: no equity left
    liquidation_price_usd: Decimal | None
    liquidation_source: LiquidationSource
    distance_pct: Decimal | None  # how far the price must move to liquidate, % of the mark


@dataclass(frozen=True, slots=True)
class HeldPosition:
    instrument: Instrument
    position: VenuePosition


def read_leverage(
    held: Sequence[HeldPosition],
    balances: VenueBalances,
    mark_price_usd: Decimal,
    maintenance_margin_rate: Decimal,
) -> LeverageReading:
    """`held` are the positions margined in `balances.currency` (cross margin, one account)."""
    if mark_price_usd <= 0:
        raise ValueError(f"mark price must be positive, got {mark_price_usd}")
    currency = balances.currency
    inverse = currency == "BTC"
    signed_face = sum((_signed_face(h) for h in held), ZERO)  # USD (inverse) or BTC (linear)
    contracts = sum((h.position.size_contracts for h in held), ZERO)
    notional = notional_at(signed_face, mark_price_usd, inverse)
    equity = balances.trading_equity
    leverage = notional / equity if equity > 0 else None
    open_positions = [h for h in held if h.position.size_contracts != 0]
    source = LiquidationSource.NONE
    liquidation: Decimal | None = None
    if len(open_positions) == 1 and open_positions[0].position.liquidation_price_usd:
        liquidation = open_positions[0].position.liquidation_price_usd
        source = LiquidationSource.VENUE
    elif signed_face != 0:
        solve = _inverse_liquidation if inverse else _linear_liquidation
        liquidation = solve(signed_face, equity, mark_price_usd, maintenance_margin_rate)
        source = LiquidationSource.FORMULA if liquidation is not None else LiquidationSource.NONE
    return LeverageReading(
        currency=currency,
        mark_price_usd=mark_price_usd,
        position_contracts=contracts,
        signed_face=signed_face,
        notional=notional,
        equity=equity,
        leverage=leverage,
        liquidation_price_usd=liquidation,
        liquidation_source=source,
        distance_pct=liquidation_distance_pct(mark_price_usd, liquidation),
    )


def _signed_face(held: HeldPosition) -> Decimal:
    instrument = held.instrument
    return held.position.size_contracts * instrument.contract_value


def _inverse_liquidation(
    signed_face_usd: Decimal, equity: Decimal, mark: Decimal, mmr: Decimal
) -> Decimal | None:
    denominator = equity + signed_face_usd / mark
    if denominator == 0:
        return None
    price = (signed_face_usd + mmr * abs(signed_face_usd)) / denominator
    return _on_its_side(price, signed_face_usd, mark)


def _linear_liquidation(
    signed_btc: Decimal, equity: Decimal, mark: Decimal, mmr: Decimal
) -> Decimal | None:
    denominator = signed_btc - mmr * abs(signed_btc)
    if denominator == 0:
        return None
    price = (signed_btc * mark - equity) / denominator
    return _on_its_side(price, signed_btc, mark)


def _on_its_side(price: Decimal, signed_size: Decimal, mark: Decimal) -> Decimal | None:
    """A short is liquidated by a rise, a long by a fall. No positive root: the price cannot
    liquidate the position. A root on the wrong side of the mark: the equity is already below
    the maintenance margin, so the liquidation price is the mark itself."""
    if price <= 0:
        return None
    if (signed_size < 0 and price < mark) or (signed_size > 0 and price > mark):
        return mark
    return price


def equity_at(reading: LeverageReading, new_mark_usd: Decimal) -> tuple[Decimal, Decimal]:
    """(equity, notional) of the same positions at `new_mark_usd`: what a price tick does to
    the account, without asking the venue (funding and fees aside)."""
    old, signed_face = reading.mark_price_usd, reading.signed_face
    inverse = reading.currency == "BTC"
    equity = reading.equity + move_pnl(signed_face, old, new_mark_usd, inverse)
    return equity, notional_at(signed_face, new_mark_usd, inverse)


def notional_at(signed_face: Decimal, mark_usd: Decimal, inverse: bool) -> Decimal:
    """Unsigned, in the collateral: a face in USD over the mark (inverse), in BTC times it."""
    return abs(signed_face) / mark_usd if inverse else abs(signed_face) * mark_usd


def move_pnl(
    signed_face: Decimal, mark_usd: Decimal, new_mark_usd: Decimal, inverse: bool
) -> Decimal:
    """What a move of the mark from `mark_usd` to `new_mark_usd` adds to the equity of a
    position of `signed_face` (USD when inverse, BTC when linear), in its collateral."""
    if inverse:
        return signed_face * (ONE / mark_usd - ONE / new_mark_usd)
    return signed_face * (new_mark_usd - mark_usd)


def equity_for_distance(
    signed_face: Decimal, mark_usd: Decimal, mmr: Decimal, distance: Decimal, inverse: bool
) -> Decimal:
    """The equity at which the liquidation price of `signed_face` (USD when inverse, BTC when
    linear) lies `distance` (a fraction of the mark) away from `mark_usd`, on its side (above
    for a short): the liquidation formulas above solved for the equity.

    inverse: P' = (N + MMR |N|) / (eq + N / P)  gives  eq = (N + MMR |N|) / P' - N / P;
    linear:  P' = (s P - eq) / (s - MMR |s|)   gives  eq = s P - P' (s - MMR |s|);
    with P' = P (1 + d) for a short, P (1 - d) for a long. For a short of notional Q at the mark
    that is Q (d + MMR) / (1 + d) (inverse) and Q ((1 + d)(1 + MMR) - 1) (linear)."""
    side = -1 if signed_face < 0 else 1
    liquidation = mark_usd * (1 - side * distance)
    held = signed_face + mmr * abs(signed_face)
    if inverse:
        return held / liquidation - signed_face / mark_usd
    return signed_face * mark_usd - liquidation * (signed_face - mmr * abs(signed_face))


def initial_margin(
    instrument: Instrument, contracts: Decimal, mark_price_usd: Decimal, leverage: Decimal
) -> Decimal:
    """Initial margin of `contracts` at the mark and `leverage`, in the settlement currency."""
    margin = instrument.notional_usd(contracts, mark_price_usd) / leverage
    return margin / mark_price_usd if instrument.settle_currency == "BTC" else margin
