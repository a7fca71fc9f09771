"""A simulated 24-hour calendar run of the equity hedger: 20 symbols, fills arriving around the
clock on the real NYSE calendar (exchange-calendars), the hedger behind its gate, every minute
of simulated time one ingestion poll and one hedger cycle. The broker is wrapped to count its
requests per simulated minute; at each regular close the open exposures are recorded."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pegkeeper.adapters.calendars.exchange import ExchangeCalendar
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.accumulation import HedgeSize, hedge_size
from pegkeeper.domain.equities.sessions import TradingDay
from pegkeeper.services.equities.hedge_gate import GateSettings
from tests.unit.equities_services.world import World, make_world

SYMBOLS = tuple(f"S{n:02d}" for n in range(20))
EXTENDED = frozenset(SYMBOLS[:10])  # half the assets are hedged in the extended sessions
MINUTE_MS = 60_000


class CountingBroker:
    """The Broker port around another, counting each request by the simulated minute."""

    def __init__(self, inner: Any, clock: ManualClock) -> None:
        self._inner = inner
        self._clock = clock
        self.per_minute: Counter[int] = Counter()
        self.name = inner.name
        self.kind = inner.kind

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in {
            "place_order",
            "order",
            "cancel_order",
            "account",
            "positions",
            "trading_days",
        }:
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.per_minute[self._clock.now_ms() // MINUTE_MS] += 1
            return await target(*args, **kwargs)

        return counted


@dataclass
class DayRun:
    world: World
    broker: CountingBroker
    days: list[TradingDay]
    fills: int = 0
    # at each regular close: the symbols whose exposure could still be hedged (not a remainder
    # under the broker's minimum), with their oldest fill's time
    left_at_close: dict[int, dict[str, int | None]] = field(default_factory=dict)


def fills_around_the_clock(
    seed: int, start_ms: int, hours: int
) -> Iterator[tuple[int, str, bool, Decimal]]:
    """(ms, symbol, maker sold, shares): about one fill every 3 minutes, any hour."""
    chance = random.Random(seed)
    for minute in range(hours * 60):
        if chance.random() < 1 / 3:
            shares = Decimal(chance.randint(1, 40)) / 4
            yield (
                start_ms + minute * MINUTE_MS,
                chance.choice(SYMBOLS),
                chance.random() < 0.5,
                shares,
            )


async def run_day(start_ms: int, *, hours: int = 24, then_until_ms: int, seed: int = 7) -> DayRun:
    """Fills for `hours` from `start_ms`, then none until `then_until_ms`, a minute at a time."""
    clock = ManualClock(start_ms)
    calendar = ExchangeCalendar(date(2026, 1, 1), date(2027, 12, 31))
    world = make_world(
        SYMBOLS,
        clock=clock,
        calendar=calendar,
        gate_settings=GateSettings(extended_hours=EXTENDED),
        latency_ms=2_000,
        holdings={s: Decimal(10_000) for s in SYMBOLS},
    )
    counting = CountingBroker(world.broker, clock)
    world.hedger._broker = counting  # type: ignore[assignment]
    world.hedger.execution._broker = counting  # type: ignore[assignment]
    assert world.hedger.gate is not None
    world.hedger.gate.broker = counting  # type: ignore[assignment]
    days = await calendar.trading_days(date(2026, 1, 1), date(2027, 12, 31))
    run = DayRun(world, counting, days)
    closes = {d.close_ms for d in days}
    pending = list(fills_around_the_clock(seed, start_ms, hours))
    while clock.now_ms() < then_until_ms:
        now = clock.now_ms()
        due = [f for f in pending if f[0] <= now]
        pending = pending[len(due) :]
        for n, (_, symbol, sold, shares) in enumerate(due):
            price = Decimal(100 + SYMBOLS.index(symbol))
            world.mine(
                world.fill(
                    symbol, sold=sold, shares=str(shares), usdc=str(shares * price), log_index=n
                )
            )
            run.fills += 1
        await world.ingestion.poll_once()
        await world.hedger.cycle("periodic")
        if now in closes:
            run.left_at_close[now] = await _hedgeable(world)
        clock.advance(60)
    return run


async def _hedgeable(world: World) -> dict[str, int | None]:
    left = {}
    for symbol, exposure in (await world.repo.exposures()).items():
        size = hedge_size(
            exposure.exposure,
            world.broker.kind,
            last_price_usd=exposure.last_price_usd,
            min_notional_usd=world.hedger.settings.min_notional_usd,
        )
        if isinstance(size, HedgeSize) or exposure.in_flight is not None:
            left[symbol] = exposure.oldest_open_ms
    return left
