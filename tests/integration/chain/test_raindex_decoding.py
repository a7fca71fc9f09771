"""Each Raindex event kind emitted by the orderbook stand-in on anvil and read back by the
chain adapter: ABI-encoded structs in, the records of domain.equities.chain out, amounts raw."""

from __future__ import annotations

from web3 import AsyncWeb3

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.raindex_abi import AFTER_CLEAR, CLEAR_V2, TAKE_ORDER_V3
from pegkeeper.adapters.chain.stand_in import (
    FLOAT_160_15507752,
    FLOAT_TWO,
    RaindexWorld,
    Sent,
    clear_config,
    clear_config_v2,
    float_word,
    order_v3,
    order_v4,
    take_config_v3,
    take_config_v4,
    word_int,
)
from pegkeeper.domain.equities.chain import (
    ClearEvent,
    Generation,
    Io,
    LogRef,
    RaindexOrder,
    TakeOrderEvent,
)

STOCK = AsyncWeb3.to_checksum_address("0x" + "a1" * 20)
USDC = AsyncWeb3.to_checksum_address("0x" + "b2" * 20)
OTHER = AsyncWeb3.to_checksum_address("0x" + "c3" * 20)


async def ref_of(world: RaindexWorld, sent: Sent, position: int = 0) -> LogRef:
    return LogRef(
        block_number=sent.block_number,
        block_hash=sent.block_hash,
        tx_hash=sent.tx_hash,
        log_index=sent.log_indexes[position],
        block_timestamp_s=await world.block_timestamp(sent.block_number),
    )


def test_the_production_float_words_are_what_the_spec_says() -> None:
    # Computed by hand from the spec: exponent in the high 32 bits, coefficient below.
    assert float_word(2 * 10**18, -18) == FLOAT_TWO
    assert float_word(160_155_077_520_000_000_000_000_000_000, -27) == FLOAT_160_15507752


