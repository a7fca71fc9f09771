"""What operators see of the tokenized-equity hedger: per symbol the maker's onchain net, what
the broker holds and has in flight, the open exposure with its age and why it waits, P&L; each
onchain fill with the broker fills that covered it; the chain ingestion's liveness, the
switches and the ledger's last check.

The numbers come from the equity store (the truth); the running services add what only they
know, through the small Protocols below, each optional (a process that does not run a service
shows its part as unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from pegkeeper.domain.equities.allocation import LedgerBreak
from pegkeeper.domain.equities.chain import BlockRef, SkipReason
from pegkeeper.domain.equities.ledger import (
    BrokerFillRecord,
    BrokerOrderRecord,
    FillCover,
    OnchainFillRecord,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.ports import Clock

CENTS = Decimal("0.01")  # USD figures the view derives (exposure value, spread captured)
PRICE_PLACES = Decimal("0.000001")  # prices per share derived from a quotient
BREAK_SCOPES = ("order", "fill", "symbol")
MAX_FILLS = 1_000


# ---- what the running services tell the view -----------------------------------------------


class EquityReads(Protocol):
    """The read side of the equity store (ports.equities.EquityRepository has all of it)."""

    async def checkpoint(self) -> BlockRef | None: ...

    async def exposures(self) -> dict[str, SymbolExposure]: ...

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]: ...

    async def skipped_counts(self) -> dict[str, int]: ...

    async def pnl_entries(self) -> list[PnlEntry]: ...


class SymbolWait(Protocol):
    """What the hedger says of one symbol (services.equities.hedger.SymbolStatus)."""

    @property
    def waiting(self) -> str:
        """Why no order is sent now ("below the 2 USD minimum", "market closed"), "" when
        nothing holds it back."""
        ...

    @property
    def last_error(self) -> str:
        """The last failed order's reason, until an order goes through."""
        ...


class HedgerStatus(Protocol):
    """The equity hedger (services.equities.hedger.EquityHedger)."""

    def status(self) -> Mapping[str, SymbolWait]:
        """Each symbol as of the hedger's last cycle."""
        ...


class IngestionFigures(Protocol):
    """The chain ingestion's liveness (services.equities.ingestion.IngestionFigures)."""

    @property
    def cutoff_block(self) -> int | None: ...

    @property
    def lag_blocks(self) -> int | None:
        """Blocks between the checkpoint and the cutoff."""
        ...

    @property
    def lag_seconds(self) -> int | None:
        """Block time between the checkpoint and the cutoff."""
        ...

    @property
    def consecutive_failures(self) -> int: ...

    @property
    def last_error(self) -> str: ...

    @property
    def last_success_ms(self) -> int | None:
        """When a poll last read up to the cutoff."""
        ...

    @property
    def stalled(self) -> bool:
        """The checkpoint has not moved, while behind, for longer than the alert limit."""
        ...


class IngestionStatus(Protocol):
    """services.equities.ingestion.ChainIngestion."""

    def figures(self) -> IngestionFigures: ...


class MarkedPnl(Protocol):
    """One symbol's P&L as the P&L service marks it (services.equities.pnl.SymbolPnl)."""

    @property
    def unrealised_usd(self) -> Decimal | None:
        """The open lots at the last onchain price; None without a price."""
        ...


class PnlSource(Protocol):
    """services.equities.pnl.EquityPnl. Realised P&L and fees are read from the stored
    entries (so a process without the service shows them too); unrealised from here."""

    def symbols(self) -> Mapping[str, MarkedPnl]: ...


class SwitchBoard(Protocol):
    """The equity hedger's switches, one global and one per symbol
    (services.equities.control.EquityControl, built with `records_actions=False`: the HTTP
    API writes each action to the audit trail, with the request's address, before it calls
    `pause` or `resume`; the switch board restores its switches from those records)."""

    def state(self) -> dict[str, Any]:
        """{"global": {paused, by, since_ms, note}, "symbols": {SYMBOL: {...}}}."""
        ...

    async def pause(self, symbol: str | None, by: str, note: str = "") -> object:
        """Pauses one symbol, or every one when `symbol` is None."""
        ...

    async def resume(self, symbol: str | None, by: str, note: str = "") -> object: ...


