"""The snapshot poller's loop: a failing query is read again after a growing pause."""

import asyncio
import contextlib

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.ledger_sync import LedgerUnavailable, SourceState
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.ledger.liability_snapshot import (
    LiabilitySnapshotPoller,
    SnapshotPollerSettings,
)
from tests.fakes import FakeStore


class Answers:
    """The wallet's liability, one answer per read: an int, or an error to raise."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.reads = 0

    async def liability_cents(self) -> int:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        return None


class States:
    def __init__(self) -> None:
        self.log: list[tuple[str, int, str]] = []

    async def get(self, source: str) -> SourceState | None:
        return None

    async def record_start(self, source: str, now_ms: int) -> None:
        self.log.append(("start", now_ms, ""))

    async def record_success(self, source: str, now_ms: int, *, has_more: bool = False) -> None:
        self.log.append(("success", now_ms, ""))

    async def record_failure(self, source: str, now_ms: int, error: str, *, stopped: bool) -> None:
        self.log.append(("failure", now_ms, error))


async def test_a_failing_query_is_read_again_after_a_growing_pause() -> None:
    store, clock, states = FakeStore(), ManualClock(0), States()
    liability = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=10**9)
    down = LedgerUnavailable("the liability query on postgresql://w@h/db failed: timeout")
    query = Answers(down, down, 4_200)
    settings = SnapshotPollerSettings(poll_interval_seconds=5, max_backoff_seconds=15)
    poller = LiabilitySnapshotPoller(query, liability, states, clock, settings)
    runner = asyncio.create_task(poller.run())
    try:
        for advance in (0, 10, 15):  # pauses of 5 * 2 = 10 s, then 5 * 4 = 20 s capped at 15 s
            clock.advance(advance)
            for _ in range(100):
                await asyncio.sleep(0)
        assert [kind for kind, _, _ in states.log] == ["start", "failure", "failure", "success"]
        assert [ms for _, ms, _ in states.log] == [0, 0, 10_000, 25_000]
        assert states.log[1][2] == str(down)
        assert await store.liability.balance_cents() == 4_200
        (event,) = store.liability.events
        assert (event.event_id, event.source) == ("postgres-0-4200", "postgres")
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_the_pause_starts_from_its_base_again_after_a_good_read() -> None:
    store, clock, states = FakeStore(), ManualClock(0), States()
    liability = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=10**9)
    down = LedgerUnavailable("timeout")
    query = Answers(down, down, 4_200, down, 4_300)
    settings = SnapshotPollerSettings(poll_interval_seconds=5, max_backoff_seconds=60)
    poller = LiabilitySnapshotPoller(query, liability, states, clock, settings)
    runner = asyncio.create_task(poller.run())
    try:
        # failures at 0 and 10 s (pauses 10 s, 20 s), read at 30 s, the interval (5 s), a
        # failure at 35 s and a pause of 10 s again, not 40 s: read at 45 s
        for second in range(46):
            clock.set(second * 1000)
            for _ in range(100):
                await asyncio.sleep(0)
        assert [(kind, ms) for kind, ms, _ in states.log] == [
            ("start", 0),
            ("failure", 0),
            ("failure", 10_000),
            ("success", 30_000),
            ("failure", 35_000),
            ("success", 45_000),
        ]
        assert query.reads == 5 and await store.liability.balance_cents() == 4_300
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
