"""The hedged assets as configured: each by its broker symbol and its token addresses, never
by what a token's symbol() says (a spoofed token may call itself wtAAPL)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pegkeeper.domain.errors import InvalidInput

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,19}$")


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
    _roles: dict[str, TokenRole] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for asset in self.assets:
            for token in asset.tokens:
                self._roles[token.lower()] = TokenRole(asset.symbol, wrapped=False)
            for token in asset.wrapped_tokens:
                self._roles[token.lower()] = TokenRole(asset.symbol, wrapped=True)

    @classmethod
    def of(cls, order_owner: str, usdc: str, assets: tuple[EquityAsset, ...]) -> EquityUniverse:
        """Lower-cases every address and refuses (InvalidInput, naming the key) an asset
        named twice, an address used twice, or the USDC address used as a stock token."""
        owner = _address("order owner", order_owner)
        usdc_address = _address("USDC", usdc)
        seen_symbols: set[str] = set()
        used_by: dict[str, str] = {usdc_address: "USDC"}
        clean: list[EquityAsset] = []
        for asset in assets:
            if not _SYMBOL.match(asset.symbol):
                raise InvalidInput(
                    f"asset symbol {asset.symbol!r} must be the broker's ticker: 1 to 20 "
                    "upper-case letters, digits, '.', '/' or '-'"
                )
            if asset.symbol in seen_symbols:
                raise InvalidInput(f"asset {asset.symbol} is configured twice; name it once")
            seen_symbols.add(asset.symbol)
            if not asset.tokens and not asset.wrapped_tokens:
                raise InvalidInput(f"asset {asset.symbol} needs at least one token address")
            tokens = _asset_addresses(asset.symbol, "token", asset.tokens, used_by)
            wrapped = _asset_addresses(asset.symbol, "wrapped token", asset.wrapped_tokens, used_by)
            clean.append(EquityAsset(asset.symbol, tokens, wrapped))
        return cls(owner, usdc_address, tuple(clean))

    def role(self, address: str) -> TokenRole | None:
        """The configured role of a token address (any case), None when unknown."""
        return self._roles.get(address.lower())

    def is_usdc(self, address: str) -> bool:
        return address.lower() == self.usdc.lower()

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(a.symbol for a in self.assets)


def _address(key: str, value: str) -> str:
    if not _ADDRESS.match(value):
        raise InvalidInput(f"{key} address {value!r} must be 0x followed by 40 hexadecimal digits")
    return value.lower()


def _asset_addresses(
    symbol: str, kind: str, values: tuple[str, ...], used_by: dict[str, str]
) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        address = _address(f"{symbol} {kind}", value)
        if address in used_by:
            raise InvalidInput(
                f"{symbol} {kind} {address} is already configured as {used_by[address]}; "
                "each address may name one token only"
            )
        used_by[address] = f"{symbol} {kind}"
        out.append(address)
    return tuple(out)
