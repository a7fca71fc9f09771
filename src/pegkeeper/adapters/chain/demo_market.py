"""The embedded equities demo's chain: stock tokens, a wrapped one and USDC beside the stand-in
orderbook on a local node, and takers filling the maker's orders at prices that wander.

Takers trade both ways around each asset's price; most fills are Raindex V5/V6 TakeOrderV3
events (Float amounts), some V4 TakeOrderV2 (integer amounts), and now and then a wrap of a
stock token into its wrapper, which the hedger must record as skipped, not hedge.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import structlog
from web3 import Web3

from pegkeeper.adapters.chain.stand_in import (
    RaindexWorld,
    float_word,
    order_v3,
    order_v4,
    take_config_v3,
    take_config_v4,
)
from pegkeeper.domain.equities.raindex import SHARE_DECIMALS, USDC_DECIMALS
from pegkeeper.sim.raindex.artifacts import load_artifacts

log = structlog.get_logger("pegkeeper.equities.demo")

FLOAT_EXPONENT = -18  # the Float words carry 18 decimal places, as production's do
WAD = 10**18


@dataclass(frozen=True, slots=True)
class DemoAsset:
    symbol: str
    price_usd: Decimal  # where its price starts
    wrapped: bool = False  # traded through an ERC-4626 wrapper (wtX over tX)


DEMO_ASSETS = (
    DemoAsset("AAPL", Decimal("230"), wrapped=True),
    DemoAsset("MSFT", Decimal("480")),
    DemoAsset("NVDA", Decimal("180")),
)


@dataclass(frozen=True, slots=True)
class DeployedAsset:
    symbol: str
    token: str  # the plain stock token (one share)
    wrapper: str  # "" when the asset is not wrapped


@dataclass(frozen=True, slots=True)
class DemoDeployment:
    """What the equity hedger's settings need to read the demo chain."""

    orderbook: str
    deployment_block: int
    order_owner: str
    usdc: str
    assets: tuple[DeployedAsset, ...]


