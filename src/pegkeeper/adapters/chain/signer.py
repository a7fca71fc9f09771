"""The one account a service signs its transactions with: EIP-1559 transactions signed locally
(so the hash is known, and stored, before anything reaches the node), sent idempotently, looked
up by hash and nonce, and replaced at the same nonce with a higher fee.

Nonces: the caller allocates them and stores them with the transaction's intent. The next
nonce is max(the stored next nonce, the node's pending nonce) (`next_nonce`), reserved in the
database (one row per nonce and signer) before signing. A nonce is never reused for another
intent: a transaction that must go faster is bumped (same nonce, same call, higher fee). So a
fee bump, a second move, or a second process sharing the account (whose transactions the
pending nonce shows) never takes a nonce another transaction holds.

The private key comes in a SecretStr and is kept only inside the eth_account object; neither
this class's repr nor any message it raises shows it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from pydantic import SecretStr
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound, Web3RPCError

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.domain.equities.transfers import (
    ContractCall,
    SignedTx,
    TokenTransfer,
    TxOutcome,
    TxStatus,
)
from pegkeeper.domain.errors import ChainLagging, InvalidInput, TransactionRefused

# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC0 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
# A node replaces a pending transaction only for at least 10 % more of both fees.
MIN_BUMP_FACTOR = Decimal("1.1")
# Without a fee given: the max fee covers the base fee doubling, plus the tip.
BASE_FEE_HEADROOM = 2
_KNOWN = ("already known", "already imported", "known transaction")
_NONCE_USED = ("nonce too low", "nonce has already been used")
_WORD = 32


def _private_key(private_key: SecretStr) -> LocalAccount:
    account: LocalAccount | None = None
    try:
        account = Account.from_key(private_key.get_secret_value())
    except Exception:  # eth_account's messages may quote the input
        account = None
    if account is None:  # raised outside the except block: no chained exception shows the key
        raise InvalidInput("the signer's private key is not usable: expected 32 bytes in hex")
    return account


class ChainSigner:
    """Signs and sends the transactions of one account on one node."""

    def __init__(self, rpc: Rpc, private_key: SecretStr) -> None:
        self._rpc = rpc
        self._w3: AsyncWeb3[Any] = rpc.w3
        self._account = _private_key(private_key)
        self.address = self._account.address.lower()
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"ChainSigner(address={self.address}, node={self._rpc.endpoint})"

    __str__ = __repr__

    async def chain_id(self) -> int:
        """The node's chain id, asked once."""
        if self._chain_id is None:
            self._chain_id = int(await self._rpc.call("eth_chainId", lambda: self._w3.eth.chain_id))
        return self._chain_id

    # nonces and the head

    async def chain_nonce(self, pending: bool) -> int:
        """The account's next nonce as the node sees it: counting its pool (pending) or only
        mined transactions."""
        block: Literal["pending", "latest"] = "pending" if pending else "latest"
        checksum = AsyncWeb3.to_checksum_address(self.address)
        return int(
            await self._rpc.call(
                "eth_getTransactionCount",
                lambda: self._w3.eth.get_transaction_count(checksum, block),
            )
        )

    async def next_nonce(self, stored_next: int) -> int:
        """The nonce to reserve for a new transaction: max(the caller's stored next nonce, the
        node's pending nonce), so that neither a nonce this service handed out (maybe not sent
        yet) nor one another sender of the account used is taken twice."""
        if stored_next < 0:
            raise InvalidInput(f"stored next nonce {stored_next}: expected 0 or more")
        return max(stored_next, await self.chain_nonce(pending=True))

    async def head(self) -> int:
        return int(await self._rpc.call("eth_blockNumber", lambda: self._w3.eth.block_number))

    async def require_head(self, min_block: int) -> int:
        """The node's head, when it is at `min_block` or later; else ChainLagging."""
        return await require_head(self._rpc, min_block)

    # signing and sending

    async def sign(
        self, call: ContractCall, nonce: int, max_fee_per_gas_wei: int | None = None
    ) -> SignedTx:
        """`call` signed at `nonce` (EIP-1559). Without a max fee, the node's base fee
        (doubled) plus its suggested tip; the tip never exceeds the max fee."""
        if nonce < 0:
            raise InvalidInput(f"nonce {nonce}: expected 0 or more")
        tip_wei = await self._suggested_tip_wei()
        if max_fee_per_gas_wei is None:
            max_fee_per_gas_wei = BASE_FEE_HEADROOM * await self._base_fee_wei() + tip_wei
        if max_fee_per_gas_wei <= 0:
            raise InvalidInput(f"max fee {max_fee_per_gas_wei} wei/gas: expected a positive fee")
        return await self._sign(call, nonce, max_fee_per_gas_wei, min(tip_wei, max_fee_per_gas_wei))

    async def bump(self, tx: SignedTx, call: ContractCall, factor: Decimal) -> SignedTx:
        """The same call at the same nonce with both fees times `factor` (at least 1.1, rounded
        up): a replacement with a new hash. Whichever of the two is mined, the other ends
        REPLACED."""
        if factor < MIN_BUMP_FACTOR:
            raise InvalidInput(
                f"fee bump factor {factor}: expected at least {MIN_BUMP_FACTOR} (a node replaces "
                "a pending transaction only for 10 % more fee)"
            )
        fields = TypedTransaction.from_bytes(HexBytes(tx.raw_hex)).as_dict()
        if bytes(fields["to"]).hex() != call.to.lower().removeprefix("0x") or bytes(
            fields["data"]
        ) != bytes(call.data):
            raise InvalidInput(
                f"bump of {tx.tx_hash}: the call given ({call.purpose}) is not the one signed"
            )
        max_fee = math.ceil(Decimal(int(fields["maxFeePerGas"])) * factor)
        tip = math.ceil(Decimal(int(fields["maxPriorityFeePerGas"])) * factor)
        return await self._sign(call, tx.nonce, max_fee, tip)

    async def send(self, tx: SignedTx) -> None:
        """Hands the signed bytes to the node. Sending the same transaction again is harmless:
        "already known", or its nonce used by this very hash, count as sent. A refusal
        (nonce taken by another transaction, fee too low to replace) raises TransactionRefused;
        a timeout or transport error raises ChainError, after which `outcome` says whether the
        node has it."""
        raw = HexBytes(tx.raw_hex)

        async def request() -> str:
            try:
                await self._w3.eth.send_raw_transaction(raw)
            except Web3RPCError as exc:
                return str(exc.message or exc)
            return ""

        refusal = await self._rpc.call("eth_sendRawTransaction", request)
        if not refusal:
            return
        lowered = refusal.lower()
        if any(word in lowered for word in _KNOWN):
            return
        if any(word in lowered for word in _NONCE_USED) and await self._node_has(tx.tx_hash):
            return
        raise TransactionRefused(
            f"{self._rpc.endpoint} refused {tx.tx_hash} (nonce {tx.nonce}): "
            f"{self._rpc.redactor.clean(refusal)}"
        )

    # outcomes

    async def outcome(self, tx_hash: str, nonce: int, confirmations: int) -> TxOutcome:
        """Where the transaction stands. SUCCEEDED and REVERTED once mined `confirmations`
        blocks deep (1: in the head block); mined but shallower is PENDING with its block.
        REPLACED when the account's mined nonce passed `nonce` and this hash has no receipt."""
        if confirmations < 1:
            raise InvalidInput(f"confirmations {confirmations}: expected 1 or more")
        tx_hash = tx_hash.lower()
        # the mined nonce first: a receipt looked up after it cannot miss a mining in between
        mined_nonce = await self.chain_nonce(pending=False)
        outcome = await self.receipt(tx_hash, confirmations)
        if outcome.status is TxStatus.UNSEEN and mined_nonce > nonce:
            return TxOutcome(tx_hash, TxStatus.REPLACED)
        return outcome

    async def receipt(self, tx_hash: str, confirmations: int) -> TxOutcome:
        """Where any account's transaction stands (REPLACED is not told apart from UNSEEN)."""
        if confirmations < 1:
            raise InvalidInput(f"confirmations {confirmations}: expected 1 or more")
        tx_hash = tx_hash.lower()
        receipt = await self._receipt(tx_hash)
        if receipt is None:
            status = TxStatus.PENDING if await self._node_has(tx_hash) else TxStatus.UNSEEN
            return TxOutcome(tx_hash, status)
        block_number = int(receipt["blockNumber"])
        if await self.head() - block_number + 1 < confirmations:
            return TxOutcome(tx_hash, TxStatus.PENDING, block_number=block_number)
        status = TxStatus.SUCCEEDED if int(receipt["status"]) == 1 else TxStatus.REVERTED
        fee_wei = int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0))
        return TxOutcome(tx_hash, status, block_number, transfer_logs(receipt["logs"]), fee_wei)

    # internals

    async def _sign(self, call: ContractCall, nonce: int, max_fee: int, tip: int) -> SignedTx:
        if call.gas_limit <= 0:
            raise InvalidInput(f"gas limit {call.gas_limit} of {call.purpose}: expected > 0")
        fields: dict[str, Any] = {
            "type": 2,
            "chainId": await self.chain_id(),
            "nonce": nonce,
            "to": AsyncWeb3.to_checksum_address(call.to),
            "data": bytes(call.data),
            "value": 0,
            "gas": call.gas_limit,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        signed = self._account.sign_transaction(fields)
        return SignedTx(
            tx_hash="0x" + bytes(signed.hash).hex(),
            sender=self.address,
            nonce=nonce,
            max_fee_per_gas_wei=max_fee,
            raw_hex="0x" + bytes(signed.raw_transaction).hex(),
        )

    async def _base_fee_wei(self) -> int:
        block = await self._rpc.call(
            "eth_getBlockByNumber", lambda: self._w3.eth.get_block("latest")
        )
        return int(block.get("baseFeePerGas", 0))

    async def _suggested_tip_wei(self) -> int:
        return int(
            await self._rpc.call("eth_maxPriorityFeePerGas", lambda: self._w3.eth.max_priority_fee)
        )

    async def _receipt(self, tx_hash: str) -> Any:
        async def request() -> Any:
            try:
                return await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None

        return await self._rpc.call("eth_getTransactionReceipt", request)

    async def _node_has(self, tx_hash: str) -> bool:
        async def request() -> bool:
            try:
                await self._w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
            return True

        return await self._rpc.call("eth_getTransactionByHash", request)


async def require_head(rpc: Rpc, min_block: int) -> int:
    """The node's head, when it is at `min_block` or later (the node has seen the block whose
    effects a read must see); else ChainLagging, and nothing is read."""
    head = int(await rpc.call("eth_blockNumber", lambda: rpc.w3.eth.block_number))
    if head < min_block:
        raise ChainLagging(
            f"the node at {rpc.endpoint} is at block {head}, behind block {min_block} that this "
            "read must see: not reading older state; ask again later",
            head_block=head,
            min_block=min_block,
        )
    return head


def transfer_logs(logs: Any) -> tuple[TokenTransfer, ...]:
    """The ERC-20 Transfer logs among a receipt's logs, in log order (ERC-721 Transfers, with
    the token id indexed and no data, are left out)."""
    found: list[TokenTransfer] = []
    for log in logs:
        topics = ["0x" + bytes(topic).hex() for topic in log["topics"]]
        data = bytes(log["data"])
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC0 or len(data) != _WORD:
            continue
        found.append(
            TokenTransfer(
                token=str(log["address"]).lower(),
                sender="0x" + topics[1][-40:],
                recipient="0x" + topics[2][-40:],
                amount_units=int.from_bytes(data, "big"),
            )
        )
    return tuple(found)
