"""FIFO P&L of the equity hedger, stored per trade with running totals and always equal to a
replay of the trades (the domain's `fifo.replay`).

At start the trades are replayed and compared with the stored entries: equal is fine; a
store that is only behind (the replay of the trades known when it was written) gets what
changed since; anything else is logged and alerted. Either way the stored entries are
replaced by the replay from the first difference on. After new onchain fills, broker fills
and reverts the replay runs again and the changed tail is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.fifo import COUNTER_TRADE_WINDOW_MS, replay, unrealised_usd
from pegkeeper.domain.equities.pnl import PnlBucket, PnlEntry, Trade, TradeSource
from pegkeeper.ports import Clock, EquityRepository
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop

log = structlog.get_logger("pegkeeper.equities.pnl")

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    symbol: str
    realised_usd: Decimal  # all buckets
    realised_by_bucket_usd: dict[PnlBucket, Decimal]  # every bucket, 0 when none
    fees_usd: Decimal
    position_shares: Decimal  # the open FIFO lots, signed
    mark_price_usd: Decimal | None  # the last onchain fill's price
    unrealised_usd: Decimal | None  # the open lots at the mark; None without a price
    trades: int


@dataclass(frozen=True, slots=True)
class PnlPoint:
    ts_ms: int
    realised_usd: Decimal  # running total after the trade at ts_ms
    fees_usd: Decimal  # running total


class EquityPnl:
    def __init__(
        self,
        repository: EquityRepository,
        clock: Clock,
        *,
        alerter: Alerter | None = None,
        counter_trade_window_ms: int = COUNTER_TRADE_WINDOW_MS,
        check_interval_seconds: float = 300.0,
    ) -> None:
        self._repository = repository
        self._alerter = alerter
        self._window_ms = counter_trade_window_ms
        self._loop = TriggerLoop("equity-pnl", clock, check_interval_seconds)
        self._trades: list[Trade] = []
        self._entries: list[PnlEntry] = []  # as stored
        self.started = False
        self.replays = 0
        self.rewritten_entries = 0  # entries stored again after a difference (not the tail)
        self.ready = asyncio.Event()

    async def start(self) -> bool:
        """Replays every trade and compares with what is stored; returns False when they
        differed (a store only behind does not). The stored entries end equal to the
        replay."""
        trades = await self._repository.trades()
        replayed = self._replay(trades)
        stored = await self._repository.pnl_entries()
        at = _first_difference(replayed, stored)
        consistent = at == len(replayed) == len(stored) or self._behind(trades, stored)
        if not consistent:
            self._mismatch(replayed, stored, at)
            self.rewritten_entries += len(stored) - at
        await self._store_tail(replayed, stored)
        self._trades, self._entries = trades, replayed
        self.started = True
        return consistent

    def _behind(self, trades: list[Trade], stored: list[PnlEntry]) -> bool:
        """Whether the stored entries are the replay of the trades known when they were
        stored: only behind, not wrong. Fills arrive after later broker fills (block time
        runs behind the cutoff), so the missing trades may sit anywhere in time order."""
        stored_ids = {e.trade_id for e in stored}
        known = [t for t in trades if t.trade_id in stored_ids]
        return len(known) == len(stored) and self._replay(known) == stored

    def trigger(self, reason: str) -> None:
        """Replay again soon (new fills, broker fills, reverts); folded while one runs."""
        self._loop.trigger(reason)

    async def run(self) -> None:
        await self._loop.run(self._cycle, [], started=self.ready)

    async def _cycle(self, trigger: Trigger) -> None:
        if not self.started:
            await self.start()
        else:
            await self.refresh()

    async def refresh(self) -> int:
        """Replays the trades and stores the entries that changed; returns how many."""
        trades = await self._repository.trades()
        replayed = self._replay(trades)
        written = await self._store_tail(replayed, self._entries)
        self._trades, self._entries = trades, replayed
        return written

    def _replay(self, trades: Sequence[Trade]) -> list[PnlEntry]:
        self.replays += 1
        return replay(trades, counter_trade_window_ms=self._window_ms)

    async def _store_tail(self, replayed: list[PnlEntry], stored: list[PnlEntry]) -> int:
        at = _first_difference(replayed, stored)
        if at == len(replayed) == len(stored):
            return 0
        firsts = [e.ts_ms for e in (replayed[at : at + 1] + stored[at : at + 1])]
        from_ms = min(firsts)
        tail = [e for e in replayed if e.ts_ms >= from_ms]  # replaced: every entry from then
        await self._repository.replace_pnl_from(from_ms, tail)
        return len(tail)

    def _mismatch(self, replayed: list[PnlEntry], stored: list[PnlEntry], at: int) -> None:
        first = stored[at].trade_id if at < len(stored) else replayed[at].trade_id
        log.error(
            "stored equity P&L differs from its replay; replaced by the replay",
            first_trade=first,
            stored=len(stored),
            replayed=len(replayed),
        )
        if self._alerter is not None:
            self._alerter.event(
                AlertKind.EQUITY_PNL_MISMATCH,
                "equity P&L differed from its replay",
                f"the stored entries differ from trade {first} on ({len(stored)} stored, "
                f"{len(replayed)} replayed); they are replaced by the replay",
                {"first_trade": first},
            )

    def symbols(self) -> dict[str, SymbolPnl]:
        """Each symbol's P&L now, unrealised marked at its last onchain fill's price."""
        by_symbol: dict[str, list[PnlEntry]] = {}
        for entry in self._entries:
            by_symbol.setdefault(entry.symbol, []).append(entry)
        trades: dict[str, list[Trade]] = {}
        for trade in self._trades:
            trades.setdefault(trade.symbol, []).append(trade)
        return {s: self._of(s, by_symbol[s], trades.get(s, [])) for s in sorted(by_symbol)}

    def _of(self, symbol: str, entries: list[PnlEntry], trades: list[Trade]) -> SymbolPnl:
        buckets = dict.fromkeys(PnlBucket, ZERO)
        for entry in entries:
            for bucket, amount in entry.realised_usd.items():
                buckets[bucket] += amount
        last = entries[-1]
        mark = next(
            (t.price_usd for t in reversed(trades) if t.source is TradeSource.ONCHAIN), None
        )
        return SymbolPnl(
            symbol=symbol,
            realised_usd=last.realised_total_usd,
            realised_by_bucket_usd=buckets,
            fees_usd=last.fees_total_usd,
            position_shares=last.position_after,
            mark_price_usd=mark,
            unrealised_usd=unrealised_usd(trades, mark) if mark is not None else None,
            trades=len(entries),
        )

    def unrealised_usd(self) -> dict[str, Decimal]:
        """Per symbol, the open lots marked at its last onchain price (symbols with one)."""
        return {
            s: p.unrealised_usd for s, p in self.symbols().items() if p.unrealised_usd is not None
        }

    def totals(self) -> tuple[Decimal, Decimal, Decimal]:
        """Realised, fees and unrealised (symbols with a price) over every symbol, in USD."""
        figures = self.symbols().values()
        realised = sum((f.realised_usd for f in figures), ZERO)
        fees = sum((f.fees_usd for f in figures), ZERO)
        unrealised = sum((f.unrealised_usd or ZERO for f in figures), ZERO)
        return realised, fees, unrealised

    def series(self, symbol: str | None = None, max_points: int = 500) -> list[PnlPoint]:
        """Realised P&L and fees after each trade (one symbol, or summed over all), oldest
        first, thinned evenly to at most `max_points` (the last point always kept)."""
        running: dict[str, tuple[Decimal, Decimal]] = {}
        realised = fees = ZERO
        points: list[PnlPoint] = []
        for entry in self._entries:
            if symbol is not None and entry.symbol != symbol:
                continue
            was_realised, was_fees = running.get(entry.symbol, (ZERO, ZERO))
            realised += entry.realised_total_usd - was_realised
            fees += entry.fees_total_usd - was_fees
            running[entry.symbol] = (entry.realised_total_usd, entry.fees_total_usd)
            points.append(PnlPoint(entry.ts_ms, realised, fees))
        return _thin(points, max_points)


def _first_difference(replayed: Sequence[PnlEntry], stored: Sequence[PnlEntry]) -> int:
    for i, (a, b) in enumerate(zip(replayed, stored, strict=False)):
        if a != b:
            return i
    return min(len(replayed), len(stored))


def _thin(points: list[PnlPoint], max_points: int) -> list[PnlPoint]:
    if max_points <= 0:
        return []
    if len(points) <= max_points:
        return points
    step = len(points) / max_points
    chosen = [points[int(i * step)] for i in range(max_points - 1)]
    return [*chosen, points[-1]]
