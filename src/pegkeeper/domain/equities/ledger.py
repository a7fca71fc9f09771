"""The fill-to-hedge ledger's records: which broker fill covered which onchain fill, share by
share, and what each symbol still has open.

Signs: a quantity is the maker's stock position change, onchain (bought positive) and at the
broker (bought positive). A broker fill covers onchain fills of the opposite sign, oldest first
(block, log index); an onchain fill arriving while a broker fill has an uncovered remainder of
the opposite sign (an over-fill, or a hedge whose onchain fill was reverted by a reorg) is
covered by that remainder at once. So per symbol, always:

    open exposure = sum(onchain signed - covered) + sum(broker signed - covered)

and with no broker remainder, onchain shares - allocated shares = the open exposure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderState


@dataclass(frozen=True, slots=True)
class Allocation:
    """`shares` (> 0) of one broker fill covering one onchain fill."""

    client_order_id: str
    broker_fill_id: str
    onchain_fill_id: str
    shares: Decimal


@dataclass(frozen=True, slots=True)
class OpenPiece:
    """What of one fill (onchain or broker) is not covered yet: `remaining` > 0 shares, in the
    direction `sign` (+1 bought, -1 sold), at chain or time order `position`."""

    piece_id: str  # an onchain fill id, or "client_order_id/broker_fill_id"
    sign: int
    remaining: Decimal
    position: tuple[int, int]


@dataclass(frozen=True, slots=True)
class BrokerOrderRecord:
    intent: BrokerOrderIntent
    state: BrokerOrderState
    filled_quantity: Decimal
    broker_order_id: str = ""
    message: str = ""
    updated_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    """One symbol's books: the maker's net onchain, what its broker fills hold, the order in
    flight, and the open exposure the hedger works on."""

    symbol: str
    onchain_net: Decimal  # sum of live onchain fills' signed shares
    broker_net: Decimal  # sum of broker fills' signed quantities
    in_flight: BrokerOrderRecord | None
    oldest_open_ms: int | None  # block time of the oldest open fill on the exposed side
    last_price_usd: Decimal | None  # the last onchain fill's price

    @property
    def exposure(self) -> Decimal:
        """Shares to hedge: positive means the maker is long (the hedge sells)."""
        return self.onchain_net + self.broker_net


@dataclass(frozen=True, slots=True)
class RevertedFill:
    """An onchain fill whose block a reorg replaced, and how much of it had been covered."""

    fill_id: str
    symbol: str
    signed_shares: Decimal
    covered_shares: Decimal


@dataclass(frozen=True, slots=True)
class BrokerFillRecord:
    client_order_id: str
    fill_id: str
    symbol: str
    signed_quantity: Decimal  # bought positive
    price_usd: Decimal
    fee_usd: Decimal
    ts_ms: int

    @property
    def piece_id(self) -> str:
        return f"{self.client_order_id}/{self.fill_id}"


@dataclass(frozen=True, slots=True)
class OnchainFillRecord:
    """A stored onchain fill: `reverted` once a reorg replaced its block."""

    fill_id: str
    symbol: str
    signed_shares: Decimal
    usdc: Decimal
    block_number: int
    log_index: int
    block_timestamp_s: int
    tx_hash: str
    reverted: bool = False

    @property
    def price_usd(self) -> Decimal:
        return self.usdc / abs(self.signed_shares)


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """Everything the ledger's invariants are checked on, read in one transaction."""

    onchain_fills: tuple[OnchainFillRecord, ...]
    broker_orders: tuple[BrokerOrderRecord, ...]
    broker_fills: tuple[BrokerFillRecord, ...]
    allocations: tuple[Allocation, ...]


@dataclass(frozen=True, slots=True)
class FillCover:
    """An onchain fill with the broker fills that covered it (for the fills trail)."""

    fill: OnchainFillRecord
    covers: tuple[tuple[Allocation, BrokerFillRecord], ...]