class LedgerFigures(Protocol):
    """The reconciler's last check (services.equities.reconciler.ReconcilerFigures)."""

    @property
    def last_check_ms(self) -> int | None: ...

    @property
    def breaks(self) -> Sequence[LedgerBreak]:
        """What the last check found broken (empty: every invariant held)."""
        ...

    @property
    def last_error(self) -> str:
        """Why the last check could not read the ledger, "" when it could."""
        ...


class LedgerCheck(Protocol):
    """services.equities.reconciler.LedgerReconciler."""

    def figures(self) -> LedgerFigures: ...


# ---- what the view builds ---------------------------------------------------------------


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


class UnknownSymbol(LookupError):
    def __init__(self, symbol: str, known: Sequence[str]) -> None:
        listed = ", ".join(known) or "none"
        super().__init__(f"no equity symbol {symbol!r}: the configured symbols are {listed}")


@dataclass
class EquitiesView:
    repository: EquityReads
    clock: Clock
    configured: Sequence[str] = ()  # the configured broker symbols, shown even before a fill
    hedger: HedgerStatus | None = None
    ingestion: IngestionStatus | None = None
    pnl_source: PnlSource | None = None
    control: SwitchBoard | None = None
    reconciler: LedgerCheck | None = None
    _seen: set[str] = field(default_factory=set, init=False, repr=False)  # symbols with data

    def known_symbols(self) -> list[str]:
        return sorted(set(self.configured) | self._seen)

    def switches(self) -> Switches | None:
        return Switches.of(self.control.state()) if self.control is not None else None

    async def overview(self) -> EquitiesOverview:
        exposures = await self.repository.exposures()
        self._seen.update(exposures)
        pnl = await self.pnl(max_points=2)
        by_symbol = {p.symbol: p for p in pnl.symbols}
        switches = self.switches()
        reasons = _hedger_reasons(self.hedger)
        now_ms = self.clock.now_ms()
        rows = [
            _row(
                exposures.get(symbol) or _flat(symbol),
                by_symbol.get(symbol) or _no_pnl(symbol, self._unrealised().get(symbol)),
                switches,
                reasons.get(symbol, ""),
                now_ms,
            )
            for symbol in self.known_symbols()
        ]
        return EquitiesOverview(
            now_ms, rows, await self.ingestion_status(), switches, self.ledger()
        )

    async def ingestion_status(self) -> Ingestion:
        checkpoint = await self.repository.checkpoint()
        skipped = await self.skipped()
        if self.ingestion is None:
            return Ingestion(False, checkpoint, skipped=skipped)
        figures = self.ingestion.figures()
        return Ingestion(
            running=True,
            checkpoint=checkpoint,
            cutoff_block=figures.cutoff_block,
            lag_blocks=figures.lag_blocks,
            lag_seconds=figures.lag_seconds,
            consecutive_failures=figures.consecutive_failures,
            last_error=figures.last_error,
            last_success_ms=figures.last_success_ms,
            stalled=figures.stalled,
            skipped=skipped,
        )

    async def skipped(self) -> dict[str, int]:
        """Every reason, counted or not."""
        counts = dict.fromkeys((r.value for r in SkipReason), 0)
        counts.update(await self.repository.skipped_counts())
        return counts

    def ledger(self) -> LedgerStatus | None:
        if self.reconciler is None:
            return None
        figures = self.reconciler.figures()
        return LedgerStatus(figures.last_check_ms, tuple(figures.breaks), figures.last_error)

    async def fills(self, symbol: str, limit: int) -> list[FillCover]:
        """The symbol's onchain fills, newest first, each with the broker fills covering it;
        UnknownSymbol for a symbol neither configured nor seen."""
        if not 1 <= limit <= MAX_FILLS:
            raise InvalidInput(f"limit must be 1 to {MAX_FILLS}, got {limit}")
        if symbol not in self.configured and symbol not in self._seen:
            self._seen.update(await self.repository.exposures())
            if symbol not in self._seen:
                raise UnknownSymbol(symbol, self.known_symbols())
        return await self.repository.fills_of(symbol, limit)

    async def pnl(self, max_points: int) -> PnlSummary:
        """Realised P&L and fees per symbol and bucket from the stored entries, unrealised
        from the P&L service's marks, and the running totals over time (at most
        `max_points`, the first and the last always among them)."""
        if max_points < 2:
            raise InvalidInput(f"max_points must be at least 2, got {max_points}")
        entries = sorted(await self.repository.pnl_entries(), key=lambda e: e.ts_ms)
        unrealised = self._unrealised()
        grouped: dict[str, list[PnlEntry]] = {}
        for entry in entries:
            grouped.setdefault(entry.symbol, []).append(entry)
        self._seen.update(grouped)
        symbols = [
            _symbol_pnl(symbol, grouped.get(symbol, []), unrealised.get(symbol))
            for symbol in sorted(set(grouped) | set(self.configured))
        ]
        return PnlSummary(symbols, _thinned(_running(entries), max_points))

    def _unrealised(self) -> dict[str, Decimal]:
        if self.pnl_source is None:
            return {}
        marked = self.pnl_source.symbols().items()
        return {symbol: p.unrealised_usd for symbol, p in marked if p.unrealised_usd is not None}


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


