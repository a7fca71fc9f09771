"""ChainSigner on anvil: the hash is known before sending, sending is idempotent, a fee bump
replaces at the same nonce, outcomes are read by hash and nonce, and the key never shows."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from pydantic import SecretStr

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import erc20_transfer
from pegkeeper.domain.equities.transfers import TokenTransfer, TxStatus
from pegkeeper.domain.errors import InvalidInput, TransactionRefused
from tests.anvil_chain import AnvilNode, rpc
from tests.integration.chain.rebalancing.conftest import execute, settled

RECIPIENT = "0x00000000000000000000000000000000000000b0"
OTHER = "0x00000000000000000000000000000000000000c0"
UNITS = 10**18


async def stock_held_by(world: RaindexWorld, holder: str, amount_units: int) -> str:
    token = await world.token("AAPL", 18)
    await world.send(token.functions.mint(world.w3.to_checksum_address(holder), amount_units))
    return str(token.address).lower()


async def balance(world: RaindexWorld, token: str, holder: str) -> int:
    contract = world.attach("TestToken", token)
    return int(await contract.functions.balanceOf(world.w3.to_checksum_address(holder)).call())


async def test_the_hash_signed_is_the_hash_mined(world: RaindexWorld, signer: ChainSigner) -> None:
    token = await stock_held_by(world, signer.address, 5 * UNITS)
    call = erc20_transfer(token, RECIPIENT, 2 * UNITS)

    tx = await signer.sign(call, nonce=0)
    unsent = await signer.outcome(tx.tx_hash, 0, confirmations=1)
    await signer.send(tx)
    outcome = await settled(signer, tx.tx_hash, 0)

    assert unsent.status is TxStatus.UNSEEN
    assert outcome.tx_hash == tx.tx_hash
    assert outcome.status is TxStatus.SUCCEEDED
    assert outcome.transfers == (TokenTransfer(token, signer.address, RECIPIENT, 2 * UNITS),)
    receipt = await world.w3.eth.get_transaction_receipt(tx.tx_hash)
    assert "0x" + bytes(receipt["transactionHash"]).hex() == tx.tx_hash
    assert await signer.chain_nonce(pending=False) == 1


async def test_a_transaction_sent_twice_is_mined_once(
    anvil: AnvilNode, world: RaindexWorld, signer: ChainSigner
) -> None:
    token = await stock_held_by(world, signer.address, 5 * UNITS)
    first = await signer.sign(erc20_transfer(token, RECIPIENT, UNITS), nonce=0)
    await signer.send(first)
    await signer.send(first)  # mined already: its nonce is used by this very hash
    rpc(anvil.url, "evm_setAutomine", [False])
    second = await signer.sign(erc20_transfer(token, RECIPIENT, UNITS), nonce=1)
    await signer.send(second)
    await signer.send(second)  # still in the pool: "already known"
    assert (await signer.outcome(second.tx_hash, 1, confirmations=1)).status is TxStatus.PENDING
    rpc(anvil.url, "evm_mine")

    assert (await settled(signer, second.tx_hash, 1)).status is TxStatus.SUCCEEDED
    assert await balance(world, token, RECIPIENT) == 2 * UNITS  # one unit per transaction
    assert await signer.chain_nonce(pending=True) == 2


async def test_a_fee_bump_replaces_and_the_first_reports_replaced(
    anvil: AnvilNode, world: RaindexWorld, signer: ChainSigner
) -> None:
    token = await stock_held_by(world, signer.address, 5 * UNITS)
    call = erc20_transfer(token, RECIPIENT, 3 * UNITS)
    rpc(anvil.url, "evm_setAutomine", [False])
    first = await signer.sign(call, nonce=0, max_fee_per_gas_wei=2_000_000_000)
    await signer.send(first)

    bumped = await signer.bump(first, call, Decimal("1.25"))
    await signer.send(bumped)
    rpc(anvil.url, "evm_mine")

    assert bumped.nonce == 0 and bumped.tx_hash != first.tx_hash
    assert bumped.max_fee_per_gas_wei == 2_500_000_000  # 2 gwei x 1.25
    assert (await settled(signer, bumped.tx_hash, 0)).status is TxStatus.SUCCEEDED
    assert (await signer.outcome(first.tx_hash, 0, confirmations=1)).status is TxStatus.REPLACED
    assert await balance(world, token, RECIPIENT) == 3 * UNITS  # moved once
    with pytest.raises(TransactionRefused, match="nonce"):
        await signer.send(first)  # its nonce went to the replacement


async def test_a_bump_needs_ten_percent_and_the_same_call(
    world: RaindexWorld, signer: ChainSigner
) -> None:
    token = await stock_held_by(world, signer.address, UNITS)
    call = erc20_transfer(token, RECIPIENT, UNITS)
    tx = await signer.sign(call, nonce=0, max_fee_per_gas_wei=10**9)

    with pytest.raises(InvalidInput, match=r"at least 1\.1"):
        await signer.bump(tx, call, Decimal("1.05"))
    with pytest.raises(InvalidInput, match="not the one signed"):
        await signer.bump(tx, erc20_transfer(token, OTHER, UNITS), Decimal(2))


async def test_confirmations_and_a_revert(
    anvil: AnvilNode, world: RaindexWorld, signer: ChainSigner
) -> None:
    token = await stock_held_by(world, signer.address, UNITS)
    mined = await execute(signer, erc20_transfer(token, RECIPIENT, UNITS))
    assert mined.block_number is not None

    shallow = await signer.outcome(mined.tx_hash, 0, confirmations=3)
    rpc(anvil.url, "anvil_mine", [hex(2)])
    deep = await signer.outcome(mined.tx_hash, 0, confirmations=3)
    # the balance is spent: a second transfer reverts, and moves nothing
    reverting = await signer.sign(erc20_transfer(token, RECIPIENT, UNITS), nonce=1)
    await signer.send(reverting)
    reverted = await settled(signer, reverting.tx_hash, 1)

    assert (shallow.status, shallow.block_number) == (TxStatus.PENDING, mined.block_number)
    assert deep.status is TxStatus.SUCCEEDED
    assert reverted.status is TxStatus.REVERTED and reverted.transfers == ()
    assert await balance(world, token, RECIPIENT) == UNITS


async def test_the_next_nonce_is_the_larger_of_stored_and_pending(
    anvil: AnvilNode, world: RaindexWorld, signer: ChainSigner
) -> None:
    token = await stock_held_by(world, signer.address, 5 * UNITS)
    rpc(anvil.url, "evm_setAutomine", [False])
    # another sender of the same account (a CLI) put two transactions in the pool
    for nonce in (0, 1):
        await signer.send(await signer.sign(erc20_transfer(token, OTHER, UNITS), nonce))

    assert await signer.next_nonce(stored_next=0) == 2  # the pool's
    assert await signer.next_nonce(stored_next=7) == 7  # reserved by this service, unsent
    assert await signer.chain_nonce(pending=False) == 0
    with pytest.raises(InvalidInput, match="stored next nonce"):
        await signer.next_nonce(stored_next=-1)


async def test_the_private_key_never_shows(
    world: RaindexWorld,
    node_rpc: Rpc,
    signer: ChainSigner,
    signer_key: SecretStr,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key_hex = signer_key.get_secret_value().removeprefix("0x")
    caplog.set_level(logging.DEBUG)
    token = await stock_held_by(world, signer.address, UNITS)
    await execute(signer, erc20_transfer(token, RECIPIENT, UNITS))
    with pytest.raises(TransactionRefused) as refused:
        await signer.send(await signer.sign(erc20_transfer(token, OTHER, UNITS), nonce=0))
    with pytest.raises(InvalidInput) as bad_key:
        ChainSigner(node_rpc, SecretStr(signer_key.get_secret_value()[:-2]))

    shown = [repr(signer), str(signer), str(refused.value), str(bad_key.value), caplog.text]
    shown += [repr(vars(signer)), repr(bad_key.value.__context__), repr(bad_key.value.__cause__)]
    assert all(key_hex.lower() not in text.lower() for text in shown)
    assert signer.address in repr(signer)
    assert "32 bytes in hex" in str(bad_key.value)
