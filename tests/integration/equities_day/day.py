"""A simulated calendar run of the equity hedger at one broker: 20 symbols, fills arriving around
the clock on the real NYSE calendar, the hedger behind its gate as `pegkeeper run` wires it.

The run steps as the running hedger does: a step at every minute (the periodic check), one as
each fill arrives (ingested and hedged at once: sooner than the 5-second chain poll, so that a
busy spell asks the broker for all it can), and one every second while an order is in flight
(the hedger's recheck). Every 5 minutes the broker probe reads the account, positions and
calendar, as it does for `/readyz`. Time is the run's clock, shared with the broker's local
server: a wait inside a step (a request budget holding a request back) moves it on by that
wait, as real time would pass. At each regular close, the exposures still hedgeable are
recorded before the fills of the next session come in.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.bootstrap.brokers import PROBE_INTERVAL_SECONDS, broker_probe
from pegkeeper.domain.equities.accumulation import HedgeSize, hedge_size
from pegkeeper.services.equities.hedge_gate import GateSettings
from tests.fakes_equities import MemoryEquityRepository
from tests.unit.equities_services.world import World, make_world

from .venues import MINUTE_MS, Venue, open_venue

SYMBOLS = tuple(f"S{n:02d}" for n in range(20))
EXTENDED = frozenset(SYMBOLS[:10])  # half the assets are hedged in the extended sessions
RECHECK_MS = 1_000  # the hedger's recheck while an order is in flight


def price_of(symbol: str) -> Decimal:
    """Each symbol's price, onchain and at the broker."""
    return Decimal(100 + SYMBOLS.index(symbol))


PRICES = {s: price_of(s) for s in SYMBOLS}


class RunClock(ManualClock):
    """The run's time: moved by the run's own steps. A sleep inside the run's task (a request
    budget's wait) moves it on at once by its length; any other task's sleep (the hedger's
    recheck timers) waits until the run moves past its deadline."""

    def __init__(self, start_ms: int) -> None:
        super().__init__(start_ms)
        self.driver: asyncio.Task[object] | None = None
        self.waited_ms = 0  # how long the run's task slept: the request budgets' waits

    async def sleep(self, seconds: float) -> None:
        if asyncio.current_task() is not self.driver:
            await super().sleep(seconds)
            return
        step_ms = max(math.ceil(seconds * 1000), 0)
        self.waited_ms += step_ms
        self.set(self.now_ms() + step_ms)
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class Fill:
    ms: int
    symbol: str
    maker_sold: bool
    shares: Decimal


