"""The dashboard's app (tests/web_support.py) with the equity hedger over the hand-worked book
of tests/equities_book.py: in process for the HTTP tests, served over HTTP for the CLI and the
browser.

With `repository="sql"` (the default) the book is written into the SQL equity store and read
from it, with the real P&L service, reconciler and switches over it (only the hedger's and the
chain ingestion's words are fakes: they need a broker and a chain); with `"fake"` the view
reads the fakes of tests/equities_book.py. The switches are the real ones in both, restored
from the audit trail where TSLA was paused two hours ago."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Literal

from fastapi import FastAPI

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.api.http.equities import EquitiesApi
from pegkeeper.domain.equities.broker import BrokerKind
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.services.equities.broker_probe import BrokerProbe, ProbeNeeds
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.pnl import EquityPnl
from pegkeeper.services.equities.reconciler import LedgerReconciler
from pegkeeper.services.views.equities import EquitiesView
from tests.equities_book import NOW_MS, SYMBOLS, book_view
from tests.equities_sql_book import write_book
from tests.web_support import WebWorld, served, web_world

Repository = Literal["sql", "fake"]


TSLA_PAUSED = OperatorAction(
    action_id="tsla-earnings",
    created_at_ms=NOW_MS - 7_200_000,
    operator="alice",
    action=OperatorActionKind.PAUSE_EQUITIES,
    target="TSLA",
    note="earnings call",
    result=OperatorResult.DONE,
    detail="TSLA paused: no broker order is sent until resumed",
    correlation_id="tslaearnings",
    client_address="127.0.0.1",
)


@contextlib.asynccontextmanager
async def equities_world(
    tokens: dict[str, str] | None = None, repository: Repository = "sql"
) -> AsyncIterator[WebWorld]:
    made: list[EquitiesView] = []

    def api(store: SqlStore, clock: ManualClock, bus: MemoryBus) -> EquitiesApi:
        view = book_view(clock)
        view.control = EquityControl(store.operator_actions, clock, SYMBOLS, records_actions=False)
        if repository == "sql":
            view.repository = store.equities
            view.pnl_source = EquityPnl(store.equities, clock)
            view.reconciler = LedgerReconciler(store.equities, clock)
        broker = DryRunBroker(clock, DryRunSettings(cash_usd=Decimal(25_000)))
        view.broker = BrokerProbe(broker, broker, clock, ProbeNeeds(BrokerKind.FRACTIONAL))
        made.append(view)
        return EquitiesApi(view, store.operator_actions, clock, bus)

    async with web_world(tokens, equities=api) as world:
        (view,) = made
        await world.store.operator_actions.record(TSLA_PAUSED)
        assert isinstance(view.control, EquityControl)
        await view.control.load()
        assert isinstance(view.broker, BrokerProbe)
        await view.broker.check()
        if repository == "sql":
            await write_book(world.store.equities)
            assert isinstance(view.pnl_source, EquityPnl)
            assert isinstance(view.reconciler, LedgerReconciler)
            await view.pnl_source.start()
            await view.reconciler.check()
        yield world


@contextlib.contextmanager
def equities_served(configured: bool = True) -> Iterator[str]:
    """The app of `equities_world` (or, not `configured`, of `web_world` alone) served over
    HTTP on its own thread; yields the base URL."""

    @contextlib.asynccontextmanager
    async def app() -> AsyncIterator[FastAPI]:
        async with equities_world() if configured else web_world() as world:
            yield world.app

    with served(app, "equities") as url:
        yield url
