"""Position snapshots: exposure, collateral, leverage and liquidation as the venue reports them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.margin import leverage
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.domain.units import floor_btc
from pegkeeper.domain.venue import VenueBalances, VenuePosition


def take_snapshot(
    instrument: Instrument,
    position: VenuePosition,
    balances: VenueBalances,
    now_ms: int,
    correlation_id: str,
) -> PositionSnapshot:
    notional_usd = instrument.notional_usd(position.size_contracts, position.mark_price_usd)
    notional_in_collateral = (
        notional_usd / position.mark_price_usd if balances.currency == "BTC" else notional_usd
    )
    return PositionSnapshot(
        created_at_ms=now_ms,
        correlation_id=correlation_id,
        instrument_id=instrument.instrument_id,
        size_contracts=position.size_contracts,
        avg_price_usd=position.avg_price_usd,
        mark_price_usd=position.mark_price_usd,
        exposure_cents=instrument.exposure_cents(position.size_contracts, position.mark_price_usd),
        liquidation_price_usd=position.liquidation_price_usd,
        collateral=_to_sats(balances.trading_equity),
        collateral_available=_to_sats(balances.trading_available),
        funding_balance=_to_sats(balances.funding_balance),
        leverage=_rounded(leverage(notional_in_collateral, balances.trading_equity)),
    )


def _to_sats(amount: Decimal) -> Decimal:
    """Displayed collateral at 1-sat precision, rounded down: never shows more than is there."""
    return floor_btc(amount)


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
