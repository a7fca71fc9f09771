"""How the adapter asks the node: blocks wanted many at a time (the reorg check's kept hashes,
a range's blocks) in JSON-RPC batches, block by block from a node that takes no batches (the
proxy answers them 500); and requests cancelled in flight (a timeout, a service stopping)
leave the adapter able to ask again."""

from __future__ import annotations

import asyncio

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from tests.chain_rpc_proxy import RpcProxy

BLOCKS = 130  # more than one batch of 100


async def test_many_block_hashes_read_in_batches_match_the_node(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    await world.mine(BLOCKS)
    head = await world.head()
    numbers = list(range(head - BLOCKS + 1, head + 3))  # the last two are not mined yet

    hashes = await chain.block_hashes(numbers)

    assert sorted(hashes) == numbers[:-2]
    for number in (numbers[0], numbers[99], numbers[100], head):
        assert hashes[number] == await world.block_hash(number)


async def test_a_node_without_batches_is_asked_block_by_block(
    world: RaindexWorld, chain: RaindexChain, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    await world.mine(BLOCKS)
    head = await world.head()
    numbers = list(range(head - BLOCKS + 1, head + 3))

    hashes = await proxied_chain.block_hashes(numbers)

    assert hashes == await chain.block_hashes(numbers)
    assert proxy.calls.count("eth_getBlockByNumber") == BLOCKS + 2


async def test_requests_cancelled_in_flight_leave_the_node_reachable(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    await world.mine(3)
    asked = [asyncio.ensure_future(chain.cutoff()) for _ in range(50)]
    await asyncio.sleep(0)
    for request in asked:
        request.cancel()
    await asyncio.gather(*asked, return_exceptions=True)

    # a guard against a hang, not a timing: web3's own session handling could keep a lock
    # taken by a cancelled request, and every request after it then waited forever
    cutoff = await asyncio.wait_for(chain.cutoff(), timeout=30)

    head = await world.head()
    assert (cutoff.number, cutoff.hash) == (head, await world.block_hash(head))
