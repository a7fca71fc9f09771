"""The Raindex orderbook read over JSON-RPC (the ChainSource port): `eth_getLogs` polling in
the ranges the ingestion service asks for, no subscriptions and no filters on the node.

Only reading and decoding: whether an event is a hedgeable fill is decided by the domain
(domain/equities/raindex.py); retries with backoff are the ingestion service's.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar

from web3 import AsyncWeb3
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.types import BlockIdentifier, FilterParams

from pegkeeper.adapters.chain.raindex_abi import EVENT_KINDS
from pegkeeper.adapters.chain.raindex_logs import (
    RawLog,
    as_int,
    decode_all,
    hex_str,
    is_orderbook_log,
    pair_clears,
)
from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.token_calls import TokenCalls
from pegkeeper.domain.equities.chain import (
    BlockRef,
    RaindexEvent,
    RangeRead,
    TokenInfo,
    UndecodableLog,
)
from pegkeeper.domain.errors import ChainError, ChainIncomplete, InvalidInput

T = TypeVar("T")

CutoffTag = Literal["safe", "finalized"]
CUTOFF_TAGS: tuple[CutoffTag, ...] = ("safe", "finalized")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TIMESTAMP_CACHE_BLOCKS = 1024
_BLOCKS_PER_BATCH = 100  # a JSON-RPC batch size providers accept


def checked_address(address: str, what: str) -> str:
    """A 20-byte hex address in lower case; InvalidInput naming `what` otherwise."""
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise InvalidInput(f"{what} {address!r}: expected 0x followed by 40 hex digits")
    return address.lower()


class RaindexChain:
    """Reads one orderbook through one node.

    `cutoff` is a confirmation depth in blocks (the newest readable block is the head minus
    it) or the node's "safe" / "finalized" tag. `keep_blocks` is how many blocks below the head
    `read_range` returns hashes of when the caller does not say (`keep_from_block`).
    """

    def __init__(
        self,
        rpc_url: str,
        orderbook: str,
        *,
        cutoff: int | CutoffTag = 12,
        keep_blocks: int = 64,
        timeout_s: float = 10.0,
        max_parallel_requests: int = 8,
    ) -> None:
        self.orderbook = checked_address(orderbook, "orderbook address")
        if isinstance(cutoff, bool) or not (
            (isinstance(cutoff, int) and cutoff >= 0) or cutoff in CUTOFF_TAGS
        ):
            raise InvalidInput(
                f"cutoff {cutoff!r}: expected a confirmation depth (a whole number of blocks, "
                "0 or more) or one of 'safe', 'finalized'"
            )
        if keep_blocks < 1:
            raise InvalidInput(f"keep_blocks {keep_blocks}: expected at least 1 block")
        if max_parallel_requests < 1:
            raise InvalidInput(f"max_parallel_requests {max_parallel_requests}: expected >= 1")
        self.cutoff_rule: int | CutoffTag = cutoff
        self.keep_blocks = keep_blocks
        self._rpc = Rpc(rpc_url, timeout_s=timeout_s)
        self._w3: AsyncWeb3[Any] = self._rpc.w3
        self._parallel = max_parallel_requests
        self._tokens = TokenCalls(self._rpc)
        self._timestamps: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._topics = [kind.topic0 for kind in EVENT_KINDS]

    @property
    def endpoint(self) -> str:
        """The node's URL without its secret parts."""
        return self._rpc.endpoint

    async def aclose(self) -> None:
        await self._rpc.close()

    async def __aenter__(self) -> RaindexChain:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # the ChainSource port

    async def cutoff(self) -> BlockRef:
        if isinstance(self.cutoff_rule, int):
            head = await self._head()
            number: BlockIdentifier = max(head - self.cutoff_rule, 0)
        else:
            number = self.cutoff_rule
        block = await self._block(number)
        if block is None:
            raise ChainError(f"eth_getBlockByNumber({number!r}) at {self.endpoint}: no block")
        return block

    async def read_range(
        self, from_block: int, to_block: int, *, keep_from_block: int | None = None
    ) -> RangeRead:
        """Every orderbook log of [from_block, to_block]. The returned block hashes are those
        of the range's blocks from `keep_from_block` on (by default the last `keep_blocks`
        below the head), always with `to_block`'s."""
        if not 0 <= from_block <= to_block:
            raise InvalidInput(
                f"block range {from_block}..{to_block}: expected 0 <= from_block <= to_block"
            )
        logs = await self._logs(from_block, to_block)
        timestamps_s = await self._timestamps_of(logs)
        events, undecodable = await self._events(logs, timestamps_s)
        head = await self._head()
        if head < to_block:
            raise ChainIncomplete(
                f"the node's head {head} is behind the range's end {to_block}: "
                "it may not have all the range's logs yet"
            )
        keep_from = keep_from_block if keep_from_block is not None else head - self.keep_blocks + 1
        kept = sorted({*range(max(keep_from, from_block), to_block + 1), to_block})
        kept_refs = await self._kept_blocks(kept, logs)
        return RangeRead(
            from_block=from_block,
            to_block=to_block,
            events=tuple(sorted(events, key=lambda e: e.ref.position)),
            undecodable=tuple(sorted(undecodable, key=lambda u: u.ref.position)),
            block_hashes={number: ref.hash for number, ref in kept_refs.items()},
            to_block_timestamp_s=kept_refs[to_block].timestamp_s,
        )

    async def block_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        refs = await self._blocks(sorted(set(numbers)))
        return {ref.number: ref.hash for ref in refs if ref is not None}

    async def token(self, address: str) -> TokenInfo:
        return await self._tokens.token(checked_address(address, "token address"))

    async def shares_per_token(self, wrapper: str, block_number: int) -> Decimal:
        if block_number < 0:
            raise InvalidInput(f"block number {block_number}: expected 0 or more")
        wrapper = checked_address(wrapper, "wrapper address")
        return await self._tokens.shares_per_token(wrapper, block_number)

    # reading

    async def _logs(self, from_block: int, to_block: int) -> list[RawLog]:
        params: FilterParams = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": AsyncWeb3.to_checksum_address(self.orderbook),
            "topics": [self._topics],
        }
        answered = await self._rpc.call("eth_getLogs", lambda: self._w3.eth.get_logs(params))
        unique: dict[tuple[str, int], RawLog] = {}
        block_hash_of: dict[int, str] = {}
        for entry in answered:
            log = RawLog.from_rpc(entry, "eth_getLogs")
            if log.removed:
                raise ChainIncomplete(
                    f"eth_getLogs answered a removed log of block {log.block_number}"
                )
            if not from_block <= log.block_number <= to_block:
                raise ChainIncomplete(
                    f"eth_getLogs for {from_block}..{to_block} answered a log of block "
                    f"{log.block_number}"
                )
            if block_hash_of.setdefault(log.block_number, log.block_hash) != log.block_hash:
                raise ChainIncomplete(
                    f"eth_getLogs answered two hashes for block {log.block_number} (a reorg)"
                )
            if is_orderbook_log(log, self.orderbook):
                unique.setdefault(log.key, log)  # a repeated entry is the same log
        return sorted(unique.values(), key=lambda log: (log.block_number, log.log_index))

    async def _timestamps_of(self, logs: Sequence[RawLog]) -> dict[int, int]:
        """Each log-bearing block's timestamp: from the logs when the node includes it, else
        read (and cached by number and hash)."""
        wanted: dict[int, str] = {}
        timestamps_s: dict[int, int] = {}
        for log in logs:
            if log.block_timestamp_s is not None:
                timestamps_s[log.block_number] = log.block_timestamp_s
            elif (log.block_number, log.block_hash) in self._timestamps:
                timestamps_s[log.block_number] = self._timestamps[
                    (log.block_number, log.block_hash)
                ]
            else:
                wanted[log.block_number] = log.block_hash
        refs = await self._blocks(sorted(wanted))
        for number, ref in zip(sorted(wanted), refs, strict=True):
            if ref is None or ref.hash != wanted[number]:
                raise ChainIncomplete(f"block {number} changed while the range was read (a reorg)")
            timestamps_s[number] = ref.timestamp_s
            self._remember_timestamp(ref)
        return timestamps_s

    async def _events(
        self, logs: Sequence[RawLog], timestamps_s: dict[int, int]
    ) -> tuple[list[RaindexEvent], list[UndecodableLog]]:
        by_tx: defaultdict[str, list[RawLog]] = defaultdict(list)
        for log in logs:
            by_tx[log.tx_hash].append(log)
        events: list[RaindexEvent] = []
        undecodable: list[UndecodableLog] = []
        for tx_hash, tx_logs in by_tx.items():
            decoded, bad = decode_all(tx_logs, timestamps_s)
            paired = pair_clears(decoded)
            if not paired.complete:
                # eth_getLogs may leave logs out; the receipt has all of the transaction's.
                receipt_logs = await self._receipt_logs(tx_hash, tx_logs[0])
                decoded, bad = decode_all(receipt_logs, timestamps_s)
                paired = pair_clears(decoded)
                if paired.unpaired_clears:
                    clear = paired.unpaired_clears[0].ref
                    raise ChainIncomplete(
                        f"the AfterClear of the Clear {clear.fill_id} (block "
                        f"{clear.block_number}) is missing from the logs and the receipt"
                    )
            events.extend(paired.events)
            undecodable.extend(bad)
        return events, undecodable

    async def _receipt_logs(self, tx_hash: str, seen: RawLog) -> list[RawLog]:
        async def request() -> Any:
            try:
                return await self._w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None

        receipt = await self._rpc.call("eth_getTransactionReceipt", request)
        if receipt is None:
            raise ChainIncomplete(
                f"no receipt for transaction {tx_hash} (block {seen.block_number})"
            )
        if hex_str(receipt["blockHash"]) != seen.block_hash:
            raise ChainIncomplete(
                f"the receipt of {tx_hash} is from another block than its logs (a reorg)"
            )
        logs = [RawLog.from_rpc(entry, "eth_getTransactionReceipt") for entry in receipt["logs"]]
        return [log for log in logs if is_orderbook_log(log, self.orderbook)]

    async def _kept_blocks(
        self, numbers: Sequence[int], logs: Sequence[RawLog]
    ) -> dict[int, BlockRef]:
        """The blocks whose hashes the range returns; they must agree with the logs."""
        answered = await self._blocks(numbers)
        refs = {ref.number: ref for ref in answered if ref is not None}
        missing = [n for n in numbers if n not in refs]
        if missing:
            raise ChainIncomplete(f"the node has no block {missing[0]} yet")
        for log in logs:
            known = refs.get(log.block_number)
            if known is not None and known.hash != log.block_hash:
                raise ChainIncomplete(
                    f"block {log.block_number} changed while the range was read (a reorg)"
                )
        return refs

    async def _head(self) -> int:
        return int(await self._rpc.call("eth_blockNumber", lambda: self._w3.eth.block_number))

    async def _block(self, number: BlockIdentifier) -> BlockRef | None:
        async def request() -> Any:
            try:
                return await self._w3.eth.get_block(number)
            except BlockNotFound:
                return None

        block = await self._rpc.call("eth_getBlockByNumber", request)
        return None if block is None else self._ref(block)

    async def _blocks(self, numbers: Sequence[int]) -> list[BlockRef | None]:
        """The blocks `numbers`, in order (None: the node has none), asked in JSON-RPC batches:
        a round trip per batch, not per block (the reorg check asks up to `keep_blocks` of them
        at every poll). A node that does not answer a batch whole is asked block by block."""
        refs: list[BlockRef | None] = []
        for first in range(0, len(numbers), _BLOCKS_PER_BATCH):
            chunk = numbers[first : first + _BLOCKS_PER_BATCH]
            params = [[hex(number), False] for number in chunk]
            blocks = await self._rpc.batch("eth_getBlockByNumber", params) if chunk else []
            if blocks is None:
                refs += await self._gather(self._block(number) for number in chunk)
            else:
                refs += [None if block is None else self._ref(block) for block in blocks]
        return refs

    def _ref(self, block: Any) -> BlockRef:
        ref = BlockRef(
            number=as_int(block["number"]),
            hash=hex_str(block["hash"]),
            timestamp_s=as_int(block["timestamp"]),
        )
        self._remember_timestamp(ref)
        return ref

    def _remember_timestamp(self, ref: BlockRef) -> None:
        self._timestamps[(ref.number, ref.hash)] = ref.timestamp_s
        self._timestamps.move_to_end((ref.number, ref.hash))
        while len(self._timestamps) > _TIMESTAMP_CACHE_BLOCKS:
            self._timestamps.popitem(last=False)

    async def _gather(self, requests: Iterable[Awaitable[T]]) -> list[T]:
        """The requests' answers in order, at most `max_parallel_requests` at a time."""
        gate = asyncio.Semaphore(self._parallel)

        async def one(request: Awaitable[T]) -> T:
            async with gate:
                return await request

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(request)) for request in requests]
        except ExceptionGroup as failed:  # the first failure, as a single call would raise it
            first: BaseException = failed
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        return [task.result() for task in tasks]
