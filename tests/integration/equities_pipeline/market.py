"""The chain side of the pipeline tests: USDC, stock tokens and ERC-4626 wrappers deployed beside
the orderbook stand-in on anvil, and takers filling the maker's orders with the events of both
generations (specs/equities.md, "Raindex events"), amounts given as exact decimals.

Each new block is one second after the one before (anvil_setBlockTimestampInterval), so that
block times order the fills the way the tests emit them, whatever the wall clock does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pegkeeper.adapters.chain.stand_in import (
    RaindexWorld,
    Sent,
    clear_config,
    clear_config_v2,
    float_word,
    order_v3,
    order_v4,
    take_config_v3,
    take_config_v4,
)
from pegkeeper.domain.equities.assets import EquityAsset, EquityUniverse
from pegkeeper.domain.equities.chain import fill_id_of

SHARE_DECIMALS = 18
USDC_DECIMALS = 6


class Via(StrEnum):
    """Which event carries a fill."""

    TAKE_V4 = "TakeOrderV2"
    CLEAR_V4 = "ClearV2 + AfterClear"
    TAKE_V5 = "TakeOrderV3"
    CLEAR_V5 = "ClearV3 + AfterClearV2"


def fill_id(sent: Sent) -> str:
    """The fill's id: its transaction and the first log (the Clear's, for a clear)."""
    return fill_id_of(sent.tx_hash, sent.log_indexes[0])


def decimal_word(amount: Decimal) -> bytes:
    """`amount` as a rain.math.float word, exactly: its digits the coefficient."""
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{amount} is not a finite amount")
    coefficient = int("".join(map(str, digits)) or "0")
    return float_word(-coefficient if sign else coefficient, exponent)


def units(amount: Decimal, decimals: int) -> int:
    """`amount` in the token's smallest unit; it must fit exactly."""
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a fill: a token and an amount of it in whole tokens."""

    token: str
    amount: Decimal
    decimals: int

    @property
    def io(self) -> tuple[str, int]:
        """A V4 IO's token and decimals."""
        return (self.token, self.decimals)

    @property
    def units(self) -> int:
        """The amount as a V4 integer."""
        return units(self.amount, self.decimals)


