"""When to move inventory, and how much (specs/equities.md, "Rebalancing").

The onchain share of an asset is onchain / (onchain + at the broker). Outside its band
(target +- deviation) a proposal brings it back **to the target**. A hedge that preflight
blocked for lack of inventory at the broker (a sell without the shares, a buy without the
cash) gets a proposal even inside the band: enough to unblock it, and at least up to the
target. Never while a move of the asset is in flight. Amounts: shares truncated to 9 dp (the
broker's precision), cash floored to whole cents; capped by the operational limit per move,
and cash to the chain by the dollars its conversion may spend under the broker's collar; a
cash move to the chain below the broker's minimum is not proposed, and says why.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal

from pegkeeper.domain.equities.accumulation import FRACTIONAL_DECIMALS, plain
from pegkeeper.domain.equities.inventory import CASH_ASSET, AssetInventory, Direction, InventoryView
from pegkeeper.domain.equities.moves import MoveKind
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.units import ONE_CENT_USD

# Alpaca's smallest USDC withdrawal from its wallet to an address (the cash-to-chain move's
# `withdrawn` step).
ALPACA_MIN_WITHDRAWAL_USD = Decimal(51)
# Alpaca's smallest USD -> chain transfer: the USD converted by a cash-to-chain move, which
# leaves at least the 51 USD withdrawal minimum after the conversion's collar and fees.
ALPACA_MIN_TO_CHAIN_TRANSFER_USD = Decimal(53)
# Alpaca holds a USDCUSD buy's notional plus its collar (about 2 %) out of the dollars at the
# broker and refuses the order when they do not cover it: a conversion of at most
# dollars / (1 + collar) goes through.
ALPACA_CONVERSION_COLLAR = Decimal("0.02")

_SHARE_STEP = Decimal(1).scaleb(-FRACTIONAL_DECIMALS)
_SHARE_SHOWN = Decimal("0.0001")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Band:
    target: Decimal  # the onchain share a move brings the asset back to
    deviation: Decimal  # how far the share may drift either way before a move

    def __post_init__(self) -> None:
        if not (0 < self.target < 1) or self.deviation < 0:
            raise InvalidInput(
                f"a band needs 0 < target < 1 and deviation >= 0, not target {self.target} "
                f"and deviation {self.deviation}"
            )
        if self.target - self.deviation < 0 or self.target + self.deviation > 1:
            raise InvalidInput(f"the band {self} reaches outside 0..1: lower the deviation")

    def contains(self, share: Decimal) -> bool:
        return self.target - self.deviation <= share <= self.target + self.deviation

    def __str__(self) -> str:
        return f"{plain(self.target)} +- {plain(self.deviation)}"


PRODUCTION_STOCK_BAND = Band(Decimal("0.5"), Decimal("0.05"))
PRODUCTION_CASH_BAND = Band(Decimal("0.6"), Decimal("0.05"))


@dataclass(frozen=True, slots=True)
class AssetPolicy:
    band: Band
    max_per_move: Decimal  # the operational limit: shares (a stock) or USD (cash) per move

    def __post_init__(self) -> None:
        if self.max_per_move <= 0:
            raise InvalidInput(f"the limit per move must be > 0, not {self.max_per_move}")


@dataclass(frozen=True, slots=True)
class BlockedHedge:
    """A hedge preflight refused for lack of `asset` at the broker."""

    asset: str  # the symbol for a sell, CASH_ASSET for a buy
    hedge: str  # in words: "sell 40 AAPL"
    needed: Decimal  # shares, or USD, the hedge needs at the broker


def blocked_sell(symbol: str, quantity: Decimal) -> BlockedHedge:
    return BlockedHedge(symbol, f"sell {plain(quantity)} {symbol}", quantity)


def blocked_buy(symbol: str, quantity: Decimal, cost_usd: Decimal) -> BlockedHedge:
    """A buy refused for cash: `cost_usd` as preflight estimated it."""
    return BlockedHedge(CASH_ASSET, f"buy {plain(quantity)} {symbol}", cost_usd)


@dataclass(frozen=True, slots=True)
class Proposal:
    asset: str
    direction: Direction
    amount: Decimal  # shares (9 dp) or USD (whole cents)
    reason: str  # in words, with the numbers
    unblocks: tuple[str, ...] = ()  # the blocked hedges it frees, in words

    @property
    def kind(self) -> MoveKind:
        return MoveKind.of(self.asset, self.direction)


@dataclass(frozen=True, slots=True)
class Assessment:
    """One asset's verdict: a proposal, or the reason there is none."""

    asset: str
    onchain_share: Decimal | None
    band: Band
    proposal: Proposal | None
    reason: str


def assess(
    view: InventoryView,
    policies: Mapping[str, AssetPolicy],
    blocked: Iterable[BlockedHedge] = (),
    moving: Collection[str] = (),
) -> list[Assessment]:
    """Every asset of `view`, by name. `moving`: the assets with a move active or stuck
    (also seen when the view has an amount in flight). Raises InvalidInput for an asset
    with no policy."""
    blocked_by_asset: dict[str, list[BlockedHedge]] = {}
    for hedge in blocked:
        blocked_by_asset.setdefault(hedge.asset, []).append(hedge)
    result = []
    for asset in sorted(view.assets):
        if asset not in policies:
            raise InvalidInput(f"no rebalancing policy (band, limit) for {asset}; configure one")
        inventory = view.assets[asset]
        found = blocked_by_asset.get(asset, [])
        dollars = inventory.broker - view.broker_usdc if asset == CASH_ASSET else None
        result.append(_assess(inventory, policies[asset], found, moving, dollars))
    return result


