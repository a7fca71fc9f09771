"""The carry allocation in production: the allocator (the "carry" service, a singleton under
the lease "carry" in a cluster) and the weights every hedger reads from the store.

It runs with `[allocation.carry] enabled` and two legs or more. The venue must publish its
perpetuals' funding rates: OKX (through ccxt) and the simulator do. The trades of a move cost
the venue's taker fee (`[allocation.carry] taker_fee_rate`, on the simulator its own
`[sim] taker_fee_rate`) and `slippage_bps`. The futures' basis is measured against the mark of
the allocation's first perpetual (`-SWAP`), else of `[hedger] instrument_id`.
"""

from __future__ import annotations

import structlog

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.venues.okx_funding import OkxFunding
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.bootstrap.collateral import allocation_of
from pegkeeper.bootstrap.policies import hedge_policy
from pegkeeper.bootstrap.venue import VenueSetup
from pegkeeper.config import Settings
from pegkeeper.domain.errors import VenueMisconfigured
from pegkeeper.domain.units import HOUR_MS
from pegkeeper.ports import Bus, FundingRates
from pegkeeper.services.hedging.carry import CarryAllocator, CarryAllocatorSettings
from pegkeeper.services.hedging.carry_weights import SharedWeights
from pegkeeper.services.outbox import Outbox
from pegkeeper.services.views.allocation import AllocationView

log = structlog.get_logger("pegkeeper")

CARRY_LEASE = "carry"


def carry_wanted(settings: Settings) -> bool:
    allocation = settings.allocation
    return allocation.carry.enabled and len(allocation.legs) >= 2


def shared_weights(settings: Settings, store: SqlStore) -> SharedWeights | None:
    """The weights the hedgers split the liability by, when the carry allocation moves them
    (None: the configured weights)."""
    if not carry_wanted(settings):
        return None
    return SharedWeights(store.allocation, [leg.instrument_id for leg in settings.allocation.legs])


def allocation_view(settings: Settings, store: SqlStore) -> AllocationView:
    """What GET /api/v1/allocation shows, read from the store in any process."""
    return AllocationView(store.allocation, allocation_of(settings), carry_wanted(settings))


def build_carry(
    settings: Settings,
    store: SqlStore,
    venue: VenueSetup,
    bus: Bus,
    outbox: Outbox | None,
    services: list[str] | None,
) -> CarryAllocator | None:
    """The allocator for a process that runs "carry" (`services` None: every one); raises
    VenueMisconfigured when the venue publishes no funding rates."""
    if services is not None and "carry" not in services:
        return None
    if not carry_wanted(settings):
        if services is not None:
            log.warning(
                "the carry service has nothing to do: it needs [allocation.carry] enabled = "
                "true and two [allocation] legs or more"
            )
        return None
    carry = settings.allocation.carry
    allocation = allocation_of(settings)
    fee_rate = settings.sim.taker_fee_rate if venue.simulated else carry.taker_fee_rate
    spot = next(
        (leg.instrument_id for leg in allocation.legs if leg.instrument_id.endswith("-SWAP")),
        settings.hedger.instrument_id,
    )
    return CarryAllocator(
        store,
        store.allocation,
        venue.venue,
        funding_rates(venue),
        bus,
        venue.clock,
        hedge_policy(settings),
        CarryAllocatorSettings(
            allocation=allocation,
            params=carry.params(settings.allocation.roll_lead_hours),
            trade_cost_bps=carry.trade_cost_bps(fee_rate),
            spot_instrument_id=spot,
            check_interval_seconds=carry.check_interval_seconds,
            funding_window_ms=int(carry.funding_window_hours * HOUR_MS),
        ),
        outbox=outbox,
    )


def funding_rates(venue: VenueSetup) -> FundingRates:
    rates = venue.funding
    if isinstance(rates, OkxFunding | SimFunding):
        return rates
    raise VenueMisconfigured(
        f"[allocation.carry] enabled needs the venue's funding rates, and {venue.description} "
        "gives none pegkeeper reads: use [venue] kind = 'okx' (or 'sim'), or set "
        "[allocation.carry] enabled = false"
    )
