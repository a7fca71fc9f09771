"""What a running pegkeeper process holds: every adapter and service bootstrap built."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pegkeeper.adapters.bus.factory import ClosableBus
from pegkeeper.adapters.feeds.peg_replay import MarketReplay
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.bootstrap.cluster import Cluster
from pegkeeper.bootstrap.collateral import FundingSetup
from pegkeeper.bootstrap.equities import EquityDemoUnavailable, EquitySetup
from pegkeeper.bootstrap.ledger import LedgerSetup
from pegkeeper.bootstrap.pricing import Pricing
from pegkeeper.bootstrap.rebalancing import RebalancerSetup
from pegkeeper.bootstrap.resume import StoredState
from pegkeeper.bootstrap.venue import VenueSetup
from pegkeeper.config import Settings
from pegkeeper.ports import Clock
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.hedging.carry import CarryAllocator
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.hedger import HedgerService
from pegkeeper.services.hedging.operator import OperatorService
from pegkeeper.services.ledger.demo_flow import DemoFlow
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.peg_monitor import PegMonitor
from pegkeeper.services.notices import LossyBus
from pegkeeper.services.views.dealer import DealerView


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    bus: ClosableBus  # the order paths and the outbox relay publish here
    notices: LossyBus  # prices, pegs, liability and operator notices: dropped if it is down
    store: SqlStore
    venue: VenueSetup
    liability: LiabilityService
    hedger: HedgerService
    dealer: DealerView
    demo: DemoFlow | None
    pegs: PegMonitor
    market_clock: Clock
    market_replay: MarketReplay | None
    pricing: Pricing
    ledger: LedgerSetup
    control: HedgeControl
    operator: OperatorService
    alerter: Alerter
    funding: FundingSetup | None
    stored: StoredState
    cluster: Cluster
    equities: EquitySetup | EquityDemoUnavailable | None = None
    rebalancer: RebalancerSetup | None = None
    carry: CarryAllocator | None = None  # the carry allocation's, in a process that runs it
    hedgers: list[HedgerService] = field(default_factory=list)  # one per leg of the allocation
    # every venue by name, the primary (`venue`) first
    venues: dict[str, VenueSetup] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    venue_started: asyncio.Lock = field(default_factory=asyncio.Lock)
    venue_ready: bool = False
