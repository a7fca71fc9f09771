"""Fakes behind the equity hedger's ports: a chain of blocks in memory that reorganises when
told, and the equity repository over the domain's in-memory book."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.equities.book import EquityBook
from pegkeeper.domain.equities.broker import (
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.chain import (
    BlockRef,
    Generation,
    Io,
    LogRef,
    OnchainFill,
    RaindexEvent,
    RaindexOrder,
    RangeRead,
    SkippedLog,
    TakeOrderEvent,
    TokenInfo,
    UndecodableLog,
)
from pegkeeper.domain.equities.ledger import (
    Allocation,
    BrokerOrderRecord,
    FillCover,
    LedgerSnapshot,
    RevertedFill,
    SymbolExposure,
)
from pegkeeper.domain.equities.pnl import PnlEntry, Trade, TradeCursor, TradesRead
from pegkeeper.domain.errors import ChainCallReverted, ChainIncomplete

OWNER = "0x" + "0a" * 20
TAKER = "0x" + "0b" * 20
USDC = "0x" + "0c" * 20
BLOCK_SECONDS = 2
GENESIS_S = 1_700_000_000


def token_address(n: int) -> str:
    return f"0x{n:040x}"


class MemoryEquityRepository:
    """The EquityRepository port over the domain's EquityBook, each call one 'transaction'."""

    def __init__(self, symbols: Sequence[str] = ()) -> None:
        self.book = EquityBook(symbols)
        self._checkpoint: BlockRef | None = None
        self._hashes: dict[int, str] = {}
        self.skipped: dict[str, SkippedLog] = {}
        self.entries: list[PnlEntry] = []
        self.reasons: dict[str, str] = {}
        self.ranges: list[tuple[int, int]] = []  # (first block with a hash or fill, read_to)
        self.fail_next_record: Exception | None = None

    async def checkpoint(self) -> BlockRef | None:
        return self._checkpoint

    async def kept_block_hashes(self) -> dict[int, str]:
        return dict(self._hashes)

    async def record_range(
        self,
        read_to: BlockRef,
        fills: Sequence[OnchainFill],
        skipped: Sequence[SkippedLog],
        block_hashes: Mapping[int, str],
        *,
        keep_from_block: int,
    ) -> list[OnchainFill]:
        if self.fail_next_record is not None:
            error, self.fail_next_record = self.fail_next_record, None
            raise error
        new = [f for f in fills if self.book.add_onchain_fill(f) is not None]
        for log in skipped:
            self.skipped.setdefault(log.ref.fill_id, log)
        self._hashes.update(block_hashes)
        self._hashes = {n: h for n, h in self._hashes.items() if n >= keep_from_block}
        self._checkpoint = read_to
        self.ranges.append((min(block_hashes, default=read_to.number), read_to.number))
        return new

    async def revert_from(self, block_number: int, now_ms: int) -> list[RevertedFill]:
        reverted = self.book.revert_from(block_number)
        self._hashes = {n: h for n, h in self._hashes.items() if n < block_number}
        before = block_number - 1
        self._checkpoint = BlockRef(before, self._hashes.get(before, ""), 0)
        return reverted

    async def exposures(self) -> dict[str, SymbolExposure]:
        return self.book.exposures()

    async def last_fill_price(self, symbol: str) -> Decimal | None:
        return self.book.exposure(symbol).last_price_usd

    async def open_broker_order(self, intent: BrokerOrderIntent, reason: str) -> None:
        self.book.open_order(intent, intent.created_at_ms)
        self.reasons[intent.client_order_id] = reason

    async def record_broker_report(
        self, report: BrokerOrderReport, now_ms: int
    ) -> list[Allocation]:
        return self.book.apply_report(report, now_ms)

    async def record_broker_state(
        self, client_order_id: str, state: BrokerOrderState, message: str, now_ms: int
    ) -> None:
        self.book.record_state(client_order_id, state, message, now_ms)

    async def open_broker_orders(self) -> list[BrokerOrderRecord]:
        return self.book.open_orders()

    async def broker_order(self, client_order_id: str) -> BrokerOrderRecord | None:
        return self.book.order(client_order_id)

    async def ledger_snapshot(self) -> LedgerSnapshot:
        return self.book.snapshot()

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]:
        return self.book.fills_of(symbol, limit)

    async def skipped_counts(self) -> dict[str, int]:
        return dict(Counter(log.reason.value for log in self.skipped.values()))

    async def trades(self) -> list[Trade]:
        return self.book.trades()

    async def trades_after(self, cursor: TradeCursor) -> TradesRead:
        return self.book.trades_after(cursor)

    async def pnl_entries(self) -> list[PnlEntry]:
        return list(self.entries)

    async def replace_pnl_from(self, ts_ms: int, entries: Sequence[PnlEntry]) -> None:
        self.entries = [e for e in self.entries if e.ts_ms < ts_ms] + list(entries)


@dataclass(slots=True)
class _Block:
    ref: BlockRef
    events: list[RaindexEvent] = field(default_factory=list)
    undecodable: list[UndecodableLog] = field(default_factory=list)


