"""The chain adapter against a node that misbehaves as production nodes do (a JSON-RPC proxy
in front of anvil): incomplete log pages, a lagging head, errors and silence. Every failure is
a ChainError naming the method, and no message carries the RPC URL's key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from web3 import AsyncWeb3

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.raindex_abi import AFTER_CLEAR, AFTER_CLEAR_V2, CLEAR_V2
from pegkeeper.adapters.chain.stand_in import (
    FLOAT_TWO,
    RaindexWorld,
    Sent,
    clear_config,
    clear_config_v2,
    order_v3,
    order_v4,
    take_config_v4,
)
from pegkeeper.domain.equities.chain import ClearEvent
from pegkeeper.domain.errors import ChainError, ChainIncomplete
from tests.chain_rpc_proxy import (
    SECRET_PATH,
    SECRET_QUERY,
    Misbehaviour,
    RpcProxy,
    in_tx_and_topic,
)

STOCK = AsyncWeb3.to_checksum_address("0x" + "a1" * 20)
USDC = AsyncWeb3.to_checksum_address("0x" + "b2" * 20)
CHANGE = (2 * 10**18, 301_000_000, 300_500_000, 2 * 10**18)  # aliceOut, bobOut, aliceIn, bobIn


def assert_no_secret(error: BaseException) -> None:
    text = str(error)
    for secret in ("k3y-0123456789abcdef", "s3cr3t-fedcba9876543210", SECRET_PATH, SECRET_QUERY):
        assert secret not in text


async def clear_v2(world: RaindexWorld) -> Sent:
    alice = order_v3(world.owner, inputs=[(USDC, 6)], outputs=[(STOCK, 18)])
    bob = order_v3(world.taker, inputs=[(STOCK, 18)], outputs=[(USDC, 6)])
    return await world.send(world.orderbook.functions.clearV2(alice, bob, clear_config(), CHANGE))


async def test_an_after_clear_missing_from_the_logs_is_read_from_the_receipt(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    sent = await clear_v2(world)
    proxy.misbehave.drop_logs = in_tx_and_topic(sent.tx_hash, AFTER_CLEAR.topic0)

    (event,) = (await proxied_chain.read_range(sent.block_number, sent.block_number)).events

    assert "eth_getTransactionReceipt" in proxy.calls
    assert isinstance(event, ClearEvent)
    assert event.ref.log_index == sent.log_indexes[0]
    assert (event.alice_output, event.bob_output, event.alice_input, event.bob_input) == CHANGE


async def test_a_clear_missing_from_the_logs_is_restored_from_the_receipt(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    sent = await clear_v2(world)
    proxy.misbehave.drop_logs = in_tx_and_topic(sent.tx_hash, CLEAR_V2.topic0)

    (event,) = (await proxied_chain.read_range(sent.block_number, sent.block_number)).events

    assert isinstance(event, ClearEvent)
    assert event.ref.tx_hash == sent.tx_hash
    assert event.alice_input == 300_500_000


async def test_an_after_clear_missing_from_the_receipt_too_stops_the_range(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    alice = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    bob = order_v4(world.taker, inputs=[STOCK], outputs=[USDC])
    sent = await world.send(
        world.orderbook.functions.clearV3(
            alice, bob, clear_config_v2(), (FLOAT_TWO, FLOAT_TWO, FLOAT_TWO, FLOAT_TWO)
        )
    )
    dropped = in_tx_and_topic(sent.tx_hash, AFTER_CLEAR_V2.topic0)
    proxy.misbehave.drop_logs = dropped
    proxy.misbehave.drop_receipt_logs = dropped

    with pytest.raises(ChainIncomplete) as raised:
        await proxied_chain.read_range(sent.block_number, sent.block_number)

    assert f"{sent.tx_hash}:{sent.log_indexes[0]}" in str(raised.value)
    assert "receipt" in str(raised.value)


async def test_a_head_behind_the_range_stops_it(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    await world.mine(5)
    order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    sent = await world.send(
        world.orderbook.functions.takeOrderV3(take_config_v4(order, 0, 0), FLOAT_TWO, FLOAT_TWO)
    )
    # The node is two blocks behind: it answers no log for the newest block, and says so.
    proxy.misbehave.head_lag_blocks = 2

    with pytest.raises(ChainIncomplete, match=rf"head {sent.block_number - 2} is behind"):
        await proxied_chain.read_range(sent.block_number - 3, sent.block_number)

    proxy.misbehave.head_lag_blocks = 0
    read = await proxied_chain.read_range(sent.block_number - 3, sent.block_number)
    assert [e.ref.tx_hash for e in read.events] == [sent.tx_hash]


async def test_repeated_log_entries_are_one_event(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    first = await clear_v2(world)
    second = await clear_v2(world)
    proxy.misbehave.repeat_logs = True

    read = await proxied_chain.read_range(first.block_number, second.block_number)

    assert [e.ref.fill_id for e in read.events] == [
        f"{first.tx_hash}:{first.log_indexes[0]}",
        f"{second.tx_hash}:{second.log_indexes[0]}",
    ]


async def test_timestamps_are_read_from_blocks_when_logs_lack_them(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    first = await clear_v2(world)
    await world.mine(3)
    second = await clear_v2(world)
    proxy.misbehave.strip_block_timestamp = True

    read = await proxied_chain.read_range(first.block_number, second.block_number)

    assert [e.ref.block_timestamp_s for e in read.events] == [
        await world.block_timestamp(first.block_number),
        await world.block_timestamp(second.block_number),
    ]
    # read again: the timestamps come from the adapter's cache, the same
    again = await proxied_chain.read_range(first.block_number, second.block_number)
    assert again.events == read.events


@pytest.mark.parametrize(
    ("method", "status"),
    [
        ("eth_getLogs", 500),
        ("eth_blockNumber", 502),
        ("eth_getLogs", 429),
        ("eth_getBlockByNumber", 503),
    ],
)
async def test_http_errors_name_the_method_and_not_the_key(
    world: RaindexWorld,
    proxy: RpcProxy,
    proxied_chain: RaindexChain,
    method: str,
    status: int,
) -> None:
    head = await world.head()
    proxy.misbehave.http_status[method] = status

    with pytest.raises(ChainError) as raised:
        await proxied_chain.read_range(head, head)

    assert not isinstance(raised.value, ChainIncomplete)
    assert str(raised.value).startswith(f"{method} failed at http://127.0.0.1:")
    assert f"HTTP {status}" in str(raised.value)
    assert_no_secret(raised.value)


async def test_a_node_that_never_answers_times_out(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    head = await world.head()
    proxy.misbehave.stall.add("eth_getLogs")

    with pytest.raises(ChainError, match=r"^eth_getLogs timed out after 1.0 s") as raised:
        await proxied_chain.read_range(head, head)

    assert_no_secret(raised.value)


async def test_json_rpc_errors_name_the_method(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    sent = await clear_v2(world)
    proxy.misbehave.drop_logs = in_tx_and_topic(sent.tx_hash, AFTER_CLEAR.topic0)
    proxy.misbehave.rpc_error["eth_getTransactionReceipt"] = "backend unavailable"

    with pytest.raises(ChainError) as raised:
        await proxied_chain.read_range(sent.block_number, sent.block_number)

    assert str(raised.value).startswith("eth_getTransactionReceipt at http://127.0.0.1:")
    assert "backend unavailable" in str(raised.value)
    assert_no_secret(raised.value)


async def test_a_node_that_refuses_connections_is_a_chain_error(world: RaindexWorld) -> None:
    closed = RaindexChain(
        f"http://127.0.0.1:9/{SECRET_PATH}?{SECRET_QUERY}", world.orderbook.address, timeout_s=2.0
    )
    try:
        with pytest.raises(ChainError, match=r"^eth_blockNumber at http://127.0.0.1:9/\*\*\*:"):
            await closed.cutoff()
    finally:
        await closed.aclose()


async def test_the_rpc_libraries_debug_logs_do_not_carry_the_key(
    world: RaindexWorld,
    proxy: RpcProxy,
    proxied_chain: RaindexChain,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        await proxied_chain.cutoff()

    assert "Making request HTTP" in caplog.text  # web3.py did log the request
    assert "127.0.0.1" in caplog.text
    for secret in ("k3y-0123456789abcdef", "s3cr3t-fedcba9876543210"):
        assert secret not in caplog.text


FAKE_HASH = "0x" + "ee" * 32


def with_fields(**fields: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda entry: {**entry, **fields}


async def test_a_malformed_log_is_a_chain_error(
    world: RaindexWorld, proxy: RpcProxy, proxied_chain: RaindexChain
) -> None:
    sent = await clear_v2(world)
    proxy.misbehave.rewrite_log = lambda entry: {k: v for k, v in entry.items() if k != "logIndex"}

    with pytest.raises(ChainError, match=r"^eth_getLogs answered a malformed log \(KeyError"):
        await proxied_chain.read_range(sent.block_number, sent.block_number)


@pytest.mark.parametrize(
    ("misbehave", "expected"),
    [
        (Misbehaviour(rewrite_log=with_fields(removed=True)), "answered a removed log"),
        (Misbehaviour(rewrite_log=with_fields(blockNumber="0x0")), "answered a log of block 0"),
        (
            Misbehaviour(rewrite_log=with_fields(blockHash=FAKE_HASH)),
            "changed while the range was read",
        ),
        (
            Misbehaviour(rewrite_log=with_fields(blockHash=FAKE_HASH), strip_block_timestamp=True),
            "changed while the range was read",
        ),
        (
            Misbehaviour(
                drop_logs=lambda entry: entry["topics"][0] == AFTER_CLEAR.topic0,
                rewrite_receipt=with_fields(blockHash=FAKE_HASH),
            ),
            "from another block than its logs",
        ),
    ],
    ids=["removed", "outside-range", "stale-hash", "stale-hash-no-timestamp", "stale-receipt"],
)
async def test_answers_that_do_not_fit_together_stop_the_range(
    world: RaindexWorld,
    proxy: RpcProxy,
    proxied_chain: RaindexChain,
    misbehave: Misbehaviour,
    expected: str,
) -> None:
    sent = await clear_v2(world)
    proxy.misbehave = misbehave

    with pytest.raises(ChainIncomplete, match=expected):
        await proxied_chain.read_range(sent.block_number, sent.block_number)
