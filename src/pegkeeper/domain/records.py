"""What the audit trail records about hedging: decisions, orders, position snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.orders import OrderIntent, OrderState


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    correlation_id: str
    created_at_ms: int
    trigger: str  # liability | position | periodic | startup | operator
    policy: str
    rule: str
    action: str  # hold | sell | buy | close
    size_contracts: Decimal
    instrument_id: str
    liability_cents: int
    exposure_cents: int
    position_contracts: Decimal
    hedge_ratio: Decimal | None
    btc_price_usd: Decimal


@dataclass(frozen=True, slots=True)
class LiabilityCover:
    """The liability events a decision answers: those with seq in (after_seq, through_seq],
    the events that arrived since the last decision of the hedger leg `leg`."""

    leg: str
    after_seq: int
    through_seq: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    intent: OrderIntent
    state: OrderState
    updated_at_ms: int
    venue_order_id: str
    filled_contracts: Decimal
    avg_price_usd: Decimal | None
    message: str


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    created_at_ms: int
    correlation_id: str
    instrument_id: str
    size_contracts: Decimal
    avg_price_usd: Decimal | None
    mark_price_usd: Decimal
    exposure_cents: int
    liquidation_price_usd: Decimal | None
    collateral: Decimal  # trading-account equity, settlement currency
    collateral_available: Decimal
    funding_balance: Decimal
    leverage: Decimal | None


@dataclass(frozen=True, slots=True)
class PegStatsRow:
    """A stablecoin's aggregated price and its stability statistics at one time."""

    symbol: str
    ts_ms: int
    price: float
    direct: float | None
    bridged: float | None
    rmse: float
    stdev: float
    drawdown: float
    rmse_score: float
    stdev_score: float
    drawdown_score: float
    score: float
