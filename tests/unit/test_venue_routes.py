"""An operator's close with legs on two venues: each leg's position is closed on its own
venue, through the routes of the allocation."""

from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.domain.allocation import Allocation, HedgeLeg
from pegkeeper.domain.instruments import BTC_USD_SWAP, btc_usd_future
from pegkeeper.domain.operator import OperatorResult
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.operator import OperatorService, Requester
from pegkeeper.services.hedging.routes import VenueRoutes
from pegkeeper.sim.engine import SimEngine
from tests.fakes import FakeOperatorActionRepository, FakeStore

START_MS = 1_700_000_000_000
JUNE = btc_usd_future(1_719_561_600_000)  # 2024-06-28 08:00 UTC
ALLOCATION = Allocation((HedgeLeg("BTC-USD-SWAP"), HedgeLeg("BTC-USD-QUARTERLY", venue="second")))


async def test_a_close_reaches_each_leg_on_its_own_venue() -> None:
    clock = ManualClock(START_MS)
    engines = {"primary": SimEngine([BTC_USD_SWAP]), "second": SimEngine([JUNE])}
    venues = {name: SimVenue(engine, clock, name=name) for name, engine in engines.items()}
    for engine in engines.values():
        engine.credit_trading(Decimal(5))
        engine.set_prices(clock.now_ms(), Decimal(10_000))
    routes = VenueRoutes(ALLOCATION, venues)
    # a rolling leg owns every dated BTC-USD future: the June expiry is the second venue's
    assert routes.venue_of(JUNE.instrument_id) is venues["second"]
    assert routes.venue_of("BTC-USD-SWAP") is venues["primary"]
    for n, (instrument_id, size) in enumerate(
        ((BTC_USD_SWAP.instrument_id, 30), (JUNE.instrument_id, 20))
    ):
        opening = OrderIntent(
            f"open{n}", instrument_id, OrderKind.MARKET, OrderSide.SELL, Decimal(size),
            "d", "c", clock.now_ms(),
        )  # fmt: skip
        await routes.place_market_order(opening)
    assert engines["primary"].position("BTC-USD-SWAP").size_contracts == -30
    assert engines["second"].position(JUNE.instrument_id).size_contracts == -20

    async def legs() -> list[str]:
        return ["BTC-USD-SWAP", JUNE.instrument_id]

    store = FakeStore()
    operator = OperatorService(
        HedgeControl(), store, FakeOperatorActionRepository(), routes, MemoryBus(), clock,
        "BTC-USD-SWAP", held_instruments=legs,
    )  # fmt: skip
    action = await operator.close_position(Requester("alice"), "both venues")
    assert action.result is OperatorResult.DONE
    assert engines["primary"].position("BTC-USD-SWAP").size_contracts == 0
    assert engines["second"].position(JUNE.instrument_id).size_contracts == 0
    assert "closed 30 contracts" in action.detail and "closed 20 contracts" in action.detail


def test_routes_refuse_a_leg_without_its_venue() -> None:
    clock = ManualClock(START_MS)
    with pytest.raises(ValueError, match="no venue named second"):
        VenueRoutes(ALLOCATION, {"primary": SimVenue(SimEngine([BTC_USD_SWAP]), clock)})
