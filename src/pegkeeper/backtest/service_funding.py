"""The production funding manager (services/collateral/manager.py) as the backtest's funding step.

It runs over the run's own simulated exchange (transfers and withdrawals through SimFunding),
a simulated chain and wallet for the operator's onchain coins (deposits are real transactions
that a block confirms and the exchange then credits), the run's manual clock, store and bus.
Alerts are kept, not sent: a backtest has no webhook.

The chain advances with the run's clock: before every cycle, and on the price ticks that reach
its next block, so a deposit confirms in simulated time as it would in the demo. While
operations are in flight, a cycle follows them every `[funding] check_interval_seconds`, as
production's periodic check does; otherwise the runner's own periodic check is enough.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal

from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.adapters.wallet.sim import SimWallet
from pegkeeper.backtest.context import FundingFactory, RunContext
from pegkeeper.backtest.funding_step import FundingStep
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral import Alert, CollateralDecisionRecord
from pegkeeper.domain.collateral_policy import CollateralPolicy, StablesatsCollateralPolicy
from pegkeeper.domain.units import SATS_PER_BTC
from pegkeeper.ports import Clock
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.sim.chain import SimChain


@dataclass(frozen=True, slots=True)
class ChainSettings:
    """The operator's simulated onchain wallet (`[funding.wallet]` sim_* keys)."""

    balance_btc: Decimal = Decimal(10)
    block_interval_seconds: float = 600.0
    min_fee_rate_sat_vb: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class ServiceFundingSettings:
    policy: CollateralPolicy = field(default_factory=StablesatsCollateralPolicy)
    service: CollateralSettings = field(default_factory=CollateralSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    chain: ChainSettings = field(default_factory=ChainSettings)
    seed: int = 0  # of the deposits' jitter: the same run gives the same numbers


class KeptAlerts:
    """The alert sink of a backtest: every alert kept in order, none sent anywhere."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def deliver(self, alert: Alert) -> None:
        self.alerts.append(alert)


class ServiceFunding:
    """A CollateralManager whose simulated chain follows the run's clock."""

    def __init__(
        self, service: CollateralManager, wallet: SimWallet, clock: Clock, sink: KeptAlerts
    ) -> None:
        self.service = service
        self.wallet = wallet
        self.sink = sink
        self._clock = clock
        self._block_ms = wallet.chain.block_interval_ms
        self._next_sync_ms = 0
        self._last_cycle_ms = 0
        self._follow_ms = int(service.settings.check_interval_seconds * 1000)
        self._following = service.following  # as the last cycle left it (only a cycle moves it)

    def on_price(self, mark_price_usd: Decimal) -> bool:
        if self._clock.now_ms() >= self._next_sync_ms:  # every tick: no call when not due
            self._sync()
        wanted = self.service.on_price(mark_price_usd)
        if not wanted and self._following:  # as production's periodic check would
            wanted = self._clock.now_ms() >= self._last_cycle_ms + self._follow_ms
        return wanted

    def on_liability(self, total_liability_cents: int) -> bool:
        return self.service.on_liability(total_liability_cents)

    async def cycle(
        self, reason: str, correlation_id: str | None = None
    ) -> CollateralDecisionRecord | None:
        self._sync()
        self._last_cycle_ms = self._clock.now_ms()
        record = await self.service.cycle(reason, correlation_id)
        self._following = self.service.following
        return record

    def _sync(self) -> None:
        """The chain mines the blocks due by now, and the exchange credits what they paid it."""
        self.wallet.sync()
        self._next_sync_ms = self.wallet.chain.next_block_ms


def service_funding(settings: ServiceFundingSettings | None = None) -> FundingFactory:
    """A factory of the production funding manager over each run's exchange and clock."""
    chosen = settings or ServiceFundingSettings()

    def build(context: RunContext) -> FundingStep:
        return build_service_funding(context, chosen)

    return build


def build_service_funding(context: RunContext, settings: ServiceFundingSettings) -> ServiceFunding:
    clock, engine = context.clock, context.engine
    currency = context.instrument.settle_currency
    chain_settings = settings.chain
    chain = SimChain(
        clock.now_ms(),
        int(chain_settings.balance_btc * SATS_PER_BTC),
        block_interval_ms=int(chain_settings.block_interval_seconds * 1000),
        min_fee_rate_sat_vb=chain_settings.min_fee_rate_sat_vb,
    )
    wallet = SimWallet(chain, clock, engine.wallet)
    sink = KeptAlerts()
    alerter = Alerter(sink, context.store.funding, clock, settings.alerts)
    service = CollateralManager(
        context.store,
        context.venue,
        SimFunding(engine, clock),
        wallet if currency == "BTC" else None,
        context.bus,
        clock,
        settings.policy,
        context.allocation or Allocation.single(context.instrument.instrument_id),
        alerter,
        _with_currency(settings.service, currency),
        rng=random.Random(settings.seed),
    )
    return ServiceFunding(service, wallet, clock, sink)


def _with_currency(settings: CollateralSettings, currency: str) -> CollateralSettings:
    return replace(settings, currency=currency)
