"""The peg monitor: best bids from every source -> aggregated stablecoin prices -> stability
statistics over tick and time windows -> published, served to people, and stored by its
recorder (peg_recorder.py: in one replica only, where several run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.events import TOPIC_PEG, BboUpdated, PegUpdated, decode_event, encode_event
from pegkeeper.domain.pegstats import DAY_MS, HOUR_MS, WEEK_MS, PegStats, PegWindow
from pegkeeper.domain.pricing import (
    AggregatedPrice,
    PricingModel,
    RobustConfig,
    TopOfBook,
    aggregate_stablecoin,
)
from pegkeeper.domain.records import PegStatsRow
from pegkeeper.ports import Bus, Clock, PegRepository
from pegkeeper.services.market.peg_recorder import PegRecorder

WINDOWS_MS = {"1h": HOUR_MS, "24h": DAY_MS, "7d": WEEK_MS}


@dataclass(frozen=True, slots=True)
class PegMonitorSettings:
    symbols: tuple[str, ...] = ("USDC", "USDT")
    model: PricingModel = PricingModel.ROBUST
    robust: RobustConfig = field(default_factory=RobustConfig)
    window_ticks: int = 1_000
    source_stale_after_ms: int = 30_000
    record_interval_ms: int = 1_000  # at most one stored row per symbol this often
    raw_retention_ms: int = 2 * DAY_MS  # then downsampled to 1-minute rows
    retention_check_ms: int = HOUR_MS


@dataclass(slots=True)
class PegReading:
    symbol: str
    ts_ms: int
    aggregate: AggregatedPrice
    ticks: PegStats
    windows: dict[str, PegStats]

    @property
    def price(self) -> float:
        return self.ticks.price

    @property
    def deviation_bps(self) -> float:
        return (self.ticks.price - 1.0) * 10_000

    def row(self) -> PegStatsRow:
        s = self.ticks
        agg = self.aggregate
        return PegStatsRow(
            symbol=self.symbol,
            ts_ms=self.ts_ms,
            price=s.price,
            direct=None if agg.direct is None else float(agg.direct),
            bridged=None if agg.bridged is None else float(agg.bridged),
            rmse=s.rmse,
            stdev=s.stdev,
            drawdown=s.drawdown,
            rmse_score=s.rmse_score,
            stdev_score=s.stdev_score,
            drawdown_score=s.drawdown_score,
            score=s.score,
        )


class _SymbolState:
    def __init__(self, window_ticks: int) -> None:
        self.ticks = PegWindow(max_count=window_ticks)
        self.windows = {name: PegWindow(span_ms=span) for name, span in WINDOWS_MS.items()}
        self.reading: PegReading | None = None
        self.last_recorded_ms = -(2**62)


class PegMonitor:
    def __init__(
        self, bus: Bus, clock: Clock, repository: PegRepository, settings: PegMonitorSettings
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._quotes: dict[tuple[str, str, str], tuple[TopOfBook, int]] = {}
        self._symbols = {s: _SymbolState(settings.window_ticks) for s in settings.symbols}
        self.recorder = PegRecorder(
            repository, clock, settings.raw_retention_ms, settings.retention_check_ms
        )
        self.updates = 0

    async def run(self) -> None:
        """The readings, from the prices on the bus; storing them is `recorder.run`."""
        subscription = self._bus.subscribe("bbo.*")
        try:
            async for _, payload in subscription:
                event = decode_event(payload)
                if isinstance(event, BboUpdated):
                    await self.on_bbo(event)
        finally:
            await subscription.close()

    async def on_bbo(self, event: BboUpdated) -> list[PegReading]:
        self.updates += 1
        self._quotes[(event.exchange, event.base, event.quote)] = (_top(event), event.receive_ms)
        readings = [r for s in self._symbols if (r := self._recompute(s, event.ts_ms))]
        await self._flush(readings)
        return readings

    def quotes(self) -> list[tuple[TopOfBook, int]]:
        """Every source's latest quote with its receive time, stale flags as of now."""
        now_ms = self._clock.now_ms()
        stale_after = self._settings.source_stale_after_ms
        return [
            (_with_stale(top, now_ms - received_ms > stale_after), received_ms)
            for top, received_ms in self._quotes.values()
        ]

    def reading(self, symbol: str) -> PegReading | None:
        state = self._symbols.get(symbol)
        return state.reading if state else None

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._settings.symbols

    def _recompute(self, symbol: str, ts_ms: int) -> PegReading | None:
        fresh = [top for top, _ in self.quotes()]
        aggregate = aggregate_stablecoin(symbol, fresh, self._settings.model, self._settings.robust)
        if aggregate.price is None:
            return None
        state = self._symbols[symbol]
        price = float(aggregate.price)
        ticks = state.ticks.push(price, ts_ms)
        windows = {name: window.push(price, ts_ms) for name, window in state.windows.items()}
        state.reading = PegReading(symbol, ts_ms, aggregate, ticks, windows)
        return state.reading

    async def _flush(self, readings: list[PegReading]) -> None:
        """At most one reading per symbol every `record_interval_ms`: published, and offered
        to the recorder (which keeps it only where it records)."""
        rows: list[PegStatsRow] = []
        for reading in readings:
            state = self._symbols[reading.symbol]
            if reading.ts_ms - state.last_recorded_ms >= self._settings.record_interval_ms:
                state.last_recorded_ms = reading.ts_ms
                rows.append(reading.row())
                event = PegUpdated(
                    reading.symbol, reading.ts_ms, reading.price, reading.ticks.score
                )
                await self._bus.publish(f"{TOPIC_PEG}.{reading.symbol}", encode_event(event))
        self.recorder.offer(rows)


def _top(event: BboUpdated) -> TopOfBook:
    return TopOfBook(
        exchange=event.exchange,
        base=event.base,
        quote=event.quote,
        bid=_decimal(event.bid),
        ask=_decimal(event.ask),
        ts_ms=event.ts_ms,
        bid_size=_decimal(event.bid_size),
        ask_size=_decimal(event.ask_size),
    )


def _with_stale(top: TopOfBook, stale: bool) -> TopOfBook:
    if top.stale == stale:
        return top
    return TopOfBook(
        top.exchange,
        top.base,
        top.quote,
        top.bid,
        top.ask,
        top.ts_ms,
        top.bid_size,
        top.ask_size,
        stale,
    )


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
