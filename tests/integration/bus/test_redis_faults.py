"""The Redis Streams bus when Redis goes away: publishing fails at once with an error naming
Redis (its password hidden); subscriptions outlast a restart that lost every stream."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from pegkeeper.adapters.bus.factory import open_bus
from pegkeeper.config.cluster import BusSettings
from pegkeeper.domain.errors import BusUnavailable
from pegkeeper.ports import Subscription
from tests.integration.bus.conftest import BusFactory, RedisServer, free_port

pytestmark = pytest.mark.redis

WAIT_SECONDS = 20.0  # a bound against hanging, never a measure
PASSWORD = "s3cret-Pa55word"


class Received:
    """What one subscription got, and a way to wait until it got `count`."""

    def __init__(self, subscription: Subscription) -> None:
        self.payloads: list[bytes] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run(subscription))

    async def _run(self, subscription: Subscription) -> None:
        async for _, payload in subscription:
            self.payloads.append(payload)
            self._changed.set()

    async def until(self, count: int) -> list[bytes]:
        async def wait() -> None:
            while len(self.payloads) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), WAIT_SECONDS)
        return self.payloads


async def test_subscriptions_outlast_a_redis_restart_that_lost_everything(
    own_redis: RedisServer, make_bus: BusFactory
) -> None:
    bus = make_bus(redis_url=own_redis.url, claim_idle_seconds=0.2)
    broadcast = bus.subscribe("px.*")
    member = bus.subscribe("px.*", group="g")
    with capture_logs() as logs:
        listeners = [Received(broadcast), Received(member)]
        before = [f"before-{i}".encode() for i in range(3)]
        for payload in before:
            await bus.publish("px.a", payload)
        for listener in listeners:
            assert await listener.until(3) == before

        own_redis.stop()
        with pytest.raises(BusUnavailable) as refused:
            await bus.publish("px.a", b"lost")
        own_redis.start()

        after = [f"after-{i}".encode() for i in range(5)]
        for payload in after:
            await bus.publish("px.a", payload)
        for listener in listeners:
            assert await listener.until(8) == before + after
    for listener in listeners:
        listener.task.cancel()
    await broadcast.close()
    await member.close()

    assert f"127.0.0.1:{own_redis.port}" in str(refused.value)
    events = [entry["event"] for entry in logs]
    # one warning per subscription for the outage, one line each when reading again
    assert events.count("redis bus unreachable; the subscription retries") == 2
    assert events.count("redis bus reachable again") == 2
    assert events.count("redis bus group recreated") == 1


async def test_the_password_is_in_no_error_and_no_log_line(make_bus: BusFactory) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with pytest.raises(BusUnavailable) as at_start:
        await open_bus(BusSettings(kind="redis", redis_url=url))
    bus = make_bus(redis_url=url)
    with pytest.raises(BusUnavailable) as publishing:
        await bus.publish("liability", b"x")
    with pytest.raises(BusUnavailable) as reading:
        await bus.latest("liability")

    with capture_logs() as logs:
        subscription = bus.subscribe("*", group="g")
        task = asyncio.create_task(anext(aiter(subscription)))

        async def warned() -> None:
            while not logs:  # noqa: ASYNC110 (capture_logs has no event to wait on)
                await asyncio.sleep(0.01)

        await asyncio.wait_for(warned(), WAIT_SECONDS)
        task.cancel()
        await subscription.close()

    shown = f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}"
    for error in (at_start.value, publishing.value, reading.value):
        assert shown in str(error)
        assert PASSWORD not in str(error)
    assert logs[0]["url"] == shown
    assert all(PASSWORD not in repr(entry) for entry in logs)
