"""The ports of the tokenized-equity hedger: the chain it reads Raindex fills from, the broker
it hedges at, and the store of its fills, orders, allocations and P&L."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerKind,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
    BrokerPosition,
)
from pegkeeper.domain.equities.chain import (
    BlockRef,
    OnchainFill,
    RangeRead,
    SkippedLog,
    TokenInfo,
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
from pegkeeper.domain.equities.sessions import TradingDay


class ChainSource(Protocol):
    """A Raindex orderbook read through `eth_getLogs` polling (no subscriptions, no filters).
    Every method raises ChainError when the node did not answer."""

    async def cutoff(self) -> BlockRef:
        """The newest block ingestion may read: head minus the confirmation depth, or the
        node's `safe` / `finalized` block."""
        ...

    async def read_range(
        self, from_block: int, to_block: int, *, keep_from_block: int | None = None
    ) -> RangeRead:
        """Every orderbook log of the range, decoded and paired, read completely; raises
        ChainIncomplete when the node lags behind `to_block`, a page is short, or a Clear's
        AfterClear is missing from the logs and from the receipt. The block hashes returned
        are those of the range's blocks from `keep_from_block` on (None: the source's own
        window below the head), always with `to_block`'s."""
        ...

    async def block_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        """The canonical hash of each block now (a block the node no longer has is absent)."""
        ...

    async def token(self, address: str) -> TokenInfo:
        """decimals() and symbol() of a token; raises ChainCallReverted (a ChainError) when it
        is not a contract or decimals() fails (a failing symbol() gives an empty label)."""
        ...

    async def shares_per_token(self, wrapper: str, block_number: int) -> Decimal:
        """Underlying shares per whole wrapped token (ERC-4626 convertToAssets) at a block;
        ChainCallReverted when the wrapper does not answer asset(), decimals() or
        convertToAssets."""
        ...


class MarketCalendar(Protocol):
    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        """The days the exchange opens from `start` to `end` (local dates, both included),
        oldest first, with their sessions' bounds."""
        ...


class Broker(MarketCalendar, Protocol):
    """A brokerage that hedges equity exposure. Errors are sorted as for venues
    (domain.errors): OrderRejected had no effect, VenueUnavailable (RateLimited among them)
    was not processed, CredentialsRejected needs the operator, anything else is uncertain and
    the order is looked up (`order`) before anything new is sent. `trading_days` is the
    broker's own calendar."""

    name: str
    kind: BrokerKind

    async def account(self) -> BrokerAccount: ...

    async def positions(self) -> dict[str, BrokerPosition]:
        """Every position held, by symbol."""
        ...

    async def aclose(self) -> None: ...

    async def place_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport: ...

    async def order(self, intent: BrokerOrderIntent) -> BrokerOrderReport:
        """The order now: by its client id where the broker has them, else found among the
        account's recent orders by symbol, side, quantity and time. Raises NotFound."""
        ...

    async def cancel_order(self, intent: BrokerOrderIntent) -> BrokerOrderReport: ...


class EquityRepository(Protocol):
    # the chain
    async def checkpoint(self) -> BlockRef | None:
        """The last block read completely, or None before the first range."""
        ...

    async def kept_block_hashes(self) -> dict[int, str]:
        """The hashes of the processed blocks near the head, kept for reorg checks."""
        ...

    async def record_range(
        self,
        read_to: BlockRef,
        fills: Sequence[OnchainFill],
        skipped: Sequence[SkippedLog],
        block_hashes: Mapping[int, str],
        *,
        keep_from_block: int,
    ) -> list[OnchainFill]:
        """One transaction: stores the fills (one already stored is ignored) and the skipped
        logs, covers each new fill by open broker remainders of its symbol, keeps the block
        hashes from `keep_from_block` on (older ones are dropped), and moves the checkpoint to
        `read_to`. Returns the fills that were new."""
        ...

    async def revert_from(self, block_number: int, now_ms: int) -> list[RevertedFill]:
        """One transaction: the live fills at or above `block_number` are reverted and their
        allocations released, the kept hashes from there on dropped, and the checkpoint moved
        back to `block_number - 1`."""
        ...

    # positions and broker orders
    async def exposures(self) -> dict[str, SymbolExposure]: ...

    async def last_fill_price(self, symbol: str) -> Decimal | None:
        """The price of the symbol's newest live onchain fill (USDC per share), if any."""
        ...

    async def open_broker_order(self, intent: BrokerOrderIntent, reason: str) -> None:
        """Commits the order before any request; raises SlotTaken, writing nothing, while
        the symbol has an order not final."""
        ...

    async def record_broker_report(
        self, report: BrokerOrderReport, now_ms: int
    ) -> list[Allocation]:
        """One transaction: the order's new state, its fills not stored yet (by fill id), each
        new fill allocated to the onchain fills it covers oldest first, and the symbol's slot
        released when the state is final. Returns the new allocations."""
        ...

    async def record_broker_state(
        self, client_order_id: str, state: BrokerOrderState, message: str, now_ms: int
    ) -> None:
        """A new state without a broker report (uncertain, lost, refused)."""
        ...

    async def open_broker_orders(self) -> list[BrokerOrderRecord]: ...

    async def broker_order(self, client_order_id: str) -> BrokerOrderRecord | None: ...

    # the ledger's read side
    async def ledger_snapshot(self) -> LedgerSnapshot: ...

    async def fills_of(self, symbol: str, limit: int) -> list[FillCover]:
        """The symbol's onchain fills, newest first, each with the broker fills covering it."""
        ...

    async def skipped_counts(self) -> dict[str, int]:
        """Skipped logs by reason."""
        ...

    # P&L
    async def trades(self) -> list[Trade]:
        """Live onchain fills and broker fills, in time order (ties: onchain first, then by
        chain position or fill id)."""
        ...

    async def trades_after(self, cursor: TradeCursor) -> TradesRead:
        """The live trades recorded past `cursor` (all of them from `TradeCursor()`), and the
        cursor after them. Onchain fills are recorded by one writer, broker fills by another,
        so a place in the order of recording is never taken by a later commit."""
        ...

    async def pnl_entries(self) -> list[PnlEntry]: ...

    async def replace_pnl_from(self, ts_ms: int, entries: Sequence[PnlEntry]) -> None:
        """One transaction: the stored entries at or after `ts_ms` replaced by `entries`."""
        ...
