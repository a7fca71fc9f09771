"""Blocks as the adapter sees them: the cutoff, the hashes kept for reorg checks (a reorg of
depth 1 by snapshot and revert, of depth 5 by anvil_reorg), and a backfill of two thousand
blocks read in bounded ranges."""

from __future__ import annotations

from web3 import AsyncWeb3

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import (
    FLOAT_TWO,
    RaindexWorld,
    Sent,
    float_word,
    order_v4,
    take_config_v4,
)

STOCK = AsyncWeb3.to_checksum_address("0x" + "a1" * 20)
USDC = AsyncWeb3.to_checksum_address("0x" + "b2" * 20)
EVENTS = 21  # a take every hundred blocks or so (anvil mines slower as its chain grows)


async def take(world: RaindexWorld, coefficient: int = 2) -> Sent:
    order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    amount = float_word(coefficient, 0)
    return await world.send(
        world.orderbook.functions.takeOrderV3(take_config_v4(order, 0, 0), amount, FLOAT_TWO)
    )


async def test_the_cutoff_is_the_head_minus_the_confirmation_depth(world: RaindexWorld) -> None:
    await world.mine(20)
    head = await world.head()
    source = RaindexChain(world.url, world.orderbook.address, cutoff=3)
    shallow = RaindexChain(world.url, world.orderbook.address, cutoff=head + 10)
    try:
        cutoff = await source.cutoff()
        assert (cutoff.number, cutoff.hash) == (head - 3, await world.block_hash(head - 3))
        assert cutoff.timestamp_s == await world.block_timestamp(head - 3)
        assert (await shallow.cutoff()).number == 0
    finally:
        await source.aclose()
        await shallow.aclose()


async def test_the_cutoff_may_be_the_nodes_safe_or_finalized_block(world: RaindexWorld) -> None:
    await world.mine(100)
    head = await world.head()
    for tag, depth in (("safe", 32), ("finalized", 64)):  # anvil's: one and two epochs back
        source = RaindexChain(world.url, world.orderbook.address, cutoff=tag)  # type: ignore[arg-type]
        try:
            cutoff = await source.cutoff()
        finally:
            await source.aclose()
        assert (cutoff.number, cutoff.hash) == (head - depth, await world.block_hash(head - depth))


async def test_a_block_replaced_by_a_reorg_of_depth_one_shows_in_its_hash(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    before = await world.snapshot()
    first = await take(world, coefficient=2)
    read = await chain.read_range(first.block_number, first.block_number)
    assert read.block_hashes == {first.block_number: first.block_hash}

    await world.revert(before)
    assert await chain.block_hashes([first.block_number]) == {}  # gone, nothing replaced it yet
    second = await take(world, coefficient=3)

    assert second.block_number == first.block_number
    assert second.block_hash != first.block_hash
    assert await chain.block_hashes([first.block_number]) == {first.block_number: second.block_hash}
    (event,) = (await chain.read_range(second.block_number, second.block_number)).events
    assert (event.ref.tx_hash, event.ref.block_hash) == (second.tx_hash, second.block_hash)


async def test_a_reorg_of_depth_five_changes_exactly_the_last_five_hashes(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    await world.mine(10)
    sent = await take(world)  # in the second newest block
    await world.mine(1)
    head = await world.head()
    numbers = list(range(head - 9, head + 1))
    old = await chain.block_hashes(numbers)

    await world.w3.provider.make_request("anvil_reorg", [5, []])  # type: ignore[arg-type]

    new = await chain.block_hashes(numbers)
    assert await world.head() == head
    assert [n for n in numbers if new[n] != old[n]] == numbers[-5:]
    read = await chain.read_range(head - 9, head)
    assert all(e.ref.block_hash == new[e.ref.block_number] for e in read.events)
    assert (sent.block_number, sent.block_hash) not in {
        (e.ref.block_number, e.ref.block_hash) for e in read.events
    }


async def test_hashes_are_kept_from_the_block_asked_or_near_the_head(world: RaindexWorld) -> None:
    await world.mine(30)
    head = await world.head()
    source = RaindexChain(world.url, world.orderbook.address, cutoff=0, keep_blocks=5)
    try:
        by_default = await source.read_range(0, head - 10)
        near_head = await source.read_range(head - 9, head)
        asked = await source.read_range(head - 9, head, keep_from_block=head - 2)
        below_range = await source.read_range(head - 9, head - 5, keep_from_block=0)
    finally:
        await source.aclose()

    assert set(by_default.block_hashes) == {head - 10}  # far from the head: the range's end only
    assert set(near_head.block_hashes) == set(range(head - 4, head + 1))
    assert set(asked.block_hashes) == {head - 2, head - 1, head}
    assert set(below_range.block_hashes) == set(range(head - 9, head - 4))
    assert asked.block_hashes[head] == await world.block_hash(head)


async def test_a_backfill_of_two_thousand_blocks_in_bounded_ranges(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    deployed_at = await world.head()
    sent: list[Sent] = []
    for n in range(EVENTS):
        await world.mine(97 + n % 5)
        sent.append(await take(world, coefficient=n + 1))
    await world.mine(50)
    head = await world.head()
    assert head - deployed_at > 2000

    range_blocks = 500
    seen = []
    for start in range(deployed_at, head + 1, range_blocks):
        read = await chain.read_range(start, min(start + range_blocks - 1, head))
        seen.extend(read.events)

    assert [(e.ref.block_number, e.ref.tx_hash) for e in seen] == [
        (s.block_number, s.tx_hash) for s in sent
    ]
    assert [e.taker_input for e in seen] == [  # type: ignore[union-attr]
        int.from_bytes(float_word(n + 1, 0), "big") for n in range(EVENTS)
    ]
