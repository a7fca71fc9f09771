"""The rules of the cluster's health: a process is stale after three missed beats, a standby
(its leases all held by others) is ready, a process not trying to hold a lease is not, and a
failed beat neither stops the heartbeat nor hides the next one."""

from __future__ import annotations

import asyncio

import pytest

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.leases import LeaseState, LeaseStatus
from pegkeeper.domain.processes import ProcessInfo, ProcessRecord, is_stale
from pegkeeper.services.process_heartbeat import ProcessHeartbeat
from pegkeeper.services.views.health import READY, lease_detail, process_readiness

PROCESS = ProcessInfo("host-a:1:aa", "dealer-a", "host-a", 1, ("hedger",), "")


def lease(name: str, state: LeaseState, epoch: int = 2) -> LeaseStatus:
    return LeaseStatus(name, state, "host-x:9:ff", epoch, 1_000)


@pytest.mark.parametrize(
    ("seen_ago_ms", "stale"), [(0, False), (14_999, False), (15_000, False), (15_001, True)]
)
def test_stale_after_three_missed_beats(seen_ago_ms: int, stale: bool) -> None:
    assert is_stale(100_000 - seen_ago_ms, 100_000, interval_ms=5_000) is stale


async def ready_services() -> dict[str, str]:
    return {"hedger": READY, "web": READY}


async def test_a_standby_is_ready_and_says_so() -> None:
    leases = [lease("hedger:BTC", LeaseState.WAITING), lease("funding", LeaseState.WAITING)]
    state = await process_readiness(ready_services, lambda: leases)
    assert state.ready and state.leases == leases
    assert state.detail == "standby: waiting for hedger:BTC, funding"


async def test_a_holder_names_its_leases_and_epochs() -> None:
    leases = [lease("hedger:BTC", LeaseState.HELD, 3), lease("funding", LeaseState.WAITING)]
    state = await process_readiness(ready_services, lambda: leases)
    assert state.ready
    assert state.detail == "holds hedger:BTC (epoch 3); standby for funding"


async def test_a_lease_not_tried_or_a_service_not_ready_is_not_ready() -> None:
    stopped = [lease("hedger:BTC", LeaseState.HELD, 3), lease("funding", LeaseState.STOPPED)]
    state = await process_readiness(ready_services, lambda: stopped)
    assert not state.ready
    assert state.detail == "holds hedger:BTC (epoch 3); not trying to hold funding"

    async def starting() -> dict[str, str]:
        return {"hedger": "starting: reconciling with the venue"}

    waiting = [lease("hedger:BTC", LeaseState.WAITING)]
    assert not (await process_readiness(starting, lambda: waiting)).ready
    assert (await process_readiness(ready_services, list)).detail == "no leases"
    assert lease_detail([]) == "no leases"


class FlakyRegistry:
    """Fails the beats it is told to, records the others."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.beats = 0

    async def heartbeat(self, process: ProcessInfo) -> ProcessRecord:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("the database does not answer")
        self.beats += 1
        return ProcessRecord(process, 10, 10 + self.beats)

    async def recent(self, since_ms: int) -> list[ProcessRecord]:
        return []

    async def now_ms(self) -> int:
        return 0


async def test_a_failed_beat_is_counted_and_the_next_one_tried() -> None:
    registry = FlakyRegistry(failures=2)
    clock = ManualClock()
    heartbeat = ProcessHeartbeat(registry, PROCESS, clock, interval_seconds=5)
    task = asyncio.create_task(heartbeat.run())
    for failures in (1, 2):
        await asyncio.sleep(0)
        assert heartbeat.last is None and heartbeat.consecutive_failures == failures
        clock.advance(5)
    await asyncio.sleep(0)
    assert heartbeat.consecutive_failures == 0 and registry.beats == 1
    assert heartbeat.last == ProcessRecord(PROCESS, 10, 11)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
