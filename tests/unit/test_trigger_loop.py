"""The trigger loop: a failed cycle is logged and the loop goes on; a lost lease ends it."""

from __future__ import annotations

import asyncio

import pytest

from pegkeeper.adapters.clock import RealClock
from pegkeeper.domain.leases import LeaseLost
from pegkeeper.services.trigger_loop import Trigger, TriggerLoop


async def test_a_failed_cycle_goes_on_and_a_lost_lease_ends_the_loop() -> None:
    loop = TriggerLoop("test", RealClock(), check_interval_seconds=3600)
    seen: list[str] = []
    failures: list[int] = []

    async def cycle(trigger: Trigger) -> None:
        seen.append(trigger.reason)
        if trigger.reason == "startup":
            loop.trigger("second")
            raise RuntimeError("a cycle that fails")
        raise LeaseLost("another process holds the lease")

    with pytest.raises(LeaseLost):
        await asyncio.wait_for(loop.run(cycle, [], on_failure=lambda: failures.append(1)), 10)
    assert seen == ["startup", "second"] and failures == [1]
