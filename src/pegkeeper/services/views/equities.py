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
from decimal import Decimal
from typing import Any, Protocol

from pegkeeper.domain.equities.allocation import LedgerBreak
from pegkeeper.domain.equities.chain import BlockRef, SkipReason
from pegkeeper.domain.equities.ledger import (
    FillCover,
    SymbolExposure,
)
from pegkeeper.domain.equities.move_records import MoveCost
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.ports import Clock
from pegkeeper.services.equities.broker_probe import BrokerCheck
from pegkeeper.services.views.equities_figures import (
    EquitiesOverview,
    Ingestion,
    LedgerStatus,
    PnlSummary,
    Switch,
    Switches,
    SymbolPnl,
    SymbolRow,
    pending_shares,
    plain,
    price,
    running,
    symbol_pnl,
    thinned,
    usd_cents,
)

MAX_FILLS = 1_000

# ---- what the running services tell the view -----------------------------------------------


class EquityReads(Protocol):
    """The read side of the equity store (ports.equities.EquityRepository has all of it)."""

    async def checkpoint(self) -> BlockRef | None: ...

    async def exposures(self) -> dict[str, SymbolExposure]: ...

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]: ...

    async def skipped_counts(self) -> dict[str, int]: ...

    async def pnl_entries(self) -> list[PnlEntry]: ...


class RebalancingCosts(Protocol):
    async def costs(self, since_ms: int, until_ms: int) -> list[MoveCost]: ...


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
    """One symbol's P&L as the P&L service keeps it (services.equities.pnl.SymbolPnl)."""

    @property
    def realised_usd(self) -> Decimal: ...

    @property
    def realised_by_bucket_usd(self) -> Mapping[PnlBucket, Decimal]: ...

    @property
    def fees_usd(self) -> Decimal: ...

    @property
    def position_shares(self) -> Decimal:
        """Signed shares of the open FIFO lots."""
        ...

    @property
    def unrealised_usd(self) -> Decimal | None:
        """The open lots at the last onchain price; None without a price."""
        ...

    @property
    def trades(self) -> int: ...


class PnlSource(Protocol):
    """services.equities.pnl.EquityPnl, which keeps every entry in memory: the positions read
    their P&L from it. Without it they read the stored entries; the P&L report and its
    series always do (with the unrealised from here)."""

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


class BrokerStatus(Protocol):
    """services.equities.broker_probe.BrokerProbe: its last probe, None before the first."""

    @property
    def last(self) -> BrokerCheck | None: ...


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
    broker: BrokerStatus | None = None
    rebalancing: RebalancingCosts | None = None  # the rebalancer's records, when configured
    _seen: set[str] = field(default_factory=set, init=False, repr=False)  # symbols with data

    def known_symbols(self) -> list[str]:
        return sorted(set(self.configured) | self._seen)

    def switches(self) -> Switches | None:
        return Switches.of(self.control.state()) if self.control is not None else None

    async def overview(self) -> EquitiesOverview:
        exposures = await self.repository.exposures()
        self._seen.update(exposures)
        by_symbol = await self._symbol_pnls()
        switches = self.switches()
        reasons = _hedger_reasons(self.hedger)
        now_ms = self.clock.now_ms()
        rows = [
            _row(
                exposures.get(symbol) or _flat(symbol),
                by_symbol.get(symbol) or symbol_pnl(symbol, [], None),
                switches,
                reasons.get(symbol, ""),
                now_ms,
            )
            for symbol in self.known_symbols()
        ]
        chain = await self.ingestion_status()
        probe = self.broker.last if self.broker is not None else None
        return EquitiesOverview(now_ms, rows, chain, switches, self.ledger(), probe)

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
            symbol_pnl(symbol, grouped.get(symbol, []), unrealised.get(symbol))
            for symbol in sorted(set(grouped) | set(self.configured))
        ]
        costs = await self._rebalancing_costs()
        return PnlSummary(symbols, thinned(running(entries), max_points), costs)

    async def _rebalancing_costs(self) -> dict[str, Decimal]:
        if self.rebalancing is None:
            return {}
        totals: dict[str, Decimal] = {}
        for cost in await self.rebalancing.costs(0, self.clock.now_ms() + 1):
            totals[cost.kind.value] = totals.get(cost.kind.value, Decimal(0)) + cost.amount_usd
        return totals

    async def _symbol_pnls(self) -> dict[str, SymbolPnl]:
        if self.pnl_source is None:
            return {p.symbol: p for p in (await self.pnl(max_points=2)).symbols}
        return {
            symbol: SymbolPnl(
                symbol,
                p.realised_usd,
                dict(p.realised_by_bucket_usd),
                p.fees_usd,
                p.unrealised_usd,
                p.position_shares,
                p.trades,
            )
            for symbol, p in self.pnl_source.symbols().items()
        }

    def _unrealised(self) -> dict[str, Decimal]:
        if self.pnl_source is None:
            return {}
        marked = self.pnl_source.symbols().items()
        return {symbol: p.unrealised_usd for symbol, p in marked if p.unrealised_usd is not None}


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
