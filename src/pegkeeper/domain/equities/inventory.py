"""The maker's inventory of each asset on both sides (specs/equities.md, "Rebalancing"): stock
and USDC in the Raindex vault, shares and USD cash at the broker, and what is on its way
between them.

Each reading is stamped before it is taken: an onchain reading with the block it is pinned to,
a broker reading with the clock's milliseconds taken just before the request. A change (a fill,
a move's amount leaving or landing) then counts on top of a reading only when it is newer than
the reading's stamp, so that a fill is counted once however the reads and the fills interleave:

- onchain: a change at block b counts when b > the pinned block (the reading at block N holds
  exactly the changes of blocks <= N);
- broker: a change at t ms counts when t > the stamp. A change inside the request's window
  (stamp < t <= answered) may or may not be in the answer: the asset's broker reading is then
  ambiguous, and the view says so instead of guessing (read it again).

The cash asset is "USD": USDC onchain (1 USDC counted as 1 USD) and cash at the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from pegkeeper.domain.equities.broker import BrokerFill
from pegkeeper.domain.equities.chain import OnchainFill, OnchainSide
from pegkeeper.domain.equities.pnl import Trade
from pegkeeper.domain.equities.raindex import SHARE_DECIMALS, truncate_to
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

CASH_ASSET = "USD"
ZERO = Decimal(0)


class Side(StrEnum):
    ONCHAIN = "onchain"
    BROKER = "broker"


class Direction(StrEnum):
    """Where a move takes an asset."""

    TO_CHAIN = "to_chain"  # a mint, or cash to the chain
    TO_BROKER = "to_broker"  # a redeem, or cash home

    @property
    def source(self) -> Side:
        return Side.BROKER if self is Direction.TO_CHAIN else Side.ONCHAIN


@dataclass(frozen=True, slots=True)
class VaultHolding:
    """One token of an asset in the vault at the pinned block: `amount_tokens` whole tokens,
    each worth `shares_per_token` underlying shares (1 for the plain stock token; the
    wrapper's ratio at the pinned block for an ERC-4626 wrapper)."""

    token: str
    amount_tokens: Decimal
    shares_per_token: Decimal = Decimal(1)


def onchain_shares(holdings: Iterable[VaultHolding]) -> Decimal:
    """The underlying shares of an asset's vault holdings, each converted and truncated to
    18 dp (the stock token's precision) as fills are: never more than the vault holds."""
    total = ZERO
    for holding in holdings:
        if holding.amount_tokens < 0 or holding.shares_per_token <= 0:
            raise InvalidInput(
                f"vault holding of {holding.token}: {holding.amount_tokens} tokens at "
                f"{holding.shares_per_token} shares each; expected tokens >= 0, ratio > 0"
            )
        total += truncate_to(holding.amount_tokens * holding.shares_per_token, SHARE_DECIMALS)
    return total


@dataclass(frozen=True, slots=True)
class OnchainReading:
    asset: str  # a stock symbol, or CASH_ASSET (USDC)
    amount: Decimal  # shares (`onchain_shares`) or USDC
    block_number: int  # the block every balance was read at


@dataclass(frozen=True, slots=True)
class BrokerReading:
    asset: str  # a stock symbol (position shares), or CASH_ASSET (cash USD)
    amount: Decimal
    stamp_ms: int  # taken before the request was sent
    answered_ms: int  # taken when the answer arrived


@dataclass(frozen=True, slots=True)
class InventoryChange:
    """A change of one asset on one side after some reading: `at` is a block number
    (onchain) or a broker timestamp in ms (broker)."""

    asset: str
    side: Side
    delta: Decimal  # signed: positive adds to the side
    at: int
    source: str  # what made it, for messages: "onchain fill 0x..:3", "broker fill e1"


def onchain_fill_changes(fill: OnchainFill) -> tuple[InventoryChange, InventoryChange]:
    """The vault's stock and USDC changes of a Raindex fill: the maker bought stock (stock in,
    USDC out) or sold it (stock out, USDC in)."""
    sign = 1 if fill.side is OnchainSide.BOUGHT else -1
    block, source = fill.ref.block_number, f"onchain fill {fill.fill_id}"
    return (
        InventoryChange(fill.symbol, Side.ONCHAIN, sign * fill.shares, block, source),
        InventoryChange(CASH_ASSET, Side.ONCHAIN, -sign * fill.usdc, block, source),
    )


def broker_fill_changes(
    symbol: str, side: OrderSide, fill: BrokerFill
) -> tuple[InventoryChange, InventoryChange]:
    """The broker's share and cash changes of a hedge fill: a buy adds shares and spends
    quantity x price plus the fee; a sell removes shares and receives quantity x price less
    the fee. Exact, unrounded: the broker's cash reading carries the same amounts."""
    sign = 1 if side is OrderSide.BUY else -1
    cash_usd = -sign * fill.quantity * fill.price_usd - fill.fee_usd
    source = f"broker fill {fill.fill_id}"
    return (
        InventoryChange(symbol, Side.BROKER, sign * fill.quantity, fill.ts_ms, source),
        InventoryChange(CASH_ASSET, Side.BROKER, cash_usd, fill.ts_ms, source),
    )


def broker_trade_changes(trade: Trade) -> tuple[InventoryChange, InventoryChange]:
    """A broker fill as the P&L's trade records it (signed quantity, price, fee): the same
    changes as `broker_fill_changes`."""
    cash_usd = -trade.signed_quantity * trade.price_usd - trade.fee_usd
    source = f"broker fill {trade.trade_id}"
    return (
        InventoryChange(trade.symbol, Side.BROKER, trade.signed_quantity, trade.ts_ms, source),
        InventoryChange(CASH_ASSET, Side.BROKER, cash_usd, trade.ts_ms, source),
    )


@dataclass(frozen=True, slots=True)
class MoveLeg:
    """A move's amount as it leaves its source side and lands on the other: stamped like a
    change (block on the chain, broker ms at the broker) once it has happened."""

    move_id: str
    asset: str
    direction: Direction
    amount_left: Decimal  # what left the source
    left_at: int | None  # None: nothing has left yet
    amount_arrived: Decimal | None = None  # what landed, after fees; None: not yet
    arrived_at: int | None = None

    def changes(self) -> tuple[InventoryChange, ...]:
        source, target = self.direction.source, _other(self.direction.source)
        out: list[InventoryChange] = []
        if self.left_at is not None:
            what = f"move {self.move_id} left"
            out.append(InventoryChange(self.asset, source, -self.amount_left, self.left_at, what))
        if self.arrived_at is not None and self.amount_arrived is not None:
            what = f"move {self.move_id} arrived"
            out.append(
                InventoryChange(self.asset, target, self.amount_arrived, self.arrived_at, what)
            )
        return tuple(out)

    @property
    def in_flight(self) -> Decimal:
        """Left and not landed yet: on neither side's reading."""
        if self.left_at is None or self.arrived_at is not None:
            return ZERO
        return self.amount_left


def _other(side: Side) -> Side:
    return Side.BROKER if side is Side.ONCHAIN else Side.ONCHAIN


@dataclass(frozen=True, slots=True)
class AssetInventory:
    asset: str
    onchain: Decimal  # the reading plus the changes newer than its block
    broker: Decimal  # the reading plus the changes newer than its stamp
    in_flight_to_chain: Decimal
    in_flight_to_broker: Decimal
    block_number: int
    broker_stamp_ms: int
    ambiguous: str = ""  # why the broker reading cannot be used ("" when it can)

    @property
    def total(self) -> Decimal:
        return self.onchain + self.broker + self.in_flight_to_chain + self.in_flight_to_broker

    @property
    def onchain_share(self) -> Decimal | None:
        """onchain / total, what is in flight counted where it goes; None with nothing."""
        total = self.total
        if total <= 0:
            return None
        return (self.onchain + self.in_flight_to_chain) / total

    @property
    def has_move_in_flight(self) -> bool:
        return self.in_flight_to_chain != 0 or self.in_flight_to_broker != 0


@dataclass(frozen=True, slots=True)
class InventoryView:
    assets: dict[str, AssetInventory] = field(default_factory=dict)
    # the part of the broker's cash reading held as USDC: a conversion to the chain spends
    # only the rest, its dollars
    broker_usdc: Decimal = ZERO

    def __getitem__(self, asset: str) -> AssetInventory:
        return self.assets[asset]


def inventory_view(
    onchain: Sequence[OnchainReading],
    broker: Sequence[BrokerReading],
    changes: Iterable[InventoryChange] = (),
    legs: Iterable[MoveLeg] = (),
) -> InventoryView:
    """Every asset read on both sides, with the changes newer than its readings applied once
    and the moves' amounts in flight. Raises InvalidInput when an asset is read on one side
    only, twice on one side, or a change names an asset not read."""
    on_by_asset = _by_asset("onchain", onchain)
    broker_by_asset = _by_asset("broker", broker)
    if set(on_by_asset) != set(broker_by_asset):
        only = sorted(set(on_by_asset) ^ set(broker_by_asset))
        raise InvalidInput(f"assets read on one side only: {', '.join(only)}; read both sides")
    legs = tuple(legs)
    every_change = [*changes, *(c for leg in legs for c in leg.changes())]
    result: dict[str, AssetInventory] = {}
    for asset, on in on_by_asset.items():
        result[asset] = _asset_inventory(on, broker_by_asset[asset], every_change, legs)
    unknown = sorted({c.asset for c in every_change} - set(result))
    if unknown:
        raise InvalidInput(f"changes of assets not read: {', '.join(unknown)}")
    return InventoryView(result)


def _asset_inventory(
    on: OnchainReading,
    broker: BrokerReading,
    changes: Sequence[InventoryChange],
    legs: Sequence[MoveLeg],
) -> AssetInventory:
    onchain, at_broker, ambiguous = on.amount, broker.amount, []
    for change in changes:
        if change.asset != on.asset:
            continue
        if change.side is Side.ONCHAIN:
            if change.at > on.block_number:
                onchain += change.delta
        elif change.at > broker.answered_ms:
            at_broker += change.delta
        elif change.at > broker.stamp_ms:
            ambiguous.append(change.source)
    mine = [leg for leg in legs if leg.asset == on.asset]
    return AssetInventory(
        asset=on.asset,
        onchain=onchain,
        broker=at_broker,
        in_flight_to_chain=sum(
            (g.in_flight for g in mine if g.direction is Direction.TO_CHAIN), ZERO
        ),
        in_flight_to_broker=sum(
            (g.in_flight for g in mine if g.direction is Direction.TO_BROKER), ZERO
        ),
        block_number=on.block_number,
        broker_stamp_ms=broker.stamp_ms,
        ambiguous=_ambiguity(broker, ambiguous),
    )


def _ambiguity(broker: BrokerReading, sources: Sequence[str]) -> str:
    if not sources:
        return ""
    return (
        f"{', '.join(sources)} happened while the broker's {broker.asset} reading was taken "
        f"({broker.stamp_ms} to {broker.answered_ms} ms): read it again"
    )


_R = TypeVar("_R", OnchainReading, BrokerReading)


def _by_asset(side: str, readings: Sequence[_R]) -> dict[str, _R]:
    found: dict[str, _R] = {}
    for reading in readings:
        if reading.asset in found:
            raise InvalidInput(f"{reading.asset} is read twice on the {side} side; pass one")
        if isinstance(reading, BrokerReading) and reading.answered_ms < reading.stamp_ms:
            raise InvalidInput(
                f"broker reading of {reading.asset}: answered at {reading.answered_ms} ms, "
                f"before its stamp {reading.stamp_ms} ms; stamp before the request"
            )
        found[reading.asset] = reading
    return found