def _row(
    exposure: SymbolExposure,
    pnl: SymbolPnl,
    switches: Switches | None,
    hedger_reason: str,
    now_ms: int,
) -> SymbolRow:
    holding = switches.holding(exposure.symbol) if switches is not None else None
    open_ms = exposure.oldest_open_ms if exposure.exposure != 0 else None
    last_price = exposure.last_price_usd
    return SymbolRow(
        symbol=exposure.symbol,
        onchain_net=exposure.onchain_net,
        hedged=exposure.broker_net,
        pending=pending_shares(exposure.in_flight),
        in_flight=exposure.in_flight,
        exposure=exposure.exposure,
        exposure_usd=usd_cents(exposure.exposure, last_price) if last_price is not None else None,
        oldest_open_ms=open_ms,
        exposure_age_seconds=max(now_ms - open_ms, 0) // 1000 if open_ms is not None else None,
        waiting_reason=_waiting(exposure, holding, switches, hedger_reason),
        paused=holding is not None,
        last_price_usd=price(last_price),
        pnl=pnl,
    )


def _waiting(
    exposure: SymbolExposure, holding: Switch | None, switches: Switches | None, hedger: str
) -> str:
    """Why the open exposure is not being hedged now: a switch, the order in flight, or
    what the hedger says ("" when nothing is open or nothing holds it back)."""
    order = exposure.in_flight
    working = order is not None and not order.state.is_terminal
    if exposure.exposure == 0 and not working:
        return ""
    if holding is not None:
        scope = "every symbol" if switches and holding is switches.all_symbols else "this symbol"
        who = f" by {holding.by}" if holding.by else ""
        note = f" ({holding.note})" if holding.note else ""
        return f"paused for {scope}{who}{note}"
    if order is not None and working:
        intent = order.intent
        return (
            f"order {intent.client_order_id} {order.state.value}: {intent.side.value} "
            f"{plain(intent.quantity)}, {plain(order.filled_quantity)} filled"
        )
    return hedger


def _hedger_reasons(hedger: HedgerStatus | None) -> dict[str, str]:
    """The hedger's reason per symbol, else its last failed order's."""
    if hedger is None:
        return {}
    reasons = {}
    for symbol, status in hedger.status().items():
        if status.waiting:
            reasons[symbol] = status.waiting
        elif status.last_error:
            reasons[symbol] = f"the last order failed: {status.last_error}"
    return reasons


def _flat(symbol: str) -> SymbolExposure:
    return SymbolExposure(symbol, Decimal(0), Decimal(0), None, None, None)


def _no_pnl(symbol: str, unrealised: Decimal | None) -> SymbolPnl:
    return _symbol_pnl(symbol, [], unrealised)


def _symbol_pnl(symbol: str, entries: list[PnlEntry], unrealised: Decimal | None) -> SymbolPnl:
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


def _running(entries: Sequence[PnlEntry]) -> list[PnlPoint]:
    realised = fees = Decimal(0)
    points = []
    for entry in entries:
        realised += sum(entry.realised_usd.values(), Decimal(0))
        fees += entry.fee_usd
        points.append(PnlPoint(entry.ts_ms, realised, fees))
    return points


def _thinned(points: list[PnlPoint], max_points: int) -> list[PnlPoint]:
    if len(points) <= max_points:
        return points
    last = len(points) - 1
    picked = sorted({i * last // (max_points - 1) for i in range(max_points)})
    return [points[i] for i in picked]
