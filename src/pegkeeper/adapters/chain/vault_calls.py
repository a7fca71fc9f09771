"""The calls a rebalancing move signs, as ContractCall values (ERC-20 transfer and approve, the
ERC-4626 wrapper's deposit and redeem, the Raindex OrderBook V4 vault's deposit2 and withdraw2,
CCTP v2's depositForBurn and receiveMessage), and the reads it takes at a pinned block (vault
and token balances, allowances, a wrapper's conversion, a bridge nonce's use).

Every read names the block it reads at, and first checks that the node has that block: a node
behind it (a load-balanced replica, a restarted one) raises ChainLagging rather than answering
with older state.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import AsyncWeb3
from web3.types import TxParams

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import require_head
from pegkeeper.domain.equities.transfers import BridgeBurn, BridgeMessage, ContractCall
from pegkeeper.domain.errors import ChainCallReverted, InvalidInput

# OrderBook V4's TaskV1[]: ((interpreter, store, bytecode), (signer, context[], signature)[])[]
_TASKS = "((address,address,bytes),(address,uint256[],bytes)[])[]"
TRANSFER = function_signature_to_4byte_selector("transfer(address,uint256)")
APPROVE = function_signature_to_4byte_selector("approve(address,uint256)")
WRAP = function_signature_to_4byte_selector("deposit(uint256,address)")
UNWRAP = function_signature_to_4byte_selector("redeem(uint256,address,address)")
DEPOSIT2 = function_signature_to_4byte_selector(f"deposit2(address,uint256,uint256,{_TASKS})")
WITHDRAW2 = function_signature_to_4byte_selector(f"withdraw2(address,uint256,uint256,{_TASKS})")
DEPOSIT_FOR_BURN = function_signature_to_4byte_selector(
    "depositForBurn(uint256,uint32,bytes32,address,bytes32,uint256,uint32)"
)
RECEIVE_MESSAGE = function_signature_to_4byte_selector("receiveMessage(bytes,bytes)")
VAULT_BALANCE = function_signature_to_4byte_selector("vaultBalance(address,address,uint256)")
BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
ALLOWANCE = function_signature_to_4byte_selector("allowance(address,address)")
CONVERT_TO_ASSETS = function_signature_to_4byte_selector("convertToAssets(uint256)")
USED_NONCES = function_signature_to_4byte_selector("usedNonces(bytes32)")

# CCTP v2: a standard transfer is attested at finality ("finalized", 2000)
FINALITY_STANDARD = 2000
ZERO_WORD = b"\0" * 32
MESSAGE_BODY_INDEX = 148  # a CCTP v2 message's header length
_UINT256_MAX = 2**256 - 1
_WORD = 32


def _address(value: str, what: str) -> str:
    if not AsyncWeb3.is_address(value):
        raise InvalidInput(f"{what} {value!r} is not an address: expected 0x and 40 hex digits")
    return AsyncWeb3.to_checksum_address(value)


def _units(value: int, what: str, *, positive: bool = True) -> int:
    low = 1 if positive else 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _UINT256_MAX:
        expected = "a positive" if positive else "a non-negative"
        raise InvalidInput(f"{what} {value!r}: expected {expected} integer of token units")
    return value


def address_word(address: str) -> bytes:
    """An address as CCTP's bytes32 (left-padded)."""
    return bytes(12) + bytes.fromhex(_address(address, "address")[2:])


# ERC-20


def erc20_transfer(
    token: str, recipient: str, amount_units: int, purpose: str = ""
) -> ContractCall:
    args = [_address(recipient, "recipient"), _units(amount_units, "transfer amount")]
    data = TRANSFER + abi_encode(["address", "uint256"], args)
    text = purpose or f"transfer {amount_units} units of {token.lower()} to {recipient.lower()}"
    return ContractCall(to=_address(token, "token"), data=data, purpose=text, gas_limit=100_000)


def erc20_approve(token: str, spender: str, amount_units: int, purpose: str = "") -> ContractCall:
    args = [_address(spender, "spender"), _units(amount_units, "allowance", positive=False)]
    data = APPROVE + abi_encode(["address", "uint256"], args)
    text = purpose or f"approve {spender.lower()} for {amount_units} units of {token.lower()}"
    return ContractCall(to=_address(token, "token"), data=data, purpose=text, gas_limit=100_000)


# the ERC-4626 wrapper


def wrapper_deposit(
    wrapper: str, assets_units: int, receiver: str, purpose: str = ""
) -> ContractCall:
    """Wraps `assets_units` of the underlying (approved to the wrapper first)."""
    args = [_units(assets_units, "assets to wrap"), _address(receiver, "receiver")]
    data = WRAP + abi_encode(["uint256", "address"], args)
    text = purpose or f"wrap {assets_units} units into {wrapper.lower()}"
    return ContractCall(to=_address(wrapper, "wrapper"), data=data, purpose=text)


