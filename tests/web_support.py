"""The HTTP app with the dashboard, in process: a real store (in-memory SQLite), fakes behind the
venue port, a manual clock. For unit tests of the dashboard's endpoints."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal

import httpx
import uvicorn
from fastapi import FastAPI

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.api.http.app import ApiContext, create_app
from pegkeeper.api.http.dashboard import Dashboard
from pegkeeper.api.http.dashboard_api import DashboardData, health_summary
from pegkeeper.api.http.equities import EquitiesApi
from pegkeeper.api.http.events import EventStream
from pegkeeper.api.http.funding import funding_router
from pegkeeper.api.http.operator import OperatorAuth
from pegkeeper.api.http.pages import PageSettings
from pegkeeper.api.http.quote import quote_router
from pegkeeper.api.http.rebalancing import RebalancingApi
from pegkeeper.api.metrics import Metrics, MetricSources
from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.services.collateral.held import HeldDeposits
from pegkeeper.services.hedging.control import HedgeControl
from pegkeeper.services.hedging.operator import OperatorService
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import Pricer, PricerSettings
from pegkeeper.services.views.collateral import CollateralView
from pegkeeper.services.views.dashboard import DashboardView
from pegkeeper.services.views.health import HealthMonitor
from tests.fakes import FakeVenue

START_MS = 1_700_000_000_000
ALICE_TOKEN = "alice-0123456789abcdef"
BOB_TOKEN = "bob-0123456789abcdef-x"
BRACKETS = {
    "low": Decimal("0.95"),
    "low_safe": Decimal("0.98"),
    "high_safe": Decimal("1.00"),
    "high": Decimal("1.03"),
}


class OneBook:
    """A book of one level each side: 1 BTC at 1 000 USD bid, at 10 000 USD ask."""

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return BookSnapshot.from_levels(
            "file", "BTC-USD-SWAP", 7, 7, (("1000", "100000"),), (("10000", "100000"),)
        )

    def health(self) -> dict[str, str]:
        return {"BTC-USD-SWAP": "ok"}


@dataclass
class WebWorld:
    store: SqlStore
    clock: ManualClock
    bus: MemoryBus
    venue: FakeVenue
    control: HedgeControl
    liability: LiabilityService
    operator: OperatorService
    health: HealthMonitor
    metrics: Metrics
    events: EventStream
    app: FastAPI

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def web_world(
    tokens: dict[str, str] | None = None,
    equities: Callable[[SqlStore, ManualClock, MemoryBus], EquitiesApi] | None = None,
    rebalancing: Callable[[SqlStore, ManualClock, MemoryBus], RebalancingApi] | None = None,
    held_deposits: Callable[[SqlStore, ManualClock, MemoryBus], HeldDeposits] | None = None,
) -> AsyncIterator[WebWorld]:
    """`held_deposits`: the funding manager's operator action, with its operations served as
    the dashboard's transfers and in GET /api/v1/funding (of no account)."""
    store = await open_store("sqlite+aiosqlite://")
    clock = ManualClock(START_MS)
    bus = MemoryBus()
    venue = FakeVenue()
    control = HedgeControl()
    liability = LiabilityService(store.liability, bus, clock, max_abs_delta_cents=10**9)
    operator = OperatorService(
        control, store, store.operator_actions, venue, bus, clock, "BTC-USD-SWAP"
    )
    health = HealthMonitor(["hedger", "liability", "web"])
    view = DashboardView(store, store.audit, clock)
    equity_api = equities(store, clock, bus) if equities is not None else None
    funding = held_deposits is not None
    transfers = store.funding.recent_operations if funding else None
    data = DashboardData(
        view, health.readiness, clock, dict(BRACKETS), control, transfers=transfers
    )
    metrics = Metrics(
        MetricSources(
            dealer=view.dealer,
            clock=clock,
            readiness=health.readiness,
            control=control,
            brackets=BRACKETS,
            bus_messages=lambda: bus.published,
            equities=equity_api.view if equity_api is not None else None,
        )
    )
    events = EventStream(bus, lambda: health_summary(data), 0.05)
    chosen = {"alice": ALICE_TOKEN, "bob": BOB_TOKEN} if tokens is None else tokens
    auth = OperatorAuth(chosen)
    dashboard = Dashboard(
        data=data,
        events=events,
        pages=PageSettings(
            heartbeat_ms=50,
            symbols=["USDC", "USDT"],
            instrument_id="BTC-USD-SWAP",
            brackets={k: str(v) for k, v in BRACKETS.items()},
            operator_actions=auth.enabled,
        ),
        auth=auth,
        operator=operator,
        metrics=metrics,
        equities=equity_api,
        rebalancing=rebalancing(store, clock, bus) if rebalancing is not None else None,
        held_deposits=held_deposits(store, clock, bus) if held_deposits is not None else None,
    )
    pricer = Pricer(OneBook(), clock, PricerSettings(stale_after_ms=None), "test book")
    app = create_app(
        ApiContext(
            liability=liability,
            dealer=view.dealer,
            readiness=health.readiness,
            quote=quote_router(pricer),
            extend=dashboard.install,
            funding=funding_router(CollateralView(store, [], None)) if funding else None,
        )
    )
    try:
        yield WebWorld(
            store, clock, bus, venue, control, liability, operator, health, metrics, events, app
        )
    finally:
        await store.close()


@contextmanager
def served(
    open_app: Callable[[], AbstractAsyncContextManager[FastAPI]], what: str
) -> Iterator[str]:
    """The app `open_app` yields, served over HTTP on its own thread (with its own event loop,
    where its store lives); yields the base URL. `what` names the app in a failure."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    servers: list[uvicorn.Server] = []

    async def serve() -> None:
        async with open_app() as app:
            config = uvicorn.Config(
                app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
            )
            servers.append(uvicorn.Server(config))
            await servers[0].serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    while not (servers and servers[0].started):
        if not thread.is_alive():
            raise RuntimeError(f"the {what} app stopped before it served")
        threading.Event().wait(0.01)
    try:
        yield url
    finally:
        servers[0].should_exit = True
        thread.join(timeout=10)
        sock.close()
