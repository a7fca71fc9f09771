"""FIFO P&L of the equity hedger, stored per trade with running totals and always equal to a
replay of the trades (the domain's `fifo.replay`).

At start the trades are replayed and compared with the stored entries: equal is fine; a
store that is only behind (the replay of the trades known when it was written) gets what
changed since; anything else is logged and alerted. Either way the stored entries are
replaced by the replay from the first difference on. After new onchain fills and broker fills
only the trades recorded since are read and put on the tape (`domain.equities.tape`), which
replays from just before the first of them; the changed tail is stored. A revert changes the
past, so it reads and replays everything again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.fifo import COUNTER_TRADE_WINDOW_MS, replay
from pegkeeper.domain.equities.pnl import (
    PnlBucket,
    PnlEntry,
    Trade,
    TradeCursor,
    TradeSource,
)
from pegkeeper.domain.equities.tape import PnlTape
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
        self._tape = PnlTape(counter_trade_window_ms=counter_trade_window_ms)  # as stored
        self._cursor = TradeCursor()
        self.started = False
        self.replays = 0  # of every trade: at start and after a revert
        self.rewritten_entries = 0  # entries stored again after a difference (not the tail)
        self.ready = asyncio.Event()

    async def start(self) -> bool:
        """Replays every trade and compares with what is stored; returns False when they
        differed (a store only behind does not). The stored entries end equal to the
        replay."""
        tape = await self._read_all()
        stored = await self._repository.pnl_entries()
        replayed = tape.entries
        at = _first_difference(replayed, stored)
        consistent = at == len(replayed) == len(stored) or self._behind(tape.trades, stored)
        if not consistent:
            self._mismatch(replayed, stored, at)
            self.rewritten_entries += len(stored) - at
        await self._store_changed(tape, stored)
        self._tape = tape
        self.started = True
        return consistent

    async def _read_all(self) -> PnlTape:
        read = await self._repository.trades_after(TradeCursor())
        tape = PnlTape(counter_trade_window_ms=self._window_ms)
        tape.insert(read.keyed)
        self.replays += 1
        self._cursor = read.cursor
        return tape

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
        """Puts the trades recorded since on the tape and stores the entries that changed;
        returns how many were stored."""
        read = await self._repository.trades_after(self._cursor)
        if read.cursor.reverted != self._cursor.reverted:
            tape = await self._read_all()
            written = await self._store_changed(tape, self._tape.entries)
            self._tape = tape
            return written
        at = self._tape.insert(read.keyed)
        self._cursor = read.cursor
        if at == len(self._tape.entries):
            return 0
        tail = self._tape.from_ts(self._tape.entries[at].ts_ms)
        await self._repository.replace_pnl_from(tail[0].ts_ms, tail)
        return len(tail)

    def _replay(self, trades: Sequence[Trade]) -> list[PnlEntry]:
        self.replays += 1
        return replay(trades, counter_trade_window_ms=self._window_ms)

    async def _store_changed(self, tape: PnlTape, stored: list[PnlEntry]) -> int:
        """Replaces the stored entries from the first that differs from the tape's."""
        replayed = tape.entries
        at = _first_difference(replayed, stored)
        if at == len(replayed) == len(stored):
            return 0
        from_ms = min(e.ts_ms for e in (replayed[at : at + 1] + stored[at : at + 1]))
        tail = tape.from_ts(from_ms)  # replaced: every entry from then
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
        counts: dict[str, int] = {}
        marks: dict[str, Decimal] = {}
        for trade in self._tape.trades:
            counts[trade.symbol] = counts.get(trade.symbol, 0) + 1
            if trade.source is TradeSource.ONCHAIN:
                marks[trade.symbol] = trade.price_usd
        return {s: self._of(s, marks.get(s), counts[s]) for s in sorted(counts)}

    def _of(self, symbol: str, mark: Decimal | None, trades: int) -> SymbolPnl:
        summary = self._tape.book.summary(symbol, mark)
        return SymbolPnl(
            symbol=symbol,
            realised_usd=summary.realised_total_usd,
            realised_by_bucket_usd=summary.realised_usd,
            fees_usd=summary.fees_total_usd,
            position_shares=summary.position,
            mark_price_usd=mark,
            unrealised_usd=summary.unrealised_usd,
            trades=trades,
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
        for entry in self._tape.entries:
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