async def test_take_order_v2_keeps_the_integers_and_the_taker_side(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    order = order_v3(world.owner, inputs=[(USDC, 6)], outputs=[(OTHER, 18), (STOCK, 18)])
    taker_input_shares = 1_500_000_000_000_000_000  # 1.5 stock at 18 decimals
    taker_output_usdc = 225_120_000  # 225.12 USDC at 6 decimals
    sent = await world.send(
        world.orderbook.functions.takeOrderV2(
            take_config_v3(order, 0, 1), taker_input_shares, taker_output_usdc
        )
    )

    read = await chain.read_range(sent.block_number, sent.block_number)

    assert read.events == (
        TakeOrderEvent(
            ref=await ref_of(world, sent),
            generation=Generation.V4,
            order=RaindexOrder(
                owner=world.owner.lower(),
                inputs=(Io(USDC.lower(), 6),),
                outputs=(Io(OTHER.lower(), 18), Io(STOCK.lower(), 18)),
            ),
            input_io_index=0,
            output_io_index=1,
            taker_input=taker_input_shares,
            taker_output=taker_output_usdc,
        ),
    )
    assert read.undecodable == ()
    assert read.block_hashes == {sent.block_number: sent.block_hash}
    assert read.to_block_timestamp_s == await world.block_timestamp(sent.block_number)


async def test_take_order_v3_passes_the_production_float_words_through_raw(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    sent = await world.send(
        world.orderbook.functions.takeOrderV3(
            take_config_v4(order, 0, 0), FLOAT_TWO, FLOAT_160_15507752
        )
    )

    (event,) = (await chain.read_range(sent.block_number, sent.block_number)).events

    assert event == TakeOrderEvent(
        ref=await ref_of(world, sent),
        generation=Generation.V5,
        order=RaindexOrder(
            owner=world.owner.lower(),
            inputs=(Io(USDC.lower(), None),),
            outputs=(Io(STOCK.lower(), None),),
        ),
        input_io_index=0,
        output_io_index=0,
        taker_input=word_int(FLOAT_TWO),
        taker_output=word_int(FLOAT_160_15507752),
    )


async def test_clear_v2_takes_its_amounts_from_the_after_clear(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    alice = order_v3(world.owner, inputs=[(USDC, 6)], outputs=[(STOCK, 18)])
    bob = order_v3(world.taker, inputs=[(OTHER, 18), (STOCK, 18)], outputs=[(USDC, 6)])
    # aliceOutput, bobOutput, aliceInput, bobInput
    change = (2 * 10**18, 301_000_000, 300_500_000, 2 * 10**18)
    sent = await world.send(
        world.orderbook.functions.clearV2(alice, bob, clear_config((0, 0, 1, 0)), change)
    )

    (event,) = (await chain.read_range(sent.block_number, sent.block_number)).events

    assert event == ClearEvent(
        ref=await ref_of(world, sent, 0),  # the Clear's own log, not the AfterClear's
        generation=Generation.V4,
        alice=RaindexOrder(world.owner.lower(), (Io(USDC.lower(), 6),), (Io(STOCK.lower(), 18),)),
        bob=RaindexOrder(
            world.taker.lower(),
            (Io(OTHER.lower(), 18), Io(STOCK.lower(), 18)),
            (Io(USDC.lower(), 6),),
        ),
        alice_input_io_index=0,
        alice_output_io_index=0,
        bob_input_io_index=1,
        bob_output_io_index=0,
        alice_input=300_500_000,
        alice_output=2 * 10**18,
        bob_input=2 * 10**18,
        bob_output=301_000_000,
    )


async def test_clear_v3_carries_float_words(world: RaindexWorld, chain: RaindexChain) -> None:
    alice = order_v4(world.taker, inputs=[STOCK], outputs=[USDC])
    bob = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    change = (FLOAT_160_15507752, FLOAT_TWO, FLOAT_TWO, FLOAT_160_15507752)
    sent = await world.send(
        world.orderbook.functions.clearV3(alice, bob, clear_config_v2(), change)
    )

    (event,) = (await chain.read_range(sent.block_number, sent.block_number)).events

    assert isinstance(event, ClearEvent)
    assert event.generation is Generation.V5
    assert event.ref == await ref_of(world, sent, 0)
    assert event.bob == RaindexOrder(
        world.owner.lower(), (Io(USDC.lower(), None),), (Io(STOCK.lower(), None),)
    )
    assert (event.alice_output, event.bob_output) == (
        word_int(FLOAT_160_15507752),
        word_int(FLOAT_TWO),
    )
    assert (event.alice_input, event.bob_input) == (
        word_int(FLOAT_TWO),
        word_int(FLOAT_160_15507752),
    )


async def test_two_clears_and_a_take_in_one_transaction_pair_in_order(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    alice = order_v3(world.owner, inputs=[(USDC, 6)], outputs=[(STOCK, 18)])
    bob = order_v3(world.taker, inputs=[(STOCK, 18)], outputs=[(USDC, 6)])
    v5_order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    sent = await world.multicall(
        ("clearV2", [alice, bob, clear_config(), (1, 2, 3, 4)]),
        ("takeOrderV3", [take_config_v4(v5_order, 0, 0), FLOAT_TWO, FLOAT_TWO]),
        ("clearV2", [alice, bob, clear_config(), (5, 6, 7, 8)]),
    )

    events = (await chain.read_range(sent.block_number, sent.block_number)).events

    assert [e.ref.log_index for e in events] == [
        sent.log_indexes[0],
        sent.log_indexes[2],
        sent.log_indexes[3],
    ]
    first, take, second = events
    assert isinstance(first, ClearEvent) and isinstance(second, ClearEvent)
    assert isinstance(take, TakeOrderEvent)
    assert (first.alice_output, first.bob_output, first.alice_input, first.bob_input) == (
        1,
        2,
        3,
        4,
    )
    assert (second.alice_output, second.bob_output, second.alice_input, second.bob_input) == (
        5,
        6,
        7,
        8,
    )


async def test_a_log_that_does_not_decode_is_reported_and_the_rest_is_read(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    garbage = await world.send(
        world.orderbook.functions.emitRaw(bytes.fromhex(CLEAR_V2.topic0[2:]), b"\x01\x02\x03")
    )
    order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    take = await world.send(
        world.orderbook.functions.takeOrderV3(take_config_v4(order, 0, 0), FLOAT_TWO, FLOAT_TWO)
    )

    read = await chain.read_range(garbage.block_number, take.block_number)

    (bad,) = read.undecodable
    assert bad.ref == await ref_of(world, garbage)
    assert bad.reason.startswith("ClearV2 does not decode")
    assert [e.ref.tx_hash for e in read.events] == [take.tx_hash]


async def test_an_after_clear_alone_is_no_event(world: RaindexWorld, chain: RaindexChain) -> None:
    sent = await world.send(world.orderbook.functions.emitAfterClear((1, 2, 3, 4)))
    wrong_topic = await world.send(
        world.orderbook.functions.emitRaw(bytes.fromhex(TAKE_ORDER_V3.topic0[2:]), b"")
    )

    read = await chain.read_range(sent.block_number, wrong_topic.block_number)

    assert read.events == ()
    assert [u.ref.tx_hash for u in read.undecodable] == [wrong_topic.tx_hash]
    assert AFTER_CLEAR.name not in read.undecodable[0].reason


async def test_another_contracts_events_are_not_read(
    world: RaindexWorld, chain: RaindexChain
) -> None:
    elsewhere = await world.deploy("RaindexStandIn")
    order = order_v4(world.owner, inputs=[USDC], outputs=[STOCK])
    ours = await world.send(
        world.orderbook.functions.takeOrderV3(take_config_v4(order, 0, 0), FLOAT_TWO, FLOAT_TWO)
    )
    theirs = await world.send(
        elsewhere.functions.takeOrderV3(take_config_v4(order, 0, 0), FLOAT_TWO, FLOAT_TWO)
    )

    read = await chain.read_range(ours.block_number, theirs.block_number)

    assert [e.ref.tx_hash for e in read.events] == [ours.tx_hash]
    assert set(read.block_hashes) == set(range(ours.block_number, theirs.block_number + 1))