def _assess(
    inv: AssetInventory,
    policy: AssetPolicy,
    blocked: Sequence[BlockedHedge],
    moving: Collection[str],
    dollars: Decimal | None,
) -> Assessment:
    share, band = inv.onchain_share, policy.band

    def none(reason: str) -> Assessment:
        return Assessment(inv.asset, share, band, None, reason)

    if inv.asset in moving or inv.has_move_in_flight:
        return none(f"a move of {inv.asset} is in flight: no other until it ends")
    if inv.ambiguous:
        return none(inv.ambiguous)
    if share is None:
        return none(f"no {inv.asset} on either side")
    held = f"onchain {plain(inv.onchain)}, broker {plain(inv.broker)}{_unit(inv.asset)}"
    to_target = band.target * inv.total - inv.onchain  # > 0: to the chain
    shortfall = sum((h.needed for h in blocked), ZERO) - max(inv.broker, ZERO)
    if blocked and shortfall > 0:
        amount = min(max(shortfall, -to_target), max(inv.onchain, ZERO))
        hedges = tuple(h.hedge for h in blocked)
        why = (
            f"{'; '.join(hedges)} blocked: {plain(shortfall)}{_unit(inv.asset)} short at the "
            f"broker ({held}); move at least that, and up to the {plain(band.target)} target"
        )
        if amount < shortfall:
            why += f"; only {plain(amount)}{_unit(inv.asset)} onchain"
        return _sized(inv, policy, Direction.TO_BROKER, amount, why, hedges, dollars)
    if band.contains(share):
        return none(f"onchain share {_share(share)} is inside {band} ({held})")
    direction = Direction.TO_CHAIN if to_target > 0 else Direction.TO_BROKER
    why = (
        f"onchain share {_share(share)} is outside {band} ({held}): bring it to "
        f"{plain(band.target)}"
    )
    hedges = tuple(h.hedge for h in blocked) if direction is Direction.TO_BROKER else ()
    return _sized(inv, policy, direction, abs(to_target), why, hedges, dollars)


def _sized(
    inv: AssetInventory,
    policy: AssetPolicy,
    direction: Direction,
    amount: Decimal,
    why: str,
    unblocks: tuple[str, ...],
    dollars: Decimal | None,
) -> Assessment:
    """`dollars`: the cash asset's dollars at the broker (its reading without the USDC)."""
    kind = MoveKind.of(inv.asset, direction)
    capped = min(amount, policy.max_per_move)
    unit = _unit(inv.asset)
    if capped < amount:
        why += f"; capped at the {plain(policy.max_per_move)}{unit} limit per move"
    if kind is MoveKind.CASH_TO_CHAIN and dollars is not None:
        room = _round(inv.asset, max(dollars, ZERO) / (1 + ALPACA_CONVERSION_COLLAR))
        if room < capped:
            capped = room
            why += (
                f"; capped at {plain(room)} USD: the conversion holds its notional plus the "
                f"{plain(ALPACA_CONVERSION_COLLAR * 100)} % collar out of the broker's "
                f"{plain(dollars)} USD"
            )
    rounded = _round(inv.asset, capped)
    share, band = inv.onchain_share, policy.band
    if rounded <= 0:
        reason = f"{why}; {plain(capped)}{unit} rounds to nothing: no {kind.value} proposed"
        return Assessment(inv.asset, share, band, None, reason)
    minimum = minimum_of(kind)
    if rounded < minimum:
        reason = (
            f"{why}; {plain(rounded)} USD is below the broker's {plain(minimum)} USD minimum "
            f"for a {kind.value.replace('_', ' ')} move: none proposed"
        )
        return Assessment(inv.asset, share, band, None, reason)
    reason = f"{why}: {kind.value.replace('_', ' ')} {plain(rounded)}{unit}"
    proposal = Proposal(inv.asset, direction, rounded, reason, unblocks)
    return Assessment(inv.asset, share, band, proposal, reason)


def minimum_of(kind: MoveKind) -> Decimal:
    """The smallest amount the broker takes for a move of `kind` (0: no minimum)."""
    return ALPACA_MIN_TO_CHAIN_TRANSFER_USD if kind is MoveKind.CASH_TO_CHAIN else ZERO


def _round(asset: str, amount: Decimal) -> Decimal:
    if asset == CASH_ASSET:
        return amount.quantize(ONE_CENT_USD, rounding=ROUND_FLOOR)  # whole cents, down
    return amount.quantize(_SHARE_STEP, rounding=ROUND_DOWN)  # the broker's 9 dp, truncated


def _unit(asset: str) -> str:
    return " USD" if asset == CASH_ASSET else " shares"


def _share(share: Decimal) -> str:
    return plain(share.quantize(_SHARE_SHOWN, rounding=ROUND_DOWN))
