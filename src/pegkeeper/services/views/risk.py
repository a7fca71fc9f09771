"""The leverage and liquidation the operator sees: the same figures in `pegkeeper status`,
`pegkeeper funding`, /api/v1/dealer, /api/v1/funding and the dashboard, taken from the freshest
reading of the collateral account (with its time and its source) and rounded here, once:

- leverage: 2 decimals, rounded up (never shows less leverage than there is);
- liquidation distance: % of the mark, 2 decimals, rounded down (never shows more room);
- prices: USD, 2 decimals, half even;
- equity: 8 decimals (whole sats for BTC), rounded down (never shows more than there is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from pegkeeper.domain.instruments import collateral_currency
from pegkeeper.domain.leverage import LiquidationSource
from pegkeeper.domain.margin import liquidation_distance_pct
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.services.collateral.reading import AccountState

LEVERAGE_STEP = Decimal("0.01")
USD_STEP = Decimal("0.01")
PCT_STEP = Decimal("0.01")
EQUITY_STEP = Decimal("0.00000001")


class RiskSource(StrEnum):
    FUNDING = "funding"  # the collateral manager's reading of the whole account
    HEDGER = "hedger"  # the hedger's snapshot of its position, after its last cycle


@dataclass(frozen=True, slots=True)
class RiskFigures:
    as_of_ms: int
    source: RiskSource
    currency: str  # of the collateral and the equity
    mark_price_usd: Decimal
    equity: Decimal  # trading-account equity at the mark
    leverage: Decimal | None  # None: no equity left
    liquidation_price_usd: Decimal | None
    liquidation_source: LiquidationSource
    liquidation_distance_pct: Decimal | None  # % of the mark

    @property
    def liquidation_distance(self) -> Decimal | None:
        """The distance as a fraction of the mark (0.25: a 25 % move)."""
        pct = self.liquidation_distance_pct
        return None if pct is None else pct.scaleb(-2)  # exact: 2 decimals of % are 4 here


def of_reading(state: AccountState) -> RiskFigures:
    reading = state.reading
    return _rounded(
        state.read_at_ms,
        RiskSource.FUNDING,
        reading.currency,
        reading.mark_price_usd,
        reading.equity,
        reading.leverage,
        reading.liquidation_price_usd,
        reading.liquidation_source,
    )


def of_position(snapshot: PositionSnapshot) -> RiskFigures:
    liquidation = snapshot.liquidation_price_usd if snapshot.size_contracts else None
    return _rounded(
        snapshot.created_at_ms,
        RiskSource.HEDGER,
        collateral_currency(snapshot.instrument_id),
        snapshot.mark_price_usd,
        snapshot.collateral,
        snapshot.leverage,
        liquidation,
        LiquidationSource.VENUE if liquidation else LiquidationSource.NONE,
    )


def freshest(position: PositionSnapshot | None, state: AccountState | None) -> RiskFigures | None:
    """The newer of the collateral manager's reading and the hedger's snapshot; the snapshot
    counts only where it describes the same account: its position is the only one the account
    margins, and it has the venue's liquidation price when the reading has one."""
    candidates = [] if state is None else [of_reading(state)]
    if position is not None and (state is None or _comparable(position, state)):
        candidates.append(of_position(position))
    # on a tie, the reading: it covers every position of the account
    return max(candidates, key=lambda f: (f.as_of_ms, f.source is RiskSource.FUNDING), default=None)


def account_of(states: Sequence[AccountState], instrument_id: str | None) -> AccountState | None:
    """The reading of the account that margins `instrument_id` (else the first one)."""
    for state in states:
        if any(h.instrument.instrument_id == instrument_id for h in state.held):
            return state
    return states[0] if states else None


def _comparable(position: PositionSnapshot, state: AccountState) -> bool:
    held = [h for h in state.held if h.position.size_contracts != 0]
    if any(h.instrument.instrument_id != position.instrument_id for h in held):
        return False
    if collateral_currency(position.instrument_id) != state.reading.currency:
        return False
    if position.size_contracts == 0:
        return True
    return position.liquidation_price_usd is not None or state.reading.liquidation_price_usd is None


def _rounded(
    as_of_ms: int,
    source: RiskSource,
    currency: str,
    mark_price_usd: Decimal,
    equity: Decimal,
    leverage: Decimal | None,
    liquidation_price_usd: Decimal | None,
    liquidation_source: LiquidationSource,
) -> RiskFigures:
    distance = liquidation_distance_pct(mark_price_usd, liquidation_price_usd)
    return RiskFigures(
        as_of_ms=as_of_ms,
        source=source,
        currency=currency,
        mark_price_usd=mark_price_usd.quantize(USD_STEP, rounding=ROUND_HALF_EVEN),
        equity=equity.quantize(EQUITY_STEP, rounding=ROUND_FLOOR),
        leverage=_step(leverage, LEVERAGE_STEP, ROUND_CEILING),
        liquidation_price_usd=_step(liquidation_price_usd, USD_STEP, ROUND_HALF_EVEN),
        liquidation_source=liquidation_source,
        liquidation_distance_pct=_step(distance, PCT_STEP, ROUND_FLOOR),
    )


def _step(value: Decimal | None, step: Decimal, rounding: str) -> Decimal | None:
    return None if value is None else value.quantize(step, rounding=rounding)
