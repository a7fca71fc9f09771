"""The Redis Streams bus against a real Redis: broadcast and group delivery, claims of a dead
consumer's messages, a group that restarts, trimming, latest values."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import Redis

from pegkeeper.adapters.bus.redis_reading import PAYLOAD_FIELD, GroupSubscription
from pegkeeper.ports import Subscription
from tests.integration.bus.conftest import BusFactory

pytestmark = pytest.mark.redis

WAIT_SECONDS = 15.0  # a bound against hanging, never a measure


async def take(subscription: Subscription, count: int) -> list[tuple[str, bytes]]:
    async def first() -> list[tuple[str, bytes]]:
        taken: list[tuple[str, bytes]] = []
        async for message in subscription:
            taken.append(message)
            if len(taken) == count:
                break
        return taken

    return await asyncio.wait_for(first(), WAIT_SECONDS)


async def test_broadcast_gets_every_later_message_of_matching_topics_in_order(
    make_bus: BusFactory, redis: Redis, stream_prefix: str
) -> None:
    bus = make_bus()
    # already on the stream before subscribing: not delivered
    await redis.xadd(f"{stream_prefix}:px.a", {PAYLOAD_FIELD: b"old"}, id="1-0")
    await redis.sadd(f"{stream_prefix}:topics", "px.a")
    subscription = bus.subscribe("px.*")
    published: list[tuple[str, bytes]] = []
    for i in range(60):
        topic = "px.a" if i % 3 else "px.b"  # px.b appears only after subscribing
        await bus.publish(topic, f"m{i}".encode())
        published.append((topic, f"m{i}".encode()))
        await bus.publish("other.a", f"o{i}".encode())
        await bus.publish("pxa", f"n{i}".encode())

    received = await take(subscription, len(published))
    await bus.publish("px.a", b"last")
    after = await take(subscription, 1)
    await subscription.close()

    for topic in ("px.a", "px.b"):
        assert [m for m in received if m[0] == topic] == [m for m in published if m[0] == topic]
    assert Counter(received) == Counter(published)
    assert after == [("px.a", b"last")]  # nothing of other.a or pxa came in between
    assert bus.published == {"px": 61, "other": 60, "pxa": 60}


async def test_members_of_a_group_share_each_message_once(make_bus: BusFactory) -> None:
    bus = make_bus()
    members = [bus.subscribe("job", group="workers") for _ in range(2)]
    got: list[list[bytes]] = [[], []]
    expected = [f"j{i}".encode() for i in range(200)]
    everything = asyncio.Event()

    async def work(index: int) -> None:
        async for _, payload in members[index]:
            got[index].append(payload)
            if len(got[0]) + len(got[1]) == len(expected):
                everything.set()

    tasks = [asyncio.create_task(work(i)) for i in range(2)]
    for payload in expected:
        await bus.publish("job", payload)
    await asyncio.wait_for(everything.wait(), WAIT_SECONDS)
    for task in tasks:
        task.cancel()
    for member in members:
        await member.close()

    assert sorted(got[0] + got[1]) == sorted(expected)  # each once, none lost


@pytest.mark.parametrize("closes_when_cancelled", [False, True])
async def test_a_message_a_member_held_when_it_died_goes_to_another(
    make_bus: BusFactory, redis: Redis, stream_prefix: str, closes_when_cancelled: bool
) -> None:
    bus = make_bus(claim_idle_seconds=0.2)
    dying = bus.subscribe("job", group="workers")
    holding = asyncio.Event()

    async def handle_forever() -> None:
        try:
            async for _ in dying:
                holding.set()
                await asyncio.Event().wait()  # never done with it
        finally:
            if closes_when_cancelled:
                await dying.close()

    task = asyncio.create_task(handle_forever())
    await bus.publish("job", b"held")
    await asyncio.wait_for(holding.wait(), WAIT_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    survivor = bus.subscribe("job", group="workers")
    assert isinstance(survivor, GroupSubscription)
    await bus.publish("job", b"later")
    received = await take(survivor, 2)
    await survivor.close()

    assert sorted(received) == [("job", b"held"), ("job", b"later")]
    assert survivor.claimed == 1
    pending = await redis.xpending(f"{stream_prefix}:job", "workers")
    assert pending["pending"] == 0  # both handled and acknowledged


async def test_closing_after_handling_acknowledges(
    make_bus: BusFactory, redis: Redis, stream_prefix: str
) -> None:
    bus = make_bus()
    member = bus.subscribe("job", group="workers")
    await bus.publish("job", b"one")
    assert await take(member, 1) == [("job", b"one")]
    pending_before = await redis.xpending(f"{stream_prefix}:job", "workers")
    await member.close()
    pending_after = await redis.xpending(f"{stream_prefix}:job", "workers")
    assert (pending_before["pending"], pending_after["pending"]) == (1, 0)


async def test_a_group_started_again_goes_on_after_the_last_acknowledged(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(claim_idle_seconds=0.2)
    first = bus.subscribe("work", group="g")
    for i in range(10):
        await bus.publish("work", f"w{i}".encode())
    handled = [payload for _, payload in await take(first, 6)]
    await first.close()  # w6..w9 were read ahead: they stay pending, for the next to claim

    second = bus.subscribe("work", group="g")
    for i in range(10, 15):
        await bus.publish("work", f"w{i}".encode())
    handled_again = [payload for _, payload in await take(second, 9)]
    await second.close()

    assert handled == [f"w{i}".encode() for i in range(6)]
    assert sorted(handled_again, key=lambda p: int(p[1:])) == [
        f"w{i}".encode() for i in range(6, 15)
    ]


async def test_a_group_on_a_topic_that_appears_later_misses_nothing(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    member = bus.subscribe("late.*", group="g")
    await bus.publish("late.x", b"first on a new topic")
    assert await take(member, 1) == [("late.x", b"first on a new topic")]
    await member.close()


async def test_streams_are_trimmed_to_about_maxlen(
    make_bus: BusFactory, redis: Redis, stream_prefix: str
) -> None:
    maxlen = 100
    bus = make_bus(stream_maxlen=maxlen)
    total = maxlen * 3
    for i in range(total):
        await bus.publish("book.x", str(i).encode())
    key = f"{stream_prefix}:book.x"
    length = await redis.xlen(key)
    # MAXLEN ~ removes whole nodes only: at least maxlen stay, fewer than a node more
    node_entries = int(
        (await redis.config_get("stream-node-max-entries"))["stream-node-max-entries"]
    )
    kept = [int(fields[PAYLOAD_FIELD]) for _, fields in await redis.xrange(key)]

    assert maxlen <= length < maxlen + node_entries
    assert kept == list(range(total - length, total))  # the newest, in order


async def test_latest_is_the_newest_message_of_the_topic(make_bus: BusFactory) -> None:
    bus = make_bus()
    assert await bus.latest("peg.USDT") is None
    for i in range(5):
        await bus.publish("peg.USDT", f"p{i}".encode())
        await bus.publish("peg.USDC", f"c{i}".encode())
    assert await bus.latest("peg.USDT") == b"p4"
    assert await bus.latest("peg.USDC") == b"c4"


async def test_a_trace_crosses_the_bus_to_the_consumer(make_bus: BusFactory) -> None:
    from opentelemetry.trace import SpanKind

    from pegkeeper.services.tracing import traced
    from tests.tracing_support import named, recording

    publisher_bus, consumer_bus = make_bus(), make_bus()  # two processes' clients
    subscription = consumer_bus.subscribe("liability")
    with recording() as spans:
        await asyncio.sleep(0.05)
        with traced("post") as publisher:
            await publisher_bus.publish("liability", b"changed")
        await publisher_bus.publish("liability", b"outside any span")
        assert await take(subscription, 2) == [
            ("liability", b"changed"),
            ("liability", b"outside any span"),
        ]
    consumer = named(spans, "liability process")
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == publisher.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == publisher.get_span_context().span_id
    # the message sent outside a span carried no context: no consumer span for it
    assert [s.name for s in spans.get_finished_spans()].count("liability process") == 1