class FakeChain:
    """The ChainSource port over blocks in memory. `depth` sets the cutoff (head - depth);
    `reorg` replaces blocks from a height on; failures are queued per method."""

    def __init__(self, tokens: Mapping[str, TokenInfo], *, depth: int = 0) -> None:
        self.tokens = dict(tokens)
        self.ratios: dict[str, Decimal] = {}  # wrapper -> underlying shares per token
        self.unreadable: set[str] = set()  # tokens whose reads fail (not contracts)
        self.depth = depth
        self.blocks: list[_Block] = []
        self.fork = 0  # bumped by each reorg: new hashes
        self.reads: list[tuple[int, int]] = []
        self.hash_requests: list[list[int]] = []
        self.failures: dict[str, list[Exception | None]] = {}
        self.mine(1)  # block 0

    @property
    def head(self) -> int:
        return len(self.blocks) - 1

    def fail(self, method: str, *errors: Exception | None) -> None:
        """The next calls of `method` raise these, in turn (None: that call answers)."""
        self.failures.setdefault(method, []).extend(errors)

    def _maybe_fail(self, method: str) -> None:
        queued = self.failures.get(method)
        if queued:
            error = queued.pop(0)
            if error is not None:
                raise error

    def mine(self, count: int = 1, *events: RaindexEvent) -> list[int]:
        """Mines `count` empty blocks, the events (built with `next_ref`) in the first."""
        numbers = []
        for i in range(count):
            number = len(self.blocks)
            self.blocks.append(_Block(self._ref(number), list(events) if i == 0 else []))
            numbers.append(number)
        return numbers

    def next_ref(self, log_index: int = 0, tx: str = "") -> LogRef:
        """The log reference of an event in the next block to be mined."""
        ref = self._ref(len(self.blocks))
        tx_hash = tx or f"0x{len(self.blocks):060x}{self.fork:02x}{log_index:02x}"
        return LogRef(ref.number, ref.hash, tx_hash, log_index, ref.timestamp_s)

    def undecodable(self, reason: str) -> None:
        """An undecodable log in the last block."""
        block = self.blocks[-1]
        index = 90 + len(block.undecodable)
        ref = LogRef(block.ref.number, block.ref.hash, f"0x{block.ref.number:064x}", index, 0)
        block.undecodable.append(UndecodableLog(ref, reason))

    def reorg(self, from_block: int) -> None:
        """Every block from `from_block` on is replaced by an empty one of new hash."""
        self.fork += 1
        for number in range(from_block, len(self.blocks)):
            self.blocks[number] = _Block(self._ref(number))

    def _ref(self, number: int) -> BlockRef:
        return BlockRef(
            number, f"0x{number:060x}{self.fork:04x}", GENESIS_S + number * BLOCK_SECONDS
        )

    async def cutoff(self) -> BlockRef:
        self._maybe_fail("cutoff")
        return self.blocks[max(self.head - self.depth, 0)].ref

    async def read_range(
        self, from_block: int, to_block: int, *, keep_from_block: int | None = None
    ) -> RangeRead:
        self._maybe_fail("read_range")
        if to_block > self.head:
            raise ChainIncomplete(f"the node's head {self.head} is behind {to_block}")
        self.reads.append((from_block, to_block))
        blocks = self.blocks[from_block : to_block + 1]
        keep_from = to_block - 7 if keep_from_block is None else keep_from_block
        last = [b for b in blocks if b.ref.number >= keep_from]
        return RangeRead(
            from_block,
            to_block,
            tuple(e for b in blocks for e in b.events),
            tuple(u for b in blocks for u in b.undecodable),
            {b.ref.number: b.ref.hash for b in last},
            blocks[-1].ref.timestamp_s,
        )

    async def block_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        self._maybe_fail("block_hashes")
        self.hash_requests.append(list(numbers))
        return {n: self.blocks[n].ref.hash for n in numbers if 0 <= n <= self.head}

    async def token(self, address: str) -> TokenInfo:
        self._maybe_fail("token")
        if address in self.unreadable or address not in self.tokens:
            raise ChainCallReverted(f"{address} is not a contract")
        return self.tokens[address]

    async def shares_per_token(self, wrapper: str, block_number: int) -> Decimal:
        self._maybe_fail("shares_per_token")
        if wrapper in self.unreadable or wrapper not in self.ratios:
            raise ChainCallReverted(f"convertToAssets reverted on {wrapper}")
        return self.ratios[wrapper]


def take_order(
    ref: LogRef,
    stock: str,
    *,
    maker_sold: bool,
    shares: Decimal,
    usdc: Decimal,
    owner: str = OWNER,
    usdc_token: str = USDC,
) -> TakeOrderEvent:
    """A V4 TakeOrderV2 of the maker's order, amounts as emitted (the taker's side)."""
    stock_raw = int(shares * 10**18)
    usdc_raw = int(usdc * 10**6)
    stock_io, usdc_io = Io(stock, 18), Io(usdc_token, 6)
    if maker_sold:  # the order takes USDC in and gives stock: the taker received the stock
        order = RaindexOrder(owner, (usdc_io,), (stock_io,))
        taker_input, taker_output = stock_raw, usdc_raw
    else:
        order = RaindexOrder(owner, (stock_io,), (usdc_io,))
        taker_input, taker_output = usdc_raw, stock_raw
    return TakeOrderEvent(ref, Generation.V4, order, 0, 0, taker_input, taker_output)