def wrapper_redeem(
    wrapper: str, shares_units: int, receiver: str, owner: str, purpose: str = ""
) -> ContractCall:
    """Unwraps `shares_units` of the wrapper's shares into the underlying."""
    args = [
        _units(shares_units, "shares to redeem"),
        _address(receiver, "receiver"),
        _address(owner, "owner"),
    ]
    data = UNWRAP + abi_encode(["uint256", "address", "address"], args)
    text = purpose or f"unwrap {shares_units} units of {wrapper.lower()}"
    return ContractCall(to=_address(wrapper, "wrapper"), data=data, purpose=text)


# the Raindex vault (OrderBook V4)


def vault_deposit2(
    orderbook: str, token: str, vault_id: int, amount_units: int, purpose: str = ""
) -> ContractCall:
    """deposit2(token, vaultId, amount, []): the orderbook takes the tokens (approved to it
    first) into the sender's vault."""
    args = [
        _address(token, "token"),
        _units(vault_id, "vault id", positive=False),
        _units(amount_units, "deposit amount"),
        [],
    ]
    data = DEPOSIT2 + abi_encode(["address", "uint256", "uint256", _TASKS], args)
    text = purpose or f"deposit {amount_units} units of {token.lower()} into vault {vault_id}"
    return ContractCall(to=_address(orderbook, "orderbook"), data=data, purpose=text)


def vault_withdraw2(
    orderbook: str, token: str, vault_id: int, target_units: int, purpose: str = ""
) -> ContractCall:
    """withdraw2(token, vaultId, targetAmount, []): the orderbook sends min(target, balance);
    what arrived is in the receipt's Transfer logs (TxOutcome.received)."""
    args = [
        _address(token, "token"),
        _units(vault_id, "vault id", positive=False),
        _units(target_units, "withdrawal target"),
        [],
    ]
    data = WITHDRAW2 + abi_encode(["address", "uint256", "uint256", _TASKS], args)
    text = purpose or f"withdraw up to {target_units} units of {token.lower()} from {vault_id}"
    return ContractCall(to=_address(orderbook, "orderbook"), data=data, purpose=text)


# the bridge (CCTP v2)


def bridge_deposit_for_burn(
    token_messenger: str,
    amount_units: int,
    destination_domain: int,
    mint_recipient: str,
    burn_token: str,
    *,
    max_fee_units: int = 0,
    min_finality_threshold: int = FINALITY_STANDARD,
    purpose: str = "",
) -> ContractCall:
    """depositForBurn: the messenger takes `amount_units` of USDC (approved to it first) and
    burns them; the destination domain mints them to `mint_recipient` (any caller may relay)."""
    if not 0 <= destination_domain < 2**32:
        raise InvalidInput(f"destination domain {destination_domain}: expected a uint32")
    args = [
        _units(amount_units, "burn amount"),
        destination_domain,
        address_word(mint_recipient),
        _address(burn_token, "burn token"),
        ZERO_WORD,
        _units(max_fee_units, "max fee", positive=False),
        min_finality_threshold,
    ]
    types = ["uint256", "uint32", "bytes32", "address", "bytes32", "uint256", "uint32"]
    data = DEPOSIT_FOR_BURN + abi_encode(types, args)
    text = purpose or f"burn {amount_units} units for domain {destination_domain}"
    return ContractCall(to=_address(token_messenger, "token messenger"), data=data, purpose=text)


def bridge_receive_message(
    message_transmitter: str, message: bytes, attestation: bytes, purpose: str = ""
) -> ContractCall:
    """receiveMessage(message, attestation): mints on the destination; a message whose nonce
    was received before reverts, so relaying twice never mints twice."""
    if not message or not attestation:
        raise InvalidInput("receiveMessage needs the attested message and its attestation")
    data = RECEIVE_MESSAGE + abi_encode(["bytes", "bytes"], [message, attestation])
    text = purpose or f"mint from bridge message {message_nonce(message).hex()}"
    return ContractCall(
        to=_address(message_transmitter, "message transmitter"), data=data, purpose=text
    )


def message_nonce(message: bytes) -> bytes:
    """The nonce of a CCTP v2 message (bytes 12..44), empty until attested."""
    if len(message) < MESSAGE_BODY_INDEX:
        raise InvalidInput(f"a CCTP message of {len(message)} bytes: expected at least 148")
    return message[12:44]


