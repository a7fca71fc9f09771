"""ERC-20 and ERC-4626 reads by `eth_call`: a token's decimals() and symbol(), and a wrapper's
underlying shares per whole wrapped token at a block."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from web3 import AsyncWeb3
from web3.types import BlockIdentifier, TxParams

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.domain.equities.chain import TokenInfo
from pegkeeper.domain.errors import ChainCallReverted

DECIMALS = bytes.fromhex("313ce567")  # decimals()
SYMBOL = bytes.fromhex("95d89b41")  # symbol()
ASSET = bytes.fromhex("38d52e0f")  # asset()
CONVERT_TO_ASSETS = bytes.fromhex("07a2d13a")  # convertToAssets(uint256)
_WORD = 32
_MAX_DECIMALS = 255  # decimals() is a uint8


class TokenCalls:
    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc
        self._w3: AsyncWeb3[Any] = rpc.w3

    async def token(self, address: str) -> TokenInfo:
        await self._require_contract(address, "latest")
        return TokenInfo(
            address=address,
            decimals=await self.decimals(address, "latest"),
            label=await self.symbol(address),
        )

    async def decimals(self, address: str, block: BlockIdentifier) -> int:
        answer = await self._call(address, DECIMALS, block, "decimals()")
        value = self._uint(answer, address, "decimals()")
        if value > _MAX_DECIMALS:
            raise ChainCallReverted(f"{address}: decimals() answered {value}, expected a uint8")
        return value

    async def symbol(self, address: str) -> str:
        """symbol() as a readable label: a string, or bytes32 text for old tokens; "" when the
        call reverts or answers something else."""
        try:
            answer = await self._call(address, SYMBOL, "latest", "symbol()")
        except ChainCallReverted:
            return ""
        try:
            (text,) = abi_decode(["string"], answer)
            return str(text)
        except Exception:  # not an ABI string: maybe a bytes32 symbol
            if len(answer) == _WORD:
                return answer.rstrip(b"\0").decode("utf-8", errors="replace")
            return ""

    async def shares_per_token(self, wrapper: str, block_number: int) -> Decimal:
        """convertToAssets(10**wrapper_decimals) / 10**underlying_decimals at the block: the
        underlying shares one whole wrapped token is worth then (exact)."""
        await self._require_contract(wrapper, block_number)
        answer = await self._call(wrapper, ASSET, block_number, "asset()")
        if len(answer) < _WORD or any(answer[:12]):
            raise ChainCallReverted(f"{wrapper}: asset() answered no address at {block_number}")
        underlying = "0x" + answer[12:_WORD].hex()
        wrapper_decimals = await self.decimals(wrapper, block_number)
        underlying_decimals = await self.decimals(underlying, block_number)
        data = CONVERT_TO_ASSETS + abi_encode(["uint256"], [10**wrapper_decimals])
        assets = self._uint(
            await self._call(wrapper, data, block_number, "convertToAssets(uint256)"),
            wrapper,
            "convertToAssets(uint256)",
        )
        return Decimal(f"{assets}e-{underlying_decimals}")

    async def _require_contract(self, address: str, block: int | Literal["latest"]) -> None:
        checksum = AsyncWeb3.to_checksum_address(address)
        code = await self._rpc.call("eth_getCode", lambda: self._w3.eth.get_code(checksum, block))
        if not code:
            raise ChainCallReverted(f"{address} is not a contract (no code at {block})")

    async def _call(
        self, address: str, data: bytes, block: BlockIdentifier, function: str
    ) -> bytes:
        params: TxParams = {"to": AsyncWeb3.to_checksum_address(address), "data": data}
        try:
            answer = await self._rpc.call(
                f"eth_call {function}", lambda: self._w3.eth.call(params, block)
            )
        except ChainCallReverted as exc:
            raise ChainCallReverted(f"{address}: {function} reverted ({exc})") from None
        return bytes(answer)

    @staticmethod
    def _uint(answer: bytes, address: str, function: str) -> int:
        if len(answer) < _WORD:
            raise ChainCallReverted(
                f"{address}: {function} answered {len(answer)} bytes, expected a 32-byte word"
            )
        return int.from_bytes(answer[:_WORD], "big")
