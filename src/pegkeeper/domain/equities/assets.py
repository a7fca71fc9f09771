"""The hedged assets as configured: each by its broker symbol and its token addresses, never
by what a token's symbol() says (a spoofed token may call itself wtAAPL)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EquityAsset:
    symbol: str  # the broker's ticker, e.g. "AAPL"
    tokens: tuple[str, ...]  # one token = one share (lower-case addresses)
    wrapped_tokens: tuple[str, ...] = ()  # ERC-4626 wrappers of one of `tokens`


@dataclass(frozen=True, slots=True)
class TokenRole:
    """What a configured address is: the stock of `symbol`, wrapped or not."""

    symbol: str
    wrapped: bool


@dataclass(frozen=True, slots=True)
class EquityUniverse:
    order_owner: str  # lower case
    usdc: str  # lower case
    assets: tuple[EquityAsset, ...]

    @classmethod
    def of(cls, order_owner: str, usdc: str, assets: tuple[EquityAsset, ...]) -> EquityUniverse:
        """Lower-cases every address and refuses (InvalidInput, naming the key) an asset
        named twice, an address used twice, or the USDC address used as a stock token."""
        raise NotImplementedError

    def role(self, address: str) -> TokenRole | None:
        """The configured role of a token address (any case), None when unknown."""
        raise NotImplementedError

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(a.symbol for a in self.assets)
