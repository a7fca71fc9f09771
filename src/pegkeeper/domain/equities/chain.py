"""Raindex events as the chain adapter decodes them, and what ingestion makes of them.

The adapter only decodes ABI words into these records (amounts left raw: V4 integers scaled by
the IO's decimals, V5/V6 Float words); the rules of `raindex.py` decide whether a record is a
hedgeable fill or a skipped log, and why. A fill's identity is (transaction hash, log index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Generation(StrEnum):
    V4 = "v4"  # ClearV2 + AfterClear, TakeOrderV2: integer amounts scaled by the IO's decimals
    V5 = "v5"  # ClearV3 + AfterClearV2, TakeOrderV3 (V5 and V6): Float amounts


@dataclass(frozen=True, slots=True)
class LogRef:
    block_number: int
    block_hash: str  # 0x-prefixed, lower case
    tx_hash: str  # 0x-prefixed, lower case
    log_index: int
    block_timestamp_s: int

    @property
    def fill_id(self) -> str:
        return fill_id_of(self.tx_hash, self.log_index)

    @property
    def position(self) -> tuple[int, int]:
        """The log's place on the chain: fills are taken oldest first in this order."""
        return (self.block_number, self.log_index)


def fill_id_of(tx_hash: str, log_index: int) -> str:
    return f"{tx_hash.lower()}:{log_index}"


@dataclass(frozen=True, slots=True)
class Io:
    token: str  # address, lower case
    decimals: int | None  # V4 carries it in the IO; V5/V6 do not (read from the token)


@dataclass(frozen=True, slots=True)
class RaindexOrder:
    owner: str  # address, lower case
    inputs: tuple[Io, ...]
    outputs: tuple[Io, ...]


@dataclass(frozen=True, slots=True)
class TakeOrderEvent:
    """TakeOrderV2 / TakeOrderV3. `taker_input` and `taker_output` are from the **taker's**
    side, as emitted: the order's input is `taker_output`, its output is `taker_input`.
    Amounts are raw: an integer (V4) or the Float word as an unsigned 256-bit integer (V5)."""

    ref: LogRef
    generation: Generation
    order: RaindexOrder
    input_io_index: int
    output_io_index: int
    taker_input: int
    taker_output: int


@dataclass(frozen=True, slots=True)
class ClearEvent:
    """ClearV2 / ClearV3 with the amounts of the first AfterClear(V2) after it in the same
    transaction (raw, as in TakeOrderEvent). `ref` is the Clear log's."""

    ref: LogRef
    generation: Generation
    alice: RaindexOrder
    bob: RaindexOrder
    alice_input_io_index: int
    alice_output_io_index: int
    bob_input_io_index: int
    bob_output_io_index: int
    alice_input: int
    alice_output: int
    bob_input: int
    bob_output: int


RaindexEvent = TakeOrderEvent | ClearEvent


@dataclass(frozen=True, slots=True)
class UndecodableLog:
    """A log of the orderbook that the adapter could not decode (recorded, never fatal)."""

    ref: LogRef
    reason: str


@dataclass(frozen=True, slots=True)
class BlockRef:
    number: int
    hash: str
    timestamp_s: int


@dataclass(frozen=True, slots=True)
class RangeRead:
    """Everything the orderbook logged in [from_block, to_block], read completely: events in
    chain order (Clears already paired with their AfterClear), the logs that did not decode,
    and the hashes of the blocks at the range's end that ingestion keeps for reorg checks."""

    from_block: int
    to_block: int
    events: tuple[RaindexEvent, ...]
    undecodable: tuple[UndecodableLog, ...] = ()
    block_hashes: dict[int, str] = field(default_factory=dict)
    to_block_timestamp_s: int = 0


@dataclass(frozen=True, slots=True)
class TokenInfo:
    address: str
    decimals: int
    label: str  # what symbol() answered ("" when it failed): a readable label, never identity


class SkipReason(StrEnum):
    UNDECODABLE = "undecodable"
    NOT_OUR_ORDER = "not_our_order"  # no side of it is the configured owner's
    UNKNOWN_TOKEN = "unknown_token"  # a token no configured asset names
    NOT_STOCK_USDC = "not_stock_usdc"  # e.g. a wrap pair tX/wtX, or USDC for USDC
    ZERO_SHARES = "zero_shares"
    NON_POSITIVE_PRICE = "non_positive_price"
    TOKEN_UNREADABLE = "token_unreadable"  # decimals() or convertToAssets failed


class OnchainSide(StrEnum):
    """What the maker did onchain."""

    BOUGHT = "bought"  # input stock, output USDC: the broker hedge sells
    SOLD = "sold"  # input USDC, output stock: the broker hedge buys


@dataclass(frozen=True, slots=True)
class OnchainFill:
    ref: LogRef
    generation: Generation
    symbol: str  # the broker symbol of the configured asset, e.g. "AAPL"
    side: OnchainSide
    shares: Decimal  # underlying shares (wrapped amounts converted), > 0, 18 dp truncated
    usdc: Decimal  # > 0, 6 dp floored
    token: str  # the stock token's address as traded (wrapper or plain)
    shares_per_token: Decimal = Decimal(1)  # the wrapper's ratio at the fill's block

    @property
    def fill_id(self) -> str:
        return self.ref.fill_id

    @property
    def price_usd(self) -> Decimal:
        """USDC per underlying share (exact quotient, for display and P&L)."""
        return self.usdc / self.shares

    @property
    def signed_shares(self) -> Decimal:
        """The maker's stock position change: bought positive."""
        return self.shares if self.side is OnchainSide.BOUGHT else -self.shares


@dataclass(frozen=True, slots=True)
class SkippedLog:
    ref: LogRef
    reason: SkipReason
    detail: str  # what exactly: the token address, the decode error, ...