class DemoMarket:
    def __init__(self, url: str, *, seed: int = 7, mean_interval_seconds: float = 4.0) -> None:
        self._world = RaindexWorld(url, load_artifacts())
        self._random = random.Random(seed)
        self._mean_interval_seconds = mean_interval_seconds
        self._prices = {a.symbol: a.price_usd for a in DEMO_ASSETS}
        self._inventory = {a.symbol: Decimal(0) for a in DEMO_ASSETS}  # the maker's, onchain
        self._traded: dict[str, str] = {}  # symbol -> the token its orders trade
        self.fills_sent = 0

    async def open(self, saved_path: Path) -> DemoDeployment:
        """The deployment saved at `saved_path` when its contracts are on the chain (a
        restarted demo on the chain it kept), else a new one, saved there."""
        saved = _load(saved_path)
        if saved is not None and await self._world_has(saved):
            self._attach(saved)
            return saved
        deployment = await self.deploy()
        _save(saved_path, deployment)
        return deployment

    async def _world_has(self, deployment: DemoDeployment) -> bool:
        await self._world.start(orderbook=deployment.orderbook)
        return await self._world.has_code(deployment.orderbook) and await self._world.has_code(
            deployment.usdc
        )

    def _attach(self, deployment: DemoDeployment) -> None:
        self._usdc = Web3.to_checksum_address(deployment.usdc)
        for asset in deployment.assets:
            self._traded[asset.symbol] = Web3.to_checksum_address(asset.wrapper or asset.token)
        self._deployment = deployment

    async def deploy(self) -> DemoDeployment:
        world = self._world
        await world.start()
        usdc = await world.token("USDC", USDC_DECIMALS)
        assets = []
        for asset in DEMO_ASSETS:
            token = await world.token(f"t{asset.symbol}", SHARE_DECIMALS)
            wrapper, wrapped = "", token
            if asset.wrapped:
                wrapped = await world.deploy(
                    "TestWrapper", token.address, f"wt{asset.symbol}", f"wt{asset.symbol}"
                )
                wrapper = wrapped.address.lower()
            self._traded[asset.symbol] = wrapped.address if asset.wrapped else token.address
            assets.append(DeployedAsset(asset.symbol, token.address.lower(), wrapper))
        self._usdc = usdc.address  # checksummed, as web3 sends them
        deployment = DemoDeployment(
            orderbook=world.orderbook.address.lower(),
            deployment_block=await world.head(),
            order_owner=world.owner.lower(),
            usdc=usdc.address.lower(),
            assets=tuple(assets),
        )
        self._deployment = deployment
        return deployment

    async def close(self) -> None:
        await self._world.close()

    async def market_price(self, symbol: str) -> Decimal | None:
        """Where the stock trades now, without the maker's edge: what the demo's dry-run
        broker fills at, so that the demo's P&L shows the spread captured."""
        return self._prices.get(symbol)

    async def run(self) -> None:
        """Takers fill the maker's orders until cancelled; a failed send is logged, not fatal."""
        while True:
            await asyncio.sleep(self._random.expovariate(1 / self._mean_interval_seconds))
            try:
                await self.trade_once()
            except Exception as error:  # a demo's taker never stops the hedger's process
                log.warning("demo taker could not trade", error=str(error))

    async def trade_once(self) -> None:
        roll = self._random.random()
        asset = self._random.choice(DEMO_ASSETS)
        if roll < 0.04 and asset.wrapped:
            await self._wrap(asset)
            return
        maker_sells, shares, usdc = self._next_fill(asset)
        if roll < 0.2:
            await self._take_v4(asset.symbol, maker_sells, shares, usdc)
        else:
            await self._take_v5(asset.symbol, maker_sells, shares, usdc)
        self._inventory[asset.symbol] += -shares if maker_sells else shares
        self.fills_sent += 1

    def _next_fill(self, asset: DemoAsset) -> tuple[bool, Decimal, Decimal]:
        """The maker's side, shares and USDC of the next fill: a price that wanders 0.2 % per
        fill, sizes of about 500 USD, and sides that lean against the maker's inventory."""
        price = self._prices[asset.symbol] * Decimal(1 + self._random.gauss(0, 0.002))
        self._prices[asset.symbol] = price.quantize(Decimal("0.0001"))
        notional = Decimal(self._random.lognormvariate(6.2, 0.8))
        shares = (notional / price).quantize(Decimal("0.000001"), ROUND_DOWN)
        lean = float(self._inventory[asset.symbol] * price) / 20_000
        maker_sells = self._random.random() < 0.5 + max(-0.3, min(0.3, lean))
        spread = Decimal("1.002") if maker_sells else Decimal("0.998")  # the maker's edge
        usdc = (shares * price * spread).quantize(Decimal("0.000001"), ROUND_DOWN)
        return maker_sells, max(shares, Decimal("0.000001")), usdc

    async def _take_v5(
        self, symbol: str, maker_sells: bool, shares: Decimal, usdc: Decimal
    ) -> None:
        stock = self._traded[symbol]
        owner = self._world.owner
        order = (
            order_v4(owner, [self._usdc], [stock])
            if maker_sells
            else order_v4(owner, [stock], [self._usdc])
        )
        # the taker's side: it receives the order's output and gives the order's input
        taker_input, taker_output = (shares, usdc) if maker_sells else (usdc, shares)
        await self._world.send(
            self._world.orderbook.functions.takeOrderV3(
                take_config_v4(order, 0, 0), _float(taker_input), _float(taker_output)
            )
        )

    async def _take_v4(
        self, symbol: str, maker_sells: bool, shares: Decimal, usdc: Decimal
    ) -> None:
        stock = (self._traded[symbol], SHARE_DECIMALS)
        cash = (self._usdc, USDC_DECIMALS)
        owner = self._world.owner
        order = (
            order_v3(owner, [cash], [stock]) if maker_sells else order_v3(owner, [stock], [cash])
        )
        share_units = int(shares * 10**SHARE_DECIMALS)
        usdc_units = int(usdc * 10**USDC_DECIMALS)
        taker_input, taker_output = (
            (share_units, usdc_units) if maker_sells else (usdc_units, share_units)
        )
        await self._world.send(
            self._world.orderbook.functions.takeOrderV2(
                take_config_v3(order, 0, 0), taker_input, taker_output
            )
        )

    async def _wrap(self, asset: DemoAsset) -> None:
        """A fill of tX for wtX: not a stock/USDC trade, recorded as skipped."""
        deployed = next(a for a in self._deployment.assets if a.symbol == asset.symbol)
        token, wrapper = (Web3.to_checksum_address(a) for a in (deployed.token, deployed.wrapper))
        order = order_v4(self._world.owner, [token], [wrapper])
        one = float_word(WAD, FLOAT_EXPONENT)
        await self._world.send(
            self._world.orderbook.functions.takeOrderV3(take_config_v4(order, 0, 0), one, one)
        )


def _float(amount: Decimal) -> bytes:
    """`amount` as a Float word with 18 decimal places (truncated)."""
    return float_word(
        int(amount.scaleb(-FLOAT_EXPONENT).to_integral_value(ROUND_DOWN)), FLOAT_EXPONENT
    )


def _save(path: Path, deployment: DemoDeployment) -> None:
    path.write_text(json.dumps(asdict(deployment), indent=2), encoding="utf-8")


def _load(path: Path) -> DemoDeployment | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        assets = tuple(DeployedAsset(**a) for a in raw.pop("assets"))
        return DemoDeployment(**raw, assets=assets)
    except (ValueError, TypeError, KeyError) as error:
        log.warning("the saved demo deployment is unreadable; deploying anew", error=str(error))
        return None
