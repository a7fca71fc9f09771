"""Venue-side expiry of order requests: the OKX adapter sends OKX's `expTime` header on every
order request, and the OKX simulator, as a real local server, refuses a place-order request
processed after it (50036) without executing it; the execution core records the order
rejected, not processed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal

import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock, RealClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.adapters.venues.okx import OkxCredentials, OkxVenue
from pegkeeper.domain.errors import NotFound, VenueUnavailable
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.records import DecisionRecord
from pegkeeper.services.execution.orders import OrderExecution
from tests.okx_sim import RunningSim, running_sim
from tests.okx_world import FAST_VENUE, okx_venue

SWAP = "BTC-USD-SWAP"
T0 = 1_700_000_000_000


def real_ms() -> int:
    return time.time_ns() // 1_000_000


def order(client_id: str, kind: OrderKind = OrderKind.MARKET, contracts: int = 3) -> OrderIntent:
    side = None if kind is OrderKind.CLOSE_POSITION else OrderSide.SELL
    size = Decimal(0 if side is None else contracts)
    limit = Decimal("9000") if kind is OrderKind.LIMIT else None
    return OrderIntent(client_id, SWAP, kind, side, size, f"d-{client_id}", "corr", T0, limit)


def decision(decision_id: str) -> DecisionRecord:
    return DecisionRecord(
        decision_id, "corr", T0, "liability", "stablesats", "under-hedged-sell", "sell",
        Decimal(3), SWAP, 20_000, 0, Decimal(0), None, Decimal("7938.39"),
    )  # fmt: skip


@asynccontextmanager
async def late_venue(
    sim: RunningSim, request_clock: ManualClock, order_expiry_seconds: float = 5.0
) -> AsyncIterator[OkxVenue]:
    """The adapter with its requests' expTime taken from `request_clock`."""
    creds = sim.credentials
    settings = replace(
        FAST_VENUE,
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        order_expiry_seconds=order_expiry_seconds,
    )
    venue = OkxVenue(
        settings,
        OkxCredentials(creds.api_key, creds.secret_key, creds.passphrase),
        RealClock(),
        request_clock=request_clock,
    )
    try:
        await venue.start()
        yield venue
    finally:
        await venue.close()


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim() as running:
        yield running


async def test_every_order_request_carries_an_exp_time_of_real_time(sim: RunningSim) -> None:
    async with okx_venue(sim, replace(FAST_VENUE, order_expiry_seconds=4.0)) as venue:
        bounds = {}
        for intent, place in [
            (order("pk1"), venue.place_market_order),
            (order("pk2", OrderKind.LIMIT), venue.place_limit_order),
            (order("pk3", OrderKind.CLOSE_POSITION), venue.close_position),
        ]:
            before_ms = real_ms()
            await place(intent)
            bounds[intent.client_order_id] = (before_ms + 4_000, real_ms() + 4_000)
        await venue.cancel_order(SWAP, "pk2")
    for client_id, (earliest, latest) in bounds.items():
        assert earliest <= sim.ctx.exp_times[client_id] <= latest, client_id
    assert sim.position_contracts() == -3 + 3  # the market sell, then the close
    assert set(sim.ctx.exp_times) == {"pk1", "pk2", "pk3"}  # the cancel carried none


async def test_an_order_with_an_exp_time_already_past_is_refused_and_not_executed(
    sim: RunningSim,
) -> None:
    behind = ManualClock(real_ms() - 60_000)  # a sender whose request arrives a minute late
    async with late_venue(sim, behind, order_expiry_seconds=5.0) as venue:
        with pytest.raises(VenueUnavailable) as raised:
            await venue.place_market_order(order("late1"))
        assert raised.value.code == "50036"
        with pytest.raises(NotFound):
            await venue.order(SWAP, "late1")
    assert sim.ctx.exp_times["late1"] == behind.now_ms() + 5_000
    assert sim.requests_for("late1") == 0
    assert sim.position_contracts() == 0


async def test_an_order_delayed_past_its_expiry_is_rejected_not_processed(
    sim: RunningSim, store: SqlStore
) -> None:
    sim.faults.set("order_delay_ms", "600")  # the request reaches the venue 0.6 s late
    settings = replace(FAST_VENUE, order_expiry_seconds=0.2)
    async with okx_venue(sim, settings) as venue:
        execution = OrderExecution(store, venue, MemoryBus(), RealClock(), lookup_window_seconds=10)
        sent = await execution.submit(decision("d1"), order("o1"))
        with pytest.raises(NotFound):
            await venue.order(SWAP, "o1")
    assert (sent.outcome, sent.state) == (Outcome.NOT_PROCESSED, OrderState.REJECTED)
    recorded = await store.hedge.get_order("o1")
    assert recorded is not None and recorded.state is OrderState.REJECTED
    assert recorded.message.startswith("not processed: ") and "(code 50036)" in recorded.message
    assert await store.hedge.open_orders() == []
    assert sim.requests_for("o1") == 0 and sim.engine.open_orders() == []
    assert sim.position_contracts() == 0


async def test_close_position_is_not_refused_for_its_exp_time(sim: RunningSim) -> None:
    """OKX documents expTime for placing and amending orders only; the simulator likewise."""
    async with okx_venue(sim) as venue:
        await venue.place_market_order(order("open1", contracts=2))
    async with late_venue(sim, ManualClock(real_ms() - 60_000)) as venue:
        closed = await venue.close_position(order("close1", OrderKind.CLOSE_POSITION))
    assert closed.state is OrderState.FILLED and closed.filled_contracts == 2
    assert sim.position_contracts() == 0
