"""The stand-in contracts (sim/raindex) deployed on a local node, and the Raindex events they
emit, built from struct values the way an orderbook encodes them (specs/equities.md, "Raindex
events"). The equities demo, the benchmarks and the tests drive the chain through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3 import AsyncHTTPProvider, AsyncWeb3, Web3
from web3.contract import AsyncContract

from pegkeeper.sim.raindex.artifacts import Artifact

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_WORD = b"\0" * 32
# The spec's production Float words: 2.0 (exponent -18) and 160.15507752 (exponent -27).
FLOAT_TWO = bytes.fromhex("ffffffee00000000000000000000000000000000000000001bc16d674ec80000")
FLOAT_160_15507752 = bytes.fromhex(
    "ffffffe500000000000000000000000000000002057d2cd516a29b6174400000"
)
WAD = 10**18


def float_word(coefficient: int, exponent: int) -> bytes:
    """A rain.math.float word: the high 32 bits the signed exponent, the low 224 bits the
    signed coefficient (two's complement)."""
    word = ((exponent & 0xFFFFFFFF) << 224) | (coefficient & ((1 << 224) - 1))
    return word.to_bytes(32, "big")


def word_int(word: bytes) -> int:
    return int.from_bytes(word, "big")


def vault(n: int) -> bytes:
    return n.to_bytes(32, "big")


def evaluable() -> tuple[str, str, bytes]:
    return (ZERO_ADDRESS, ZERO_ADDRESS, b"\x01\x02")


def order_v3(
    owner: str, inputs: Sequence[tuple[str, int]], outputs: Sequence[tuple[str, int]]
) -> tuple[Any, ...]:
    """OrderV3: IOs are (token, decimals)."""
    return (
        owner,
        evaluable(),
        [(token, decimals, 7) for token, decimals in inputs],
        [(token, decimals, 7) for token, decimals in outputs],
        vault(1),
    )


def order_v4(owner: str, inputs: Sequence[str], outputs: Sequence[str]) -> tuple[Any, ...]:
    """OrderV4: IOs are tokens (no decimals)."""
    return (
        owner,
        evaluable(),
        [(token, vault(7)) for token in inputs],
        [(token, vault(7)) for token in outputs],
        vault(1),
    )


def take_config_v3(order: tuple[Any, ...], input_io: int, output_io: int) -> tuple[Any, ...]:
    return (order, input_io, output_io, [(ZERO_ADDRESS, [1, 2], b"signature")])


def take_config_v4(order: tuple[Any, ...], input_io: int, output_io: int) -> tuple[Any, ...]:
    return (order, input_io, output_io, [(ZERO_ADDRESS, [vault(1), vault(2)], b"signature")])


def clear_config(io_indexes: tuple[int, int, int, int] = (0, 0, 0, 0)) -> tuple[int, ...]:
    return (*io_indexes, 11, 12)


def clear_config_v2(io_indexes: tuple[int, int, int, int] = (0, 0, 0, 0)) -> tuple[Any, ...]:
    return (*io_indexes, vault(11), vault(12))


@dataclass(frozen=True, slots=True)
class Sent:
    """A mined transaction: where its logs are."""

    tx_hash: str  # 0x lower case
    block_number: int
    block_hash: str
    log_indexes: tuple[int, ...]


class RaindexWorld:
    """An orderbook stand-in, tokens and a wrapper on one node, sent from anvil's first
    (unlocked) account."""

    def __init__(self, url: str, artifacts: dict[str, Artifact]) -> None:
        self.url = url
        self.artifacts = artifacts
        self.w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(url))
        self.account = ""
        self.owner = ""  # the market maker's orders are this account's
        self.taker = ""

    async def start(self, orderbook: str = "") -> None:
        """Deploys the orderbook stand-in, or attaches to the one at `orderbook`."""
        accounts = list(await self.w3.eth.accounts)
        self.account, self.owner, self.taker = accounts[0], accounts[1], accounts[2]
        if orderbook:
            self.orderbook = self.attach("RaindexStandIn", orderbook)
        else:
            self.orderbook = await self.deploy("RaindexStandIn")

    def attach(self, name: str, address: str) -> AsyncContract:
        """A contract already deployed at `address`."""
        abi = self.artifacts[name].abi
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        assert isinstance(contract, AsyncContract)  # given an address, an instance
        return contract

    async def has_code(self, address: str) -> bool:
        return len(await self.w3.eth.get_code(Web3.to_checksum_address(address))) > 0

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def deploy(self, name: str, *args: Any) -> AsyncContract:
        artifact = self.artifacts[name]
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = await factory.constructor(*args).transact({"from": self.account})
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        address = receipt["contractAddress"]
        contract = self.w3.eth.contract(address=address, abi=artifact.abi)
        assert isinstance(contract, AsyncContract)  # given an address, an instance
        return contract

    async def token(self, symbol: str, decimals: int) -> AsyncContract:
        return await self.deploy("TestToken", f"{symbol} token", symbol, decimals)

    async def send(self, call: Any) -> Sent:
        """Sends a prepared contract call and waits for its block."""
        tx_hash = await call.transact({"from": self.account})
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
        return Sent(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            log_indexes=tuple(int(log["logIndex"]) for log in receipt["logs"]),
        )

    async def multicall(self, *calls: tuple[str, list[Any]]) -> Sent:
        """Several orderbook calls (function name, arguments) in one transaction."""
        encoded = [self.orderbook.encode_abi(name, args=args) for name, args in calls]
        return await self.send(self.orderbook.functions.multicall(encoded))

    async def mine(self, blocks: int) -> None:
        await self.w3.provider.make_request("anvil_mine", [hex(blocks)])

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    async def snapshot(self) -> str:
        answer = await self.w3.provider.make_request("evm_snapshot", [])
        return str(answer["result"])

    async def revert(self, snapshot_id: str) -> None:
        answer = await self.w3.provider.make_request("evm_revert", [snapshot_id])
        if answer.get("result") is not True:
            raise RuntimeError(f"evm_revert({snapshot_id}) answered {answer}")

    async def block_hash(self, number: int) -> str:
        block = await self.w3.eth.get_block(number)
        return "0x" + bytes(block["hash"]).hex()

    async def block_timestamp(self, number: int) -> int:
        block = await self.w3.eth.get_block(number)
        return int(block["timestamp"])
