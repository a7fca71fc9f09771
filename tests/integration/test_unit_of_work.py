"""The unit of work over the store's transactions: what a service writes together commits or
rolls back whole, and its events reach the bus only after the commit."""

from __future__ import annotations

import asyncio

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus, MemorySubscription
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.errors import SlotTaken
from pegkeeper.domain.orders import OrderState
from pegkeeper.services.unit_of_work import UnitOfWork
from tests.integration.test_store import decision, intent


async def test_a_unit_commits_whole_and_publishes_after(store: SqlStore) -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("order")
    unit = UnitOfWork(store, bus)
    async with unit() as events:
        await store.hedge.record_decision(decision("d-o1"), intent("o1"))
        await store.hedge.record_order_state("o1", OrderState.ACCEPTED, 1_500, venue_order_id="v")
        events.add("order", b"o1 accepted")
        # inside the unit its own reads see its writes
        assert (await store.hedge.get_order("o1")).state is OrderState.ACCEPTED  # type: ignore[union-attr]
        assert bus_is_empty(subscription)
    topic, payload = await asyncio.wait_for(subscription.queue.get(), 1)
    assert (topic, payload) == ("order", b"o1 accepted")
    # after the event, the store holds what it announces
    assert (await store.hedge.get_order("o1")).state is OrderState.ACCEPTED  # type: ignore[union-attr]
    await subscription.close()


async def test_a_unit_that_fails_writes_and_publishes_nothing(store: SqlStore) -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("order")
    unit = UnitOfWork(store, bus)
    await store.hedge.record_decision(decision("d-o1"), intent("o1"))
    with pytest.raises(SlotTaken):
        async with unit() as events:
            await store.hedge.record_order_state("o1", OrderState.FILLED, 2_000)
            events.add("order", b"o1 filled")
            # the slot is free inside the unit now; a second order on it is fine ...
            await store.hedge.record_decision(decision("d-o2"), intent("o2"))
            # ... but not a third: the whole unit is refused
            await store.hedge.record_decision(decision("d-o3"), intent("o3"))
    assert (await store.hedge.get_order("o1")).state is OrderState.CREATED  # type: ignore[union-attr]
    assert await store.hedge.get_order("o2") is None
    assert bus_is_empty(subscription)
    await subscription.close()


def bus_is_empty(subscription: MemorySubscription) -> bool:
    return subscription.queue.empty()