@dataclass
class DayRun:
    broker: str
    fills: list[Fill]
    # at each regular close: the symbols whose exposure could still be hedged (not a remainder
    # under the broker's minimum, or an order still in flight), with the exposure in shares
    left_at_close: dict[int, dict[str, Decimal]] = field(default_factory=dict)
    requests_by_minute: Counter[int] = field(default_factory=Counter)
    order_requests_by_minute: Counter[int] = field(default_factory=Counter)
    held_before: dict[str, Decimal] = field(default_factory=dict)
    held_after: dict[str, Decimal] = field(default_factory=dict)
    ordered_symbols: set[str] = field(default_factory=set)
    orders: int = 0
    broker_fills: int = 0
    steps: int = 0
    waited_ms: int = 0
    seconds: float = 0.0  # real time the run took

    @property
    def busiest_minute(self) -> int:
        return max(self.requests_by_minute.values(), default=0)

    @property
    def busiest_order_minute(self) -> int:
        return max(self.order_requests_by_minute.values(), default=0)

    def summary(self) -> str:
        return (
            f"{self.broker}: {len(self.fills)} onchain fills, {self.orders} orders, "
            f"{self.broker_fills} broker fills, {sum(self.requests_by_minute.values())} "
            f"requests, busiest minute {self.busiest_minute} (orders "
            f"{self.busiest_order_minute}), budgets waited {self.waited_ms / 1000:.1f} s, "
            f"{self.steps} steps in {self.seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class Burst:
    """A busy spell: a fill every `every_s` seconds for `minutes` from `start_ms`."""

    start_ms: int
    minutes: int
    every_s: int = 1


def fills_around_the_clock(
    seed: int, start_ms: int, hours: int, bursts: tuple[Burst, ...] = ()
) -> list[Fill]:
    """About one fill every 3 minutes, any hour, on the minute; and during each burst one
    every few seconds. Each on a random symbol, either side, 0.25 to 10 shares."""
    chance = random.Random(seed)
    times = [
        start_ms + minute * MINUTE_MS for minute in range(hours * 60) if chance.random() < 1 / 3
    ]
    for burst in bursts:
        times += range(
            burst.start_ms, burst.start_ms + burst.minutes * MINUTE_MS, burst.every_s * 1000
        )
    fills = []
    for ms in sorted(times):
        shares = Decimal(chance.randint(1, 40)) / 4
        fills.append(Fill(ms, chance.choice(SYMBOLS), chance.random() < 0.5, shares))
    return fills


def net_exposure(fills: list[Fill]) -> dict[str, Decimal]:
    """Per symbol: shares the maker bought onchain minus those it sold."""
    net = dict.fromkeys(SYMBOLS, Decimal(0))
    for f in fills:
        net[f.symbol] += -f.shares if f.maker_sold else f.shares
    return net


async def run_day(
    broker: str,
    start_ms: int,
    *,
    hours: int,
    until_ms: int,
    closes: list[int],
    bursts: tuple[Burst, ...] = (),
    seed: int = 7,
    requests_per_minute: int | None = None,
) -> DayRun:
    """Fills for `hours` from `start_ms` (and in the bursts), then none until `until_ms`, at
    `broker` (its request budget as shipped, unless `requests_per_minute` says otherwise)."""
    began = time.perf_counter()
    clock = RunClock(start_ms)
    clock.driver = asyncio.current_task()
    run = DayRun(broker, fills_around_the_clock(seed, start_ms, hours, bursts))
    async with open_venue(broker, clock, PRICES, requests_per_minute) as venue:
        world = make_world(
            SYMBOLS,
            clock=clock,
            calendar=venue.calendar,
            gate_settings=GateSettings(extended_hours=EXTENDED),
            repo=MemoryEquityRepository(SYMBOLS),
            broker=venue.broker,  # type: ignore[arg-type]
        )
        run.held_before = await venue.held()
        await _drive(world, venue, clock, run, until_ms, closes)
        run.held_after = await venue.held()
        run.requests_by_minute = Counter(venue.requests_by_minute())
        run.order_requests_by_minute = Counter(venue.order_requests_by_minute())
        run.ordered_symbols = venue.ordered_symbols()
        snapshot = await world.repo.ledger_snapshot()
        run.orders = len(snapshot.broker_orders)
        run.broker_fills = len(snapshot.broker_fills)
    run.waited_ms = clock.waited_ms
    run.seconds = time.perf_counter() - began
    return run


async def _drive(
    world: World, venue: Venue, clock: RunClock, run: DayRun, until_ms: int, closes: list[int]
) -> None:
    probe = broker_probe(venue.settings, venue.broker, venue.calendar, clock, None)
    pending = list(run.fills)
    closes_ahead = sorted(c for c in closes if c > clock.now_ms())
    next_probe_ms = clock.now_ms()
    while clock.now_ms() < until_ms:
        now = clock.now_ms()
        while closes_ahead and closes_ahead[0] <= now:
            run.left_at_close[closes_ahead.pop(0)] = await _hedgeable(world)
        due = [f for f in pending if f.ms <= now]
        pending = pending[len(due) :]
        for n, f in enumerate(due):
            usdc = f.shares * price_of(f.symbol)
            world.mine(
                world.fill(
                    f.symbol, sold=f.maker_sold, shares=str(f.shares), usdc=str(usdc), log_index=n
                )
            )
        await world.ingestion.poll_once()
        await world.hedger.cycle("fill" if due else "periodic")
        if now >= next_probe_ms:
            await probe.check()
            next_probe_ms += int(PROBE_INTERVAL_SECONDS * 1000)
        run.steps += 1
        after = clock.now_ms()  # the step's waits may have moved it
        if await world.repo.open_broker_orders():
            clock.set(after + RECHECK_MS)
            continue
        next_ms = (after // MINUTE_MS + 1) * MINUTE_MS
        if pending and after < pending[0].ms < next_ms:
            next_ms = pending[0].ms
        clock.set(next_ms)


async def _hedgeable(world: World) -> dict[str, Decimal]:
    left = {}
    for symbol, exposure in (await world.repo.exposures()).items():
        size = hedge_size(
            exposure.exposure,
            world.broker.kind,
            last_price_usd=exposure.last_price_usd,
            min_notional_usd=world.hedger.settings.min_notional_usd,
        )
        if isinstance(size, HedgeSize) or exposure.in_flight is not None:
            left[symbol] = exposure.exposure
    return left
