"""The figures operators see of the tokenized-equity hedger, as services/views/equities.py
builds them: per symbol its books, exposure and P&L; the chain ingestion; the switches; the
ledger's last check; P&L totals and their running series. Plain records, and the rules that
round or derive them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pegkeeper.domain.equities.allocation import LedgerBreak
from pegkeeper.domain.equities.chain import BlockRef
from pegkeeper.domain.equities.ledger import (
    BrokerFillRecord,
    BrokerOrderRecord,
    OnchainFillRecord,
)
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.broker_probe import BrokerCheck

CENTS = Decimal("0.01")  # USD figures derived here (exposure value, spread captured)
PRICE_PLACES = Decimal("0.000001")  # prices per share derived from a quotient
BREAK_SCOPES = ("order", "fill", "symbol")


@dataclass(frozen=True, slots=True)
class Switch:
    paused: bool = False
    by: str = ""
    since_ms: int = 0
    note: str = ""

    @classmethod
    def of(cls, raw: object) -> Switch:
        if not isinstance(raw, Mapping):
            return cls()
        return cls(
            paused=bool(raw.get("paused", False)),
            by=str(raw.get("by") or ""),
            since_ms=int(raw.get("since_ms") or 0),
            note=str(raw.get("note") or ""),
        )


@dataclass(frozen=True, slots=True)
class Switches:
    all_symbols: Switch
    symbols: dict[str, Switch]

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> Switches:
        symbols = state.get("symbols")
        return cls(
            Switch.of(state.get("global")),
            {str(k): Switch.of(v) for k, v in symbols.items()}
            if isinstance(symbols, Mapping)
            else {},
        )

    def holding(self, symbol: str) -> Switch | None:
        """The switch that keeps `symbol` paused (the global one first), None when active."""
        if self.all_symbols.paused:
            return self.all_symbols
        own = self.symbols.get(symbol)
        return own if own is not None and own.paused else None


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    symbol: str
    realised_usd: Decimal
    by_bucket: dict[PnlBucket, Decimal]
    fees_usd: Decimal
    unrealised_usd: Decimal | None  # None: no mark
    position_shares: Decimal  # signed shares of the open lots after the last trade
    trades: int


@dataclass(frozen=True, slots=True)
class SymbolRow:
    symbol: str
    onchain_net: Decimal  # shares, the maker bought positive
    hedged: Decimal  # the broker fills' net, bought positive
    pending: Decimal  # the in-flight order's unfilled part, bought positive
    in_flight: BrokerOrderRecord | None
    exposure: Decimal  # onchain net + hedged: positive means long, the hedge sells
    exposure_usd: Decimal | None  # at the last onchain price, to the cent (half even)
    oldest_open_ms: int | None
    exposure_age_seconds: int | None  # since the oldest onchain fill not fully covered
    waiting_reason: str
    paused: bool
    last_price_usd: Decimal | None
    pnl: SymbolPnl


@dataclass(frozen=True, slots=True)
class Ingestion:
    running: bool  # an ingestion reports to this process
    checkpoint: BlockRef | None  # from the store
    cutoff_block: int | None = None
    lag_blocks: int | None = None
    lag_seconds: int | None = None
    consecutive_failures: int | None = None
    last_error: str = ""
    last_success_ms: int | None = None
    stalled: bool = False
    skipped: dict[str, int] = field(default_factory=dict)  # stored skipped logs, by reason


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    checked_at_ms: int | None
    breaks: tuple[LedgerBreak, ...]
    last_error: str = ""

    @property
    def by_scope(self) -> dict[str, int]:
        counts = dict.fromkeys(BREAK_SCOPES, 0)
        for found in self.breaks:
            counts[found.scope] = counts.get(found.scope, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class PnlPoint:
    """Running totals over every symbol after one trade."""

    ts_ms: int
    realised_usd: Decimal
    fees_usd: Decimal

    @property
    def net_usd(self) -> Decimal:
        return self.realised_usd - self.fees_usd


@dataclass(frozen=True, slots=True)
class PnlSummary:
    symbols: list[SymbolPnl]
    points: list[PnlPoint]
    # what moving inventory cost (gas, tokenization, wallet and bridge fees, the conversion's
    # spread) by kind, in USD: charged against the realised P&L with the fees
    rebalancing_costs_usd: dict[str, Decimal] = field(default_factory=dict)

    @property
    def rebalancing_cost_usd(self) -> Decimal:
        return sum(self.rebalancing_costs_usd.values(), Decimal(0))

    @property
    def realised_usd(self) -> Decimal:
        return sum((s.realised_usd for s in self.symbols), Decimal(0))

    @property
    def fees_usd(self) -> Decimal:
        return sum((s.fees_usd for s in self.symbols), Decimal(0))

    @property
    def unrealised_usd(self) -> Decimal | None:
        marked = [s.unrealised_usd for s in self.symbols if s.unrealised_usd is not None]
        return sum(marked, Decimal(0)) if marked else None

    @property
    def by_bucket(self) -> dict[PnlBucket, Decimal]:
        totals = dict.fromkeys(PnlBucket, Decimal(0))
        for s in self.symbols:
            for bucket, usd in s.by_bucket.items():
                totals[bucket] += usd
        return totals


@dataclass(frozen=True, slots=True)
class EquitiesOverview:
    now_ms: int
    symbols: list[SymbolRow]
    ingestion: Ingestion
    switches: Switches | None  # None: no equity hedger's switches in this process
    ledger: LedgerStatus | None  # None: no reconciler in this process
    broker: BrokerCheck | None = None  # the last broker probe; None: none yet or not here


def pending_shares(order: BrokerOrderRecord | None) -> Decimal:
    """The unfilled part of an order not final yet, bought positive."""
    if order is None or order.state.is_terminal:
        return Decimal(0)
    left = max(order.intent.quantity - order.filled_quantity, Decimal(0))
    return left if order.intent.side is OrderSide.BUY else -left


def captured_usd(fill: OnchainFillRecord, shares: Decimal, broker: BrokerFillRecord) -> Decimal:
    """The spread earned by covering `shares` of an onchain fill with a broker fill, before
    fees, to the cent (half even): sold onchain at p and bought back at q earns (p - q) a share,
    bought onchain at p and sold at q earns (q - p)."""
    onchain_usd = fill.usdc * shares / abs(fill.signed_shares)
    broker_usd = broker.price_usd * shares
    earned = broker_usd - onchain_usd if fill.signed_shares > 0 else onchain_usd - broker_usd
    return earned.quantize(CENTS, rounding=ROUND_HALF_EVEN)


def usd_cents(shares: Decimal, price_usd: Decimal) -> Decimal:
    return (shares * price_usd).quantize(CENTS, rounding=ROUND_HALF_EVEN)


def price(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> str:
    """A quantity without trailing zeros or an exponent: 1.500 -> 1.5, 0E-18 -> 0."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def symbol_pnl(symbol: str, entries: list[PnlEntry], unrealised: Decimal | None) -> SymbolPnl:
    by_bucket = dict.fromkeys(PnlBucket, Decimal(0))
    for entry in entries:
        for bucket, usd in entry.realised_usd.items():
            by_bucket[bucket] += usd
    last = entries[-1] if entries else None
    return SymbolPnl(
        symbol=symbol,
        realised_usd=last.realised_total_usd if last else Decimal(0),
        by_bucket=by_bucket,
        fees_usd=last.fees_total_usd if last else Decimal(0),
        unrealised_usd=unrealised,
        position_shares=last.position_after if last else Decimal(0),
        trades=len(entries),
    )


def running(entries: Sequence[PnlEntry]) -> list[PnlPoint]:
    realised = fees = Decimal(0)
    points = []
    for entry in entries:
        realised += sum(entry.realised_usd.values(), Decimal(0))
        fees += entry.fee_usd
        points.append(PnlPoint(entry.ts_ms, realised, fees))
    return points


def thinned(points: list[PnlPoint], max_points: int) -> list[PnlPoint]:
    if len(points) <= max_points:
        return points
    last = len(points) - 1
    picked = sorted({i * last // (max_points - 1) for i in range(max_points)})
    return [points[i] for i in picked]
