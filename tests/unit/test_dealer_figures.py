"""Leverage and liquidation are one figure: `pegkeeper status`, `pegkeeper funding`,
/api/v1/dealer, /api/v1/funding and the dashboard's /api/v1/overview show the freshest reading
of the account on the simulated exchange, rounded once, and say where it came from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from rich.console import Console

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.venues.sim import SimVenue
from pegkeeper.adapters.venues.sim_funding import SimFunding
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.api.http.dashboard_api import DashboardData, dashboard_router
from pegkeeper.api.http.funding import funding_router
from pegkeeper.cli import _account_table, _status_table
from pegkeeper.domain.allocation import Allocation
from pegkeeper.domain.collateral_policy import StablesatsCollateralPolicy
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.collateral.manager import CollateralManager, CollateralSettings
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.snapshots import take_snapshot
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.views.collateral import CollateralView
from pegkeeper.services.views.dashboard import DashboardView
from pegkeeper.services.views.dealer import DealerView
from pegkeeper.sim.engine import SimEngine
from tests.fakes import RecordingSink

START_MS = 1_700_006_400_000
SWAP = "BTC-USD-SWAP"


@dataclass
class World:
    clock: ManualClock
    engine: SimEngine
    store: SqlStore
    venue: SimVenue
    manager: CollateralManager
    control: HedgeControl
    client: httpx.AsyncClient

    async def hedger_snapshot(self) -> None:
        """What the hedger records after its cycle, from the same venue."""
        now_ms = self.clock.now_ms()
        position = await self.venue.position(SWAP)
        balances = await self.venue.balances("BTC")
        snapshot = take_snapshot(BTC_USD_SWAP, position, balances, now_ms, "c-hedge")
        await self.store.hedge.record_position(snapshot)

    async def shown(self) -> dict[str, Any]:
        """The figures of every reader, at one moment."""
        dealer = (await self.client.get("/api/v1/dealer")).json()
        funding = (await self.client.get("/api/v1/funding")).json()
        overview = (await self.client.get("/api/v1/overview")).json()
        return {"dealer": dealer, "funding": funding, "overview": overview}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(START_MS)
    engine = SimEngine([BTC_USD_SWAP], taker_fee_rate=Decimal(0), leverage=10)
    engine.set_price(START_MS, Decimal(10_000))
    engine.credit_trading(Decimal("0.3"))
    store = await open_store("sqlite+aiosqlite://")
    bus = MemoryBus()
    venue = SimVenue(engine, clock)
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**12)
    await liability.post("u1", 980_000)
    engine.place_market_order("seed", SWAP, OrderSide.SELL, Decimal(98), START_MS)
    alerter = Alerter(RecordingSink(), store.funding, clock, AlertSettings())
    manager = CollateralManager(
        store,
        venue,
        SimFunding(engine, clock),
        None,
        bus,
        clock,
        StablesatsCollateralPolicy(),
        Allocation.single(SWAP),
        alerter,
        CollateralSettings(),
    )
    control = HedgeControl()
    dealer = DealerView(store, accounts=[manager], control=control, clock=clock)
    data = DashboardData(DashboardView(store, store.audit, clock, dealer), _ready, clock)
    app = create_app(
        ApiContext(
            liability=liability,
            dealer=dealer,
            readiness=_ready,
            extend=lambda app: app.include_router(dashboard_router(data)),
            funding=funding_router(CollateralView(store, [manager], None)),
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield World(clock, engine, store, venue, manager, control, client)
    await store.close()


async def _ready() -> dict[str, str]:
    return {"hedger": "ready"}


def cli_rows(table: Any) -> dict[str, str]:
    console = Console(record=True, width=200)
    console.print(table)
    rows = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


RISK_ROWS = (
    "leverage (at the mark)",
    "liquidation price (USD)",
    "liquidation distance (%)",
    "mark price (USD)",
    "trading equity (BTC)",
    "figures as of",
)


def assert_one_figure(shown: dict[str, Any], expected: dict[str, str]) -> None:
    dealer, funding, overview = shown["dealer"], shown["funding"], shown["overview"]
    (account,) = funding["accounts"]
    assert dealer["risk"] == account["risk"] == overview["risk"]
    risk = dealer["risk"]
    assert {k: risk[k] for k in expected} == expected
    for body in (dealer, overview):
        assert body["leverage"] == risk["leverage"]
        assert body["liquidation_price_usd"] == risk["liquidation_price_usd"]
        assert body["btc_price_usd"] == risk["mark_price_usd"]
    assert Decimal(overview["liquidation_distance"]) * 100 == Decimal(
        risk["liquidation_distance_pct"]
    )
    status_rows = cli_rows(_status_table(dealer))
    funding_rows = cli_rows(_account_table(account, funding))
    for row in RISK_ROWS:
        assert status_rows[row] == funding_rows[row], row
    assert status_rows["leverage (at the mark)"] == expected["leverage"]
    assert status_rows["liquidation distance (%)"] == expected["liquidation_distance_pct"]


def by_hand(world: World, source: str, as_of_ms: int) -> dict[str, Any]:
    """The figures from the venue's position, mark and equity, by OKX's inverse formulas:
    notional N / P BTC over the equity; a short of N USD (negative) is liquidated where
    eq + N (1/P - 1/P') = MMR |N| / P', so P' = (N + MMR |N|) / (eq + N / P), MMR 0.4 %."""
    position = world.engine.position(SWAP)
    equity = world.engine.balances("BTC").trading_equity
    mark = position.mark_price_usd
    face_usd = position.size_contracts * 100
    leverage = abs(face_usd) / mark / equity
    liquidation = (face_usd + Decimal("0.004") * abs(face_usd)) / (equity + face_usd / mark)
    distance_pct = (liquidation - mark) / mark * 100
    cent = Decimal("0.01")
    return {
        "source": source,
        "as_of_ms": as_of_ms,
        "leverage": str(leverage.quantize(cent, rounding=ROUND_CEILING)),  # never less
        "liquidation_price_usd": str(liquidation.quantize(cent, rounding=ROUND_HALF_EVEN)),
        "liquidation_distance_pct": str(distance_pct.quantize(cent, rounding=ROUND_FLOOR)),
        "mark_price_usd": str(mark.quantize(cent)),
        "equity": str(equity.quantize(Decimal("0.00000001"), rounding=ROUND_FLOOR)),
    }


async def test_every_reader_shows_the_funding_managers_reading(world: World) -> None:
    await world.hedger_snapshot()  # the hedger's, then a newer reading of the account
    world.clock.advance(5)
    await world.manager.cycle("periodic")
    expected = by_hand(world, "funding", START_MS + 5_000)
    # 98 contracts of 100 USD short near 10 000 USD on 0.3 BTC: about 3.27 x, liquidated
    # about 43.5 % above the mark
    assert expected["leverage"] == "3.27" and expected["liquidation_distance_pct"] == "43.53"
    assert_one_figure(await world.shown(), expected)


async def test_a_newer_hedger_snapshot_is_the_figure_everywhere(world: World) -> None:
    await world.manager.cycle("periodic")
    before = by_hand(world, "funding", START_MS)
    world.clock.advance(5)
    world.engine.set_price(world.clock.now_ms(), Decimal(12_000))
    await world.hedger_snapshot()
    expected = by_hand(world, "hedger", START_MS + 5_000)
    # at 12 000 USD the short has lost about 0.163 BTC: leverage near 6, liquidation 19.6 % away
    assert expected["leverage"] == "5.98" and expected["liquidation_distance_pct"] == "19.60"
    shown = await world.shown()
    assert_one_figure(shown, expected)
    # the funding manager's own, older reading is still there, rounded the same way
    live = shown["funding"]["accounts"][0]["live"]
    assert (live["leverage"], live["liquidation_distance_pct"]) == (
        before["leverage"],
        before["liquidation_distance_pct"],
    )


async def test_status_shows_the_hedging_switch_and_the_order_in_flight(world: World) -> None:
    world.control.pause("alice", START_MS + 1_000, "rebalancing")
    world.clock.advance(12.5)
    body = (await world.client.get("/api/v1/dealer")).json()
    assert body["hedging"] == {
        "paused": True,
        "by": "alice",
        "since_ms": START_MS + 1_000,
        "note": "rebalancing",
    }
    assert body["orders_in_flight"] == []
    rows = cli_rows(_status_table(body))
    assert rows["hedging"] == "paused by alice since 2023-11-15T00:00:01Z (rebalancing)"
    assert rows["order in flight"] == "none"
    # an order written and not yet settled: its client id, state and age on the dealer's clock
    sent_ms = world.clock.now_ms()
    await world.store.hedge.create_order(
        OrderIntent(
            "pkinflight1", SWAP, OrderKind.MARKET, OrderSide.SELL, Decimal(3), "d1", "c1", sent_ms
        )
    )
    world.clock.advance(2.5)
    body = (await world.client.get("/api/v1/dealer")).json()
    (order,) = body["orders_in_flight"]
    assert (order["client_order_id"], order["state"], order["age_ms"]) == (
        "pkinflight1",
        "created",
        2_500,
    )
    assert cli_rows(_status_table(body))["order in flight"] == "pkinflight1 (created, 2.5 s old)"