@dataclass
class Market:
    world: RaindexWorld
    usdc: str  # checksummed, as web3 sends addresses
    tokens: dict[str, str]  # symbol -> the plain stock token
    wrappers: dict[str, str] = field(default_factory=dict)  # symbol -> its ERC-4626 wrapper
    deployment_block: int = 0  # the first block ingestion reads

    @classmethod
    async def open(
        cls, world: RaindexWorld, symbols: tuple[str, ...], *, wrapped: tuple[str, ...] = ()
    ) -> Market:
        """USDC and a token `t{symbol}` per symbol (and a wrapper `wt{symbol}` for those in
        `wrapped`), deployed after the orderbook; ingestion reads from the next block."""
        await world.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
        usdc = await world.token("USDC", USDC_DECIMALS)
        market = cls(world, usdc.address, {})
        for symbol in symbols:
            token = await world.token(f"t{symbol}", SHARE_DECIMALS)
            market.tokens[symbol] = token.address
            if symbol in wrapped:
                wrapper = await world.deploy(
                    "TestWrapper", token.address, f"Wrapped t{symbol}", f"wt{symbol}"
                )
                market.wrappers[symbol] = wrapper.address
        market.deployment_block = await world.head() + 1
        return market

    def universe(self) -> EquityUniverse:
        assets = tuple(
            EquityAsset(
                symbol,
                (token.lower(),),
                (self.wrappers[symbol].lower(),) if symbol in self.wrappers else (),
            )
            for symbol, token in self.tokens.items()
        )
        return EquityUniverse.of(self.world.owner, self.usdc, assets)

    def stock(self, symbol: str, *, wrapped: bool = False) -> str:
        return self.wrappers[symbol] if wrapped else self.tokens[symbol]

    async def set_assets_per_share(self, symbol: str, ratio: Decimal) -> Sent:
        """The wrapper's underlying shares per wrapped token from the next block on."""
        wrapper = self.world.attach("TestWrapper", self.wrappers[symbol])
        return await self.world.send(wrapper.functions.setAssetsPerShare(units(ratio, 18)))

    # fills of the maker's orders

    async def sell(self, symbol: str, shares: str, usdc: str, **how: Any) -> Sent:
        """The maker sells `shares` of `symbol` for `usdc` onchain (the broker hedge buys)."""
        stock = self.stock(symbol, wrapped=how.pop("wrapped", False))
        return await self.fill(stock, True, shares, usdc, **how)

    async def buy(self, symbol: str, shares: str, usdc: str, **how: Any) -> Sent:
        """The maker buys `shares` of `symbol` for `usdc` onchain (the broker hedge sells)."""
        stock = self.stock(symbol, wrapped=how.pop("wrapped", False))
        return await self.fill(stock, False, shares, usdc, **how)

    async def fill(
        self,
        stock: str,
        maker_sells: bool,
        shares: str,
        usdc: str,
        *,
        via: Via = Via.TAKE_V5,
        maker_is_bob: bool = False,
    ) -> Sent:
        """One fill of the maker's order trading `stock` against USDC, carried by `via`
        (a clear's maker is alice unless `maker_is_bob`)."""
        stock_leg = Leg(stock, Decimal(shares), SHARE_DECIMALS)
        usdc_leg = Leg(self.usdc, Decimal(usdc), USDC_DECIMALS)
        # what the maker's order receives (its input) and gives (its output)
        received, gave = (usdc_leg, stock_leg) if maker_sells else (stock_leg, usdc_leg)
        if via is Via.TAKE_V5:
            return await self.take_words(
                received.token, gave.token, decimal_word(gave.amount), decimal_word(received.amount)
            )
        if via is Via.TAKE_V4:
            order = order_v3(self.world.owner, [received.io], [gave.io])
            # the taker receives the order's output and gives its input
            call = self.world.orderbook.functions.takeOrderV2(
                take_config_v3(order, 0, 0), gave.units, received.units
            )
            return await self.world.send(call)
        return await self._clear(via is Via.CLEAR_V4, received, gave, maker_is_bob)

    async def take_words(
        self, received: str, gave: str, taker_input: bytes, taker_output: bytes
    ) -> Sent:
        """A TakeOrderV3 of the maker's order (input `received`, output `gave`) with the Float
        words as emitted: from the taker's side, `taker_input` is what the order gave."""
        name, args = self.take_v5_call(received, gave, taker_input, taker_output)
        return await self.world.send(self.world.orderbook.functions[name](*args))

    def take_v5_call(
        self, received: str, gave: str, taker_input: bytes, taker_output: bytes
    ) -> tuple[str, list[Any]]:
        """The orderbook call of `take_words`, for a multicall."""
        order = order_v4(self.world.owner, [received], [gave])
        return "takeOrderV3", [take_config_v4(order, 0, 0), taker_input, taker_output]

    def take_v5_fill(
        self, symbol: str, maker_sells: bool, shares: Decimal, usdc: Decimal
    ) -> tuple[str, list[Any]]:
        """The orderbook call of a TakeOrderV3 fill of `symbol`, for a multicall."""
        stock = self.stock(symbol)
        if maker_sells:
            return self.take_v5_call(self.usdc, stock, decimal_word(shares), decimal_word(usdc))
        return self.take_v5_call(stock, self.usdc, decimal_word(usdc), decimal_word(shares))

    async def _clear(self, v4: bool, received: Leg, gave: Leg, maker_is_bob: bool) -> Sent:
        """A clear of the maker's order against a taker's order that trades the other way."""
        if not v4:
            gives, takes = decimal_word(gave.amount), decimal_word(received.amount)
            return await self.clear_words(received.token, gave.token, gives, takes, maker_is_bob)
        world = self.world
        maker = order_v3(world.owner, [received.io], [gave.io])
        other = order_v3(world.taker, [gave.io], [received.io])
        alice, bob = (other, maker) if maker_is_bob else (maker, other)
        change = _state_change(gave.units, received.units, maker_is_bob)
        return await world.send(
            world.orderbook.functions.clearV2(alice, bob, clear_config(), change)
        )

    async def clear_words(
        self, received: str, gave: str, gives: bytes, takes: bytes, maker_is_bob: bool = False
    ) -> Sent:
        """A ClearV3 of the maker's order (input `received`, output `gave`) whose AfterClearV2
        carries the Float words as given: the maker `gives` and `takes`."""
        world = self.world
        maker = order_v4(world.owner, [received], [gave])
        other = order_v4(world.taker, [gave], [received])
        alice, bob = (other, maker) if maker_is_bob else (maker, other)
        change = _state_change(gives, takes, maker_is_bob)
        return await world.send(
            world.orderbook.functions.clearV3(alice, bob, clear_config_v2(), change)
        )

    async def mine(self, blocks: int) -> None:
        await self.world.mine(blocks)

    async def head(self) -> int:
        return await self.world.head()


def _state_change(gives: Any, takes: Any, maker_is_bob: bool) -> tuple[Any, Any, Any, Any]:
    """ClearStateChange(V2): aliceOutput, bobOutput, aliceInput, bobInput, the other order
    taking what the maker gives and giving what it takes."""
    return (takes, gives, gives, takes) if maker_is_bob else (gives, takes, takes, gives)
