"""USDC over the CCTP v2 stand-in between two anvil chains: burn on the source, the local
attestation service's answer, mint on the destination; a replayed message, a forged
attestation and an attestation that never arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from web3.contract import AsyncContract

from pegkeeper.adapters.chain.iris import IrisClient
from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import (
    ChainReads,
    address_word,
    bridge_deposit_for_burn,
    bridge_receive_message,
    erc20_approve,
    message_nonce,
)
from pegkeeper.domain.equities.transfers import BridgeMessage, TokenTransfer, TxStatus
from pegkeeper.sim.bridge.attestation_server import AttestationServer
from pegkeeper.sim.raindex.artifacts import Artifact
from tests.anvil_chain import AnvilNode, rpc, running_anvil
from tests.integration.chain.rebalancing.conftest import execute, funded_key, settled

ETHEREUM, BASE = 0, 6  # CCTP domains
ZERO = "0x0000000000000000000000000000000000000000"
HELD = 100_000_000  # 100 USDC
BURNED = 60_000_000  # 60 USDC


@dataclass
class Side:
    world: RaindexWorld
    usdc: AsyncContract
    transmitter: AsyncContract
    messenger: AsyncContract

    def address(self, contract: AsyncContract) -> str:
        return str(contract.address).lower()


async def cctp_side(world: RaindexWorld, domain: int, attester: str) -> Side:
    usdc = await world.token("USDC", 6)
    transmitter = await world.deploy("TestMessageTransmitter", domain, attester)
    messenger = await world.deploy("TestTokenMessenger", transmitter.address)
    return Side(world, usdc, transmitter, messenger)


@dataclass
class Bridge:
    source: Side
    destination: Side
    attester_key: str
    source_signer: ChainSigner
    destination_signer: ChainSigner
    source_reads: ChainReads
    destination_reads: ChainReads
    server: AttestationServer
    iris: IrisClient


@pytest.fixture
def second_anvil(anvil_binary: Path) -> Iterator[AnvilNode]:
    with running_anvil(anvil_binary) as node:
        yield node


@pytest.fixture
async def bridge(
    anvil: AnvilNode, second_anvil: AnvilNode, contracts: dict[str, Artifact]
) -> AsyncIterator[Bridge]:
    attester = Account.create()
    attester_key = "0x" + bytes(attester.key).hex()
    worlds = [RaindexWorld(node.url, contracts) for node in (anvil, second_anvil)]
    rpcs = [Rpc(node.url, timeout_s=5.0) for node in (anvil, second_anvil)]
    key = funded_key(anvil)
    rpc(
        second_anvil.url,
        "anvil_setBalance",
        [Account.from_key(key.get_secret_value()).address, hex(10**19)],
    )
    for world in worlds:
        await world.start()
    source = await cctp_side(worlds[0], ETHEREUM, attester.address)
    destination = await cctp_side(worlds[1], BASE, attester.address)
    await worlds[0].send(
        source.messenger.functions.addRemoteTokenMessenger(
            BASE, address_word(destination.messenger.address)
        )
    )
    await worlds[1].send(
        destination.messenger.functions.addRemoteTokenMessenger(
            ETHEREUM, address_word(source.messenger.address)
        )
    )
    await worlds[1].send(
        destination.messenger.functions.linkTokenPair(
            destination.usdc.address, ETHEREUM, address_word(source.usdc.address)
        )
    )
    server = AttestationServer(
        anvil.url, ETHEREUM, source.address(source.transmitter), attester_key, confirmations=2
    )
    await server.start()
    iris = IrisClient(server.url, timeout_s=5.0)
    try:
        yield Bridge(
            source,
            destination,
            attester_key,
            ChainSigner(rpcs[0], key),
            ChainSigner(rpcs[1], key),
            ChainReads(rpcs[0], source.address(source.usdc)),
            ChainReads(rpcs[1], destination.address(destination.usdc)),
            server,
            iris,
        )
    finally:
        await iris.close()
        await server.stop()
        for connection in rpcs:
            await connection.close()
        for world in worlds:
            await world.close()


async def burn(bridge: Bridge, anvil: AnvilNode) -> str:
    """HELD USDC on the source, BURNED of them burned for the destination: the burn's hash."""
    source, me = bridge.source, bridge.source_signer.address
    usdc, messenger = source.address(source.usdc), source.address(source.messenger)
    await source.world.send(
        source.usdc.functions.mint(source.world.w3.to_checksum_address(me), HELD)
    )
    await execute(bridge.source_signer, erc20_approve(usdc, messenger, BURNED))
    outcome = await execute(
        bridge.source_signer, bridge_deposit_for_burn(messenger, BURNED, BASE, me, usdc)
    )
    assert outcome.transfers == (
        TokenTransfer(usdc, me, messenger, BURNED),
        TokenTransfer(usdc, messenger, ZERO, BURNED),
    )
    return outcome.tx_hash