class ChainReads:
    """Reads at a pinned block, on one node, for one orderbook's vaults."""

    def __init__(self, rpc: Rpc, orderbook: str) -> None:
        self._rpc = rpc
        self._w3: AsyncWeb3[Any] = rpc.w3
        self.orderbook = _address(orderbook, "orderbook")

    async def pin(self, min_block: int = 0) -> int:
        """The block to read at: the node's head, when it is at `min_block` (say, the block of
        the transaction whose effects the reads must see) or later; else ChainLagging."""
        return await require_head(self._rpc, min_block)

    async def vault_balance(self, owner: str, token: str, vault_id: int, block: int) -> int:
        args = [_address(owner, "owner"), _address(token, "token"), vault_id]
        data = VAULT_BALANCE + abi_encode(["address", "address", "uint256"], args)
        return await self._uint(self.orderbook, data, block, "vaultBalance")

    async def token_balance(self, token: str, holder: str, block: int) -> int:
        data = BALANCE_OF + abi_encode(["address"], [_address(holder, "holder")])
        return await self._uint(_address(token, "token"), data, block, "balanceOf")

    async def allowance(self, token: str, owner: str, spender: str, block: int) -> int:
        args = [_address(owner, "owner"), _address(spender, "spender")]
        data = ALLOWANCE + abi_encode(["address", "address"], args)
        return await self._uint(_address(token, "token"), data, block, "allowance")

    async def wrapper_assets(self, wrapper: str, shares_units: int, block: int) -> int:
        """convertToAssets(shares): the underlying units a redeem of `shares_units` gives."""
        data = CONVERT_TO_ASSETS + abi_encode(["uint256"], [_units(shares_units, "shares")])
        return await self._uint(_address(wrapper, "wrapper"), data, block, "convertToAssets")

    async def bridge_nonce_used(self, message_transmitter: str, nonce: bytes, block: int) -> bool:
        """Whether the destination already received the message of this nonce (minted)."""
        if len(nonce) != _WORD:
            raise InvalidInput(f"bridge nonce of {len(nonce)} bytes: expected 32")
        data = USED_NONCES + nonce
        address = _address(message_transmitter, "message transmitter")
        return await self._uint(address, data, block, "usedNonces") != 0

    async def _uint(self, to: str, data: bytes, block: int, function: str) -> int:
        await self.pin(block)
        params: TxParams = {"to": to, "data": data}
        try:
            answer = await self._rpc.call(
                f"eth_call {function}", lambda: self._w3.eth.call(params, block)
            )
        except ChainCallReverted as exc:
            raise ChainCallReverted(
                f"{to.lower()}: {function} reverted at {block} ({exc})"
            ) from None
        if len(answer) < _WORD:
            raise ChainCallReverted(
                f"{to.lower()}: {function} answered {len(answer)} bytes at {block}, expected a "
                "32-byte word (no contract there?)"
            )
        (value,) = abi_decode(["uint256"], bytes(answer)[:_WORD])
        return int(value)


class MoveCallBuilder:
    """The calls of the rebalancing moves (ports.inventory.ContractCalls)."""

    def transfer(self, token: str, recipient: str, amount_units: int) -> ContractCall:
        return erc20_transfer(token, recipient, amount_units)

    def approve(self, token: str, spender: str, amount_units: int) -> ContractCall:
        return erc20_approve(token, spender, amount_units)

    def wrap(self, wrapper: str, assets_units: int, receiver: str) -> ContractCall:
        return wrapper_deposit(wrapper, assets_units, receiver)

    def unwrap(self, wrapper: str, shares_units: int, owner: str) -> ContractCall:
        return wrapper_redeem(wrapper, shares_units, owner, owner)

    def vault_deposit(
        self, orderbook: str, token: str, vault_id: int, amount_units: int
    ) -> ContractCall:
        return vault_deposit2(orderbook, token, vault_id, amount_units)

    def vault_withdraw(
        self, orderbook: str, token: str, vault_id: int, target_units: int
    ) -> ContractCall:
        return vault_withdraw2(orderbook, token, vault_id, target_units)

    def burn(self, burn: BridgeBurn) -> ContractCall:
        return bridge_deposit_for_burn(
            burn.token_messenger,
            burn.amount_units,
            burn.destination_domain,
            burn.recipient,
            burn.burn_token,
            max_fee_units=burn.max_fee_units,
            min_finality_threshold=burn.min_finality_threshold,
        )

    def receive(self, message_transmitter: str, message: BridgeMessage) -> ContractCall:
        return bridge_receive_message(message_transmitter, message.message, message.attestation)

    def message_nonce(self, message: BridgeMessage) -> bytes:
        return message_nonce(message.message)
