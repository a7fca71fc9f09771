"""A funding manager on the in-process simulated exchange and chain, with a manual clock and
fakes for the store: for unit tests of the funding service that need money to really move."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral_policy import CollateralPolicy, StablesatsCollateralPolicy
from pegkeeper.domain.errors import VenueError
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.collateral.operations import OperationSettings
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeStore, RecordingSink

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
PRICE = Decimal(10_000)
SWAP = "BTC-USD-SWAP"


class Faulty:
    """Wraps an adapter: counts calls, and injects failures into the next call of a method
    (`before`: nothing reaches the inner adapter; `after`: it does, then the call raises)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.before: dict[str, Exception] = {}
        self.after: dict[str, Exception] = {}
        self.always: dict[str, Exception] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name in self.always:
                raise self.always[name]
            if name in self.before:
                raise self.before.pop(name)
            result = await target(*args, **kwargs)
            if name in self.after:
                raise self.after.pop(name)
            return result

        return call


@dataclass
class FundingWorld:
    clock: ManualClock
    engine: SimEngine
    venue: Faulty
    funding: Faulty
    chain: SimChain
    wallet: SimWallet
    store: FakeStore
    sink: RecordingSink
    alerter: Alerter
    service: CollateralManager
    bus: MemoryBus
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.engine.advance(self.clock.now_ms())
        self.wallet.sync()

    def set_price(self, price: Decimal) -> None:
        self.engine.set_price(self.clock.now_ms(), price)

    def balances(self) -> tuple[Decimal, Decimal]:
        """(trading equity, funding balance) at the exchange."""
        b = self.engine.balances("BTC")
        return b.trading_equity, b.funding_balance

    async def post(self, cents: int, key: str = "u1") -> None:
        service = LiabilityService(
            self.store.liability, self.bus, self.clock, max_abs_delta_cents=10**12
        )
        await service.post(key, cents)

    def short(self, contracts: int) -> None:
        self.engine.place_market_order(
            f"seed{contracts}", SWAP, OrderSide.SELL, Decimal(contracts), self.clock.now_ms()
        )


async def funding_world(
    *,
    trading_btc: str = "0",
    funding_btc: str = "0",
    wallet_sats: int = 1_000_000_000,
    liability_cents: int = 0,
    short_contracts: int = 0,
    leverage: int = 10,
    policy: CollateralPolicy | None = None,
    operations: OperationSettings | None = None,
    alerts: AlertSettings | None = None,
    min_fee_rate_sat_vb: Decimal = Decimal(1),
    **service_options: Any,
) -> FundingWorld:
    clock = ManualClock(START_MS)
    engine = SimEngine([BTC_USD_SWAP], taker_fee_rate=Decimal(0), leverage=leverage)
    engine.set_price(START_MS, PRICE)
    if Decimal(trading_btc):
        engine.credit_trading(Decimal(trading_btc))
    if Decimal(funding_btc):
        engine.credit_funding(Decimal(funding_btc))
    chain = SimChain(START_MS, wallet_sats, min_fee_rate_sat_vb=min_fee_rate_sat_vb)
    wallet = SimWallet(chain, clock, engine.wallet)
    store, sink, bus = FakeStore(), RecordingSink(), MemoryBus()
    alerter = Alerter(sink, store.funding, clock, alerts or AlertSettings())
    venue, funding = Faulty(SimVenue(engine, clock)), Faulty(SimFunding(engine, clock))
    settings = CollateralSettings(operations=operations or OperationSettings())
    service = CollateralManager(
        store,
        venue,
        funding,
        wallet,
        bus,
        clock,
        policy or StablesatsCollateralPolicy(),
        Allocation.single(SWAP),
        alerter,
        settings,
        **service_options,
    )
    world = FundingWorld(
        clock, engine, venue, funding, chain, wallet, store, sink, alerter, service, bus
    )
    if liability_cents:
        await world.post(liability_cents)
    if short_contracts:
        world.short(short_contracts)
    return world


def venue_error(message: str) -> VenueError:
    return VenueError(message)
