"""A synthetic order book around one price, and market orders walking it.

Level i (from 0) of the asks sits at price + half_spread + i * step, of the bids at
price - half_spread - i * step, each `level_size_contracts` deep. The book is rebuilt from the
price for every order: liquidity taken by one order is back for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.orders import OrderSide


@dataclass(frozen=True, slots=True)
class BookShape:
    half_spread_usd: Decimal = Decimal("0.5")
    level_step_usd: Decimal = Decimal("0.5")
    levels: int = 20
    level_size_contracts: Decimal = Decimal(500)

    def __post_init__(self) -> None:
        if self.half_spread_usd < 0:
            raise ValueError(f"half_spread_usd must not be negative, got {self.half_spread_usd}")
        if self.level_step_usd <= 0:
            raise ValueError(f"level_step_usd must be positive, got {self.level_step_usd}")
        if self.levels < 1:
            raise ValueError(f"levels must be at least 1, got {self.levels}")
        if self.level_size_contracts <= 0:
            raise ValueError(
                f"level_size_contracts must be positive, got {self.level_size_contracts}"
            )


@dataclass(frozen=True, slots=True)
class BookLevel:
    price_usd: Decimal
    size_contracts: Decimal


class InsufficientDepth(ValueError):
    """The order is larger than the whole side of the book."""


class SyntheticBook:
    __slots__ = ("mid_price_usd", "shape")

    def __init__(self, mid_price_usd: Decimal, shape: BookShape) -> None:
        if mid_price_usd <= 0:
            raise ValueError(f"price must be positive, got {mid_price_usd}")
        self.mid_price_usd = mid_price_usd
        self.shape = shape

    def asks(self) -> tuple[BookLevel, ...]:
        return tuple(self._levels(OrderSide.BUY))

    def bids(self) -> tuple[BookLevel, ...]:
        return tuple(self._levels(OrderSide.SELL))

    def walk(self, taker_side: OrderSide, size_contracts: Decimal) -> list[BookLevel]:
        """The levels a market order of `taker_side` takes, best first (buys take asks)."""
        remaining = size_contracts
        taken: list[BookLevel] = []
        for level in self._levels(taker_side):
            if remaining <= 0:
                break
            size = min(remaining, level.size_contracts)
            taken.append(BookLevel(level.price_usd, size))
            remaining -= size
        if remaining > 0:
            raise InsufficientDepth(
                f"{size_contracts} contracts exceed the book's depth of "
                f"{size_contracts - remaining} contracts"
            )
        return taken

    def walk_to(
        self, taker_side: OrderSide, size_contracts: Decimal, limit_price_usd: Decimal
    ) -> list[BookLevel]:
        """The levels a limit order takes at once: those at or better than its price, up to its
        size (buys take asks up to the limit, sells bids down to it); may be fewer than asked."""
        remaining = size_contracts
        taken: list[BookLevel] = []
        for level in self._levels(taker_side):
            better_or_equal = (
                level.price_usd <= limit_price_usd
                if taker_side is OrderSide.BUY
                else level.price_usd >= limit_price_usd
            )
            if remaining <= 0 or not better_or_equal:
                break
            size = min(remaining, level.size_contracts)
            taken.append(BookLevel(level.price_usd, size))
            remaining -= size
        return taken

    def best_price_usd(self, taker_side: OrderSide) -> Decimal | None:
        """The best price a taker on `taker_side` meets: the best ask for a buy."""
        levels = self._levels(taker_side)
        return levels[0].price_usd if levels else None

    def _levels(self, taker_side: OrderSide) -> list[BookLevel]:
        shape = self.shape
        if taker_side is OrderSide.BUY:
            best, step = self.mid_price_usd + shape.half_spread_usd, shape.level_step_usd
        else:
            best, step = self.mid_price_usd - shape.half_spread_usd, -shape.level_step_usd
        prices = (best + i * step for i in range(shape.levels))
        # Near zero the bid side runs out of positive prices; it is cut there.
        return [BookLevel(p, shape.level_size_contracts) for p in prices if p > 0]
