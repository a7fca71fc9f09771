"""The signer's account on a fresh anvil (a new key, funded with ether), and helpers that run a
call through the signer as the rebalancer will: reserve a nonce, sign, send, read the outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from eth_account import Account
from pydantic import SecretStr

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.domain.equities.transfers import ContractCall, TxOutcome, TxStatus
from tests.anvil_chain import AnvilNode, rpc

ETHER_WEI = 10**18
POLLS = 200


def funded_key(node: AnvilNode) -> SecretStr:
    """A new private key whose account holds 10 ether on the node."""
    account = Account.create()
    rpc(node.url, "anvil_setBalance", [account.address, hex(10 * ETHER_WEI)])
    return SecretStr("0x" + bytes(account.key).hex())


@pytest.fixture
def signer_key(anvil: AnvilNode) -> SecretStr:
    return funded_key(anvil)


@pytest.fixture
async def node_rpc(anvil: AnvilNode) -> AsyncIterator[Rpc]:
    connection = Rpc(anvil.url, timeout_s=5.0)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def signer(node_rpc: Rpc, signer_key: SecretStr) -> ChainSigner:
    return ChainSigner(node_rpc, signer_key)


async def settled(signer: ChainSigner, tx_hash: str, nonce: int) -> TxOutcome:
    """The outcome once it is final (anvil mines each transaction as it arrives)."""
    for _ in range(POLLS):
        outcome = await signer.outcome(tx_hash, nonce, confirmations=1)
        if outcome.status not in (TxStatus.PENDING, TxStatus.UNSEEN):
            return outcome
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tx_hash} still {outcome.status}")


async def execute(signer: ChainSigner, call: ContractCall, stored_next: int = 0) -> TxOutcome:
    """One call through the signer; asserts it succeeded."""
    nonce = await signer.next_nonce(stored_next)
    tx = await signer.sign(call, nonce)
    await signer.send(tx)
    outcome = await settled(signer, tx.tx_hash, nonce)
    assert outcome.status is TxStatus.SUCCEEDED, f"{call.purpose}: {outcome.status}"
    return outcome
