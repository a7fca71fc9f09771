"""The peg monitor's readings in every replica, its rows stored by the one that records: a
replica that does not record writes nothing (and keeps nothing to write later), the recording
one writes each row once, and only the recording one downsamples."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.events import BboUpdated, PegUpdated, decode_event
from pegkeeper.domain.pegstats import DAY_MS, HOUR_MS
from pegkeeper.services.market.peg_monitor import PegMonitor, PegMonitorSettings
from pegkeeper.services.market.peg_recorder import PegRecorder
from tests.fakes import FakePegRepository
from tests.waiting import until

T0 = 1_678_492_800_000
STEP_MS = 250  # a BTC/USDC price every 250 ms; one row per second is kept


class CountingPegRepository(FakePegRepository):
    def __init__(self) -> None:
        super().__init__()
        self.downsampled: list[int] = []  # the cutoff of each downsampling

    async def downsample(self, older_than_ms: int) -> int:
        self.downsampled.append(older_than_ms)
        return 0


def monitor_on(repository: FakePegRepository, clock: ManualClock, bus: MemoryBus) -> PegMonitor:
    return PegMonitor(bus, clock, repository, PegMonitorSettings(symbols=("USDC",)))


@contextlib.asynccontextmanager
async def recording(recorder: PegRecorder) -> AsyncIterator[None]:
    """The recorder running, as the holder of its lease runs it."""
    task = asyncio.create_task(recorder.run())
    await until(lambda: recorder.recording, "the recorder started")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not recorder.recording


def usd(ts_ms: int) -> BboUpdated:
    return BboUpdated("x", "BTC", "USD", "20000", "20000", ts_ms, ts_ms)


def usdc(k: int) -> BboUpdated:
    """The k-th BTC/USDC price: 20 000 + k, at T0 + k * 250 ms."""
    ts_ms = T0 + k * STEP_MS
    price = str(20_000 + k)
    return BboUpdated("x", "BTC", "USDC", price, price, ts_ms, ts_ms)


async def play(clock: ManualClock, monitors: list[PegMonitor], ks: range) -> None:
    """The same prices to every replica, as each reads them from the bus."""
    for k in ks:
        event = usdc(k)
        clock.set(event.ts_ms)
        for monitor in monitors:
            await monitor.on_bbo(event)


def expected_rows(ks: range) -> list[tuple[int, float]]:
    """Every 4th price (one a second): USDC = BTC/USD over BTC/USDC = 20 000 / (20 000 + k)."""
    return [(T0 + k * STEP_MS, 20_000 / (20_000 + k)) for k in ks if k % 4 == 0]


async def test_a_replica_that_does_not_record_publishes_but_writes_nothing() -> None:
    clock, bus, repository = ManualClock(T0), MemoryBus(), FakePegRepository()
    monitor = monitor_on(repository, clock, bus)
    published = bus.subscribe("pegstats.*")
    await monitor.on_bbo(usd(T0))
    await play(clock, [monitor], range(8))
    reading = monitor.reading("USDC")
    assert reading is not None and reading.price == 20_000 / 20_007
    queued = [published.queue.get_nowait()[1] for _ in range(published.queue.qsize())]
    events = [decode_event(payload) for payload in queued]
    assert [(e.ts_ms, e.price) for e in events if isinstance(e, PegUpdated)] == [
        (T0, 1.0),  # at most one a second, as the rows
        (T0 + 1000, 20_000 / 20_004),
    ]
    assert len(events) == 2
    await monitor.recorder.flush()  # nothing was kept to write later either
    assert repository.rows == []
    await published.close()


async def test_the_recording_replica_writes_each_row_once() -> None:
    clock, bus, repository = ManualClock(T0), MemoryBus(), FakePegRepository()
    holder, standby = monitor_on(repository, clock, bus), monitor_on(repository, clock, bus)
    for monitor in (holder, standby):
        await monitor.on_bbo(usd(T0))
    async with recording(holder.recorder):
        await play(clock, [holder, standby], range(40))  # 10 s of prices
        await until(lambda: len(repository.rows) == 10, "ten rows")
        await standby.recorder.flush()
    assert [(r.ts_ms, r.price) for r in repository.rows] == expected_rows(range(40))
    assert [r.ts_ms - T0 for r in repository.rows] == [i * 1000 for i in range(10)]
    # both replicas read the same: the standby's reading is the holder's
    assert standby.reading("USDC") == holder.reading("USDC")


async def test_rows_offered_after_the_recorder_stopped_are_not_written() -> None:
    clock, bus, repository = ManualClock(T0), MemoryBus(), FakePegRepository()
    monitor = monitor_on(repository, clock, bus)
    await monitor.on_bbo(usd(T0))
    async with recording(monitor.recorder):
        await play(clock, [monitor], range(8))
        await until(lambda: len(repository.rows) == 2, "two rows")
    await play(clock, [monitor], range(8, 16))  # the lease lost: another replica records
    await monitor.recorder.flush()
    assert [(r.ts_ms, r.price) for r in repository.rows] == expected_rows(range(8))


async def test_only_the_recording_replica_downsamples() -> None:
    clock, bus, repository = ManualClock(T0), MemoryBus(), CountingPegRepository()
    holder, standby = monitor_on(repository, clock, bus), monitor_on(repository, clock, bus)
    async with recording(holder.recorder):
        clock.advance(HOUR_MS / 1000)  # the check's interval
        await until(lambda: len(repository.downsampled) == 1, "the first check")
        clock.advance(HOUR_MS / 1000)
        await until(lambda: len(repository.downsampled) == 2, "the second check")
    # raw rows older than 2 days (the default retention) are folded into minutes
    assert repository.downsampled == [T0 + HOUR_MS - 2 * DAY_MS, T0 + 2 * HOUR_MS - 2 * DAY_MS]
    assert standby.recorder.recording is False
