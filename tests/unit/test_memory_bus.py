"""The in-process bus: broadcast and group subscriptions, latest values, counts by family."""

from __future__ import annotations

import asyncio

from pegkeeper.adapters.bus.memory import MemoryBus, MemorySubscription


async def _drain(subscription: MemorySubscription, into: list[bytes], count: int) -> None:
    async for _, payload in subscription:
        into.append(payload)
        if len(into) == count:
            return


async def test_members_of_a_group_share_each_message_once() -> None:
    bus = MemoryBus()
    members = [bus.subscribe("job", group="workers") for _ in range(2)]
    watcher = bus.subscribe("job")
    expected = [f"j{i}".encode() for i in range(50)]
    got: list[list[bytes]] = [[], []]
    tasks = [asyncio.create_task(_drain(members[i], got[i], len(expected))) for i in range(2)]
    await asyncio.sleep(0)  # both members wait on the queue

    for payload in expected:
        await bus.publish("job", payload)
        await asyncio.sleep(0)  # let a member take it
    seen: list[bytes] = []
    await _drain(watcher, seen, len(expected))
    for task in tasks:
        task.cancel()

    assert sorted(got[0] + got[1]) == sorted(expected)  # the group: each message once
    assert got[0] and got[1]  # both members took some
    assert seen == expected  # a subscription outside the group: every one


async def test_latest_is_the_newest_message_of_its_topic() -> None:
    bus = MemoryBus()
    assert await bus.latest("peg.USDT") is None
    for i in range(3):
        await bus.publish("peg.USDT", f"t{i}".encode())
        await bus.publish("peg.USDC", f"c{i}".encode())
    assert await bus.latest("peg.USDT") == b"t2"
    assert await bus.latest("peg.USDC") == b"c2"
    assert bus.published == {"peg": 6}


async def test_patterns_select_topics() -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("bbo.*")
    await bus.publish("book.okx.BTC", b"no")
    await bus.publish("bbo.okx.BTC.USD", b"yes")
    received: list[bytes] = []
    await _drain(subscription, received, 1)
    assert received == [b"yes"]
    assert subscription.queue.empty()


async def test_a_member_leaving_its_group_leaves_the_others_subscribed() -> None:
    bus = MemoryBus()
    first, second = bus.subscribe("job", group="workers"), bus.subscribe("job", group="workers")
    await first.close()
    await bus.publish("job", b"after")
    got: list[bytes] = []
    await _drain(second, got, 1)
    assert got == [b"after"]
    await second.close()
    await bus.publish("job", b"nobody")
    assert bus.subscribe("job", group="workers").queue.empty()  # a new group, from now on


async def test_notices_are_dropped_while_the_bus_is_down() -> None:
    from pegkeeper.domain.errors import BusUnavailable
    from pegkeeper.services.notices import LossyBus

    class Down(MemoryBus):
        down = True

        async def publish(self, topic: str, payload: bytes) -> None:
            if self.down:
                raise BusUnavailable("redis://127.0.0.1:6390 did not answer")
            await super().publish(topic, payload)

    bus = Down()
    notices = LossyBus(bus)
    watcher = notices.subscribe("peg.*")
    await notices.publish("peg.USDT", b"lost")
    await notices.publish("peg.USDT", b"lost too")
    bus.down = False
    await notices.publish("peg.USDT", b"delivered")
    got: list[bytes] = []
    await _drain(watcher, got, 1)  # type: ignore[arg-type]
    assert got == [b"delivered"] and notices.dropped == 2
    assert notices.published == {"peg": 1}