async def attested(bridge: Bridge, anvil: AnvilNode, burn_hash: str) -> BridgeMessage:
    (pending,) = await bridge.iris.messages(ETHEREUM, burn_hash)
    assert (pending.status, pending.complete) == ("pending_confirmations", False)
    rpc(anvil.url, "anvil_mine", [hex(1)])  # the burn is 2 blocks deep
    (message,) = await bridge.iris.messages(ETHEREUM, burn_hash)
    assert message.complete
    return message


async def test_burn_attest_mint_once(bridge: Bridge, anvil: AnvilNode) -> None:
    me = bridge.destination_signer.address
    destination = bridge.destination
    transmitter = destination.address(destination.transmitter)
    usdc = destination.address(destination.usdc)
    burn_hash = await burn(bridge, anvil)
    message = await attested(bridge, anvil, burn_hash)

    minted = await execute(
        bridge.destination_signer,
        bridge_receive_message(transmitter, message.message, message.attestation),
    )
    replay = await bridge.destination_signer.sign(
        bridge_receive_message(transmitter, message.message, message.attestation), nonce=1
    )
    await bridge.destination_signer.send(replay)
    replayed = await settled(bridge.destination_signer, replay.tx_hash, 1)
    block = await bridge.destination_reads.pin(replayed.block_number or 0)

    assert minted.received(usdc, me) == BURNED
    assert replayed.status is TxStatus.REVERTED
    assert await bridge.destination_reads.token_balance(usdc, me, block) == BURNED
    nonce = message_nonce(message.message)
    assert "0x" + nonce.hex() == message.nonce
    assert await bridge.destination_reads.bridge_nonce_used(transmitter, nonce, block)
    source_block = await bridge.source_reads.pin()
    source_usdc = bridge.source.address(bridge.source.usdc)
    left = await bridge.source_reads.token_balance(source_usdc, me, source_block)
    assert left == HELD - BURNED


async def test_the_same_burn_gets_the_same_message_from_a_restarted_service(
    bridge: Bridge, anvil: AnvilNode
) -> None:
    burn_hash = await burn(bridge, anvil)
    message = await attested(bridge, anvil, burn_hash)
    again = AttestationServer(
        anvil.url,
        ETHEREUM,
        bridge.server.message_transmitter,
        bridge.attester_key,
        confirmations=2,
    )
    await again.start()
    client = IrisClient(again.url, timeout_s=5.0)
    try:
        (repeated,) = await client.messages(ETHEREUM, burn_hash)
    finally:
        await client.close()
        await again.stop()

    assert repeated.message == message.message  # same nonce: one mint whoever relays it


async def test_a_forged_attestation_mints_nothing(bridge: Bridge, anvil: AnvilNode) -> None:
    destination = bridge.destination
    burn_hash = await burn(bridge, anvil)
    message = await attested(bridge, anvil, burn_hash)
    forger = Account.create()
    forged = forger.unsafe_sign_hash(keccak(message.message)).signature
    call = bridge_receive_message(
        destination.address(destination.transmitter), message.message, bytes(forged)
    )
    tx = await bridge.destination_signer.sign(call, nonce=0)
    await bridge.destination_signer.send(tx)
    outcome = await settled(bridge.destination_signer, tx.tx_hash, 0)

    assert outcome.status is TxStatus.REVERTED and outcome.transfers == ()


async def test_an_attestation_withheld_stays_pending(bridge: Bridge, anvil: AnvilNode) -> None:
    bridge.server.faults.withhold = True
    burn_hash = await burn(bridge, anvil)
    rpc(anvil.url, "anvil_mine", [hex(10)])

    (message,) = await bridge.iris.messages(ETHEREUM, burn_hash)
    unknown = await bridge.iris.messages(ETHEREUM, "0x" + "ab" * 32)
    other_domain = await bridge.iris.messages(BASE, burn_hash)

    assert (message.status, message.message, message.attestation) == (
        "pending_confirmations",
        b"",
        b"",
    )
    assert unknown == () and other_domain == ()  # 404: not indexed


async def test_an_attestation_comes_after_the_delay(bridge: Bridge, anvil: AnvilNode) -> None:
    now_s = [1000.0]
    delayed = AttestationServer(
        anvil.url,
        ETHEREUM,
        bridge.server.message_transmitter,
        bridge.attester_key,
        delay_s=30.0,
        clock=lambda: now_s[0],
    )
    await delayed.start()
    client = IrisClient(delayed.url, timeout_s=5.0)
    try:
        burn_hash = await burn(bridge, anvil)
        (first,) = await client.messages(ETHEREUM, burn_hash)  # first seen at 1000 s
        now_s[0] = 1029.0
        (early,) = await client.messages(ETHEREUM, burn_hash)
        now_s[0] = 1030.0
        (due,) = await client.messages(ETHEREUM, burn_hash)
    finally:
        await client.close()
        await delayed.stop()

    assert [m.status for m in (first, early, due)] == [
        "pending_confirmations",
        "pending_confirmations",
        "complete",
    ]
