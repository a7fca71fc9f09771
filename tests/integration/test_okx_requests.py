"""REST requests per hedge order, counted by the OKX simulator's request log: the position and
the balances the hedger reads before and after each order come from the private WebSocket's
pushes while they are fresh, and from REST when the stream is stale or was interrupted, never
from a push that predates a fill the adapter knows of.

Targets by hand (stablesats policy, 100 USD contracts): 10 000 USD of liability from flat sells
98 contracts (0.98); 20 000 USD against a short of 98 sells up to 196; back to 10 000 (a ratio
of 1.96, above 1.03) buys back down to 100 (1.00); 20 000 again sells 96.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from pegkeeper.adapters.venues.okx import OkxVenue
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.venue import VenueResync
from tests.okx_sim import RunningSim, running_sim
from tests.okx_world import FAST_VENUE, World, hedging_world, okx_venue

SWAP = "BTC-USD-SWAP"
EVENTS = 8
MAX_REST_PER_HEDGE = 3
POSITIONS = "GET account/positions"


def market(client_id: str, side: OrderSide, contracts: int) -> OrderIntent:
    return OrderIntent(client_id, SWAP, OrderKind.MARKET, side, Decimal(contracts), "d", "c", 0)


def requests(sim: RunningSim) -> Counter[str]:
    return Counter(sim.ctx.rest_requests)


async def settled(world: World, target: int) -> None:
    """Converged, and the cycle that the fill's own push triggers is over."""
    await world.converged(target)
    await asyncio.sleep(0.3)
    async with world.hedger.control.turn:
        pass


async def test_a_hedge_order_costs_at_most_three_rest_requests(tmp_path: Path) -> None:
    async with hedging_world(tmp_path) as world:
        await world.post("warm", 1_000_000)
        await settled(world, -98)  # the start's reads (account, orders, funding) are not counted
        per_order: list[Counter[str]] = []
        for i in range(EVENTS):
            before = requests(world.sim)
            delta, target = (1_000_000, -196) if i % 2 == 0 else (-1_000_000, -100)
            await world.post(f"e{i}", delta)
            await settled(world, target)
            per_order.append(requests(world.sim) - before)
        orders = await world.check_books()
        assert len(orders) == EVENTS + 1 and {o.state for o in orders} == {OrderState.FILLED}
        for spent in per_order:
            assert spent.total() <= MAX_REST_PER_HEDGE, spent
            assert spent["POST trade/order"] == 1, spent
        total = sum(per_order, Counter())
        assert total.total() / EVENTS <= MAX_REST_PER_HEDGE
        assert not total[POSITIONS] and not total["GET account/balance"], total
        assert not total["GET public/mark-price"], total
        snapshot = await world.store.hedge.last_position()
        assert snapshot is not None and snapshot.size_contracts == -100


async def test_a_fill_the_push_missed_is_read_over_rest_by_the_hedger(tmp_path: Path) -> None:
    # the socket falls silent just before the order: the pushes held are fresh but predate the
    # fill, so the read after it must not use them
    venue = replace(FAST_VENUE, ws_silence_seconds=5.0, ws_fresh_seconds=3.0)
    async with hedging_world(tmp_path, venue_settings=venue) as world:
        await world.post("warm", 1_000_000)
        await settled(world, -98)
        before = requests(world.sim)
        world.sim.faults.set("ws_silent", "on")
        await world.post("e1", 1_000_000)
        await world.converged(-196)
        await world.until(lambda: requests(world.sim)[POSITIONS] > before[POSITIONS], "REST")
        async with world.hedger.control.turn:
            snapshot = await world.store.hedge.last_position()
        assert snapshot is not None and snapshot.size_contracts == -196
        world.sim.faults.set("ws_silent", "off")
        assert len(await world.check_books()) == 2


@asynccontextmanager
async def streaming(sim: RunningSim, **settings: float) -> AsyncIterator[OkxVenue]:
    """The venue with its position stream running, once the stream has pushed."""
    async with okx_venue(sim, replace(FAST_VENUE, **settings)) as venue:
        changes = venue.position_changes(SWAP)
        task = asyncio.create_task(anext(changes))
        first = await asyncio.wait_for(task, 5)
        assert not isinstance(first, VenueResync)

        async def drain() -> None:
            async for _ in changes:
                pass

        draining = asyncio.create_task(drain())
        try:
            await asyncio.sleep(0.3)  # account and mark price pushed as well
            yield venue
        finally:
            draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await draining


async def read_costs(sim: RunningSim, venue: OkxVenue) -> tuple[Decimal, Counter[str]]:
    before = requests(sim)
    position = await venue.position(SWAP)
    return position.size_contracts, requests(sim) - before


async def test_reads_come_from_fresh_pushes_and_never_predate_a_known_fill() -> None:
    async with (
        running_sim() as sim,
        streaming(sim, ws_silence_seconds=5.0, ws_fresh_seconds=3.0) as venue,
    ):
        await venue.place_market_order(market("r1", OrderSide.SELL, 5))
        size, spent = await read_costs(sim, venue)
        assert size == -5 and spent.total() == 0, spent  # the fill's push, no request
        before = requests(sim)
        balances = await venue.balances("BTC")
        assert balances.trading_equity > 0
        spent = requests(sim) - before
        assert not spent["GET account/balance"], spent

        sim.faults.set("ws_silent", "on")  # fresh pushes held, and a fill none of them carries
        await venue.place_market_order(market("r2", OrderSide.SELL, 3))
        size, spent = await read_costs(sim, venue)
        assert size == -8 and spent[POSITIONS] == 1, spent
        sim.faults.set("ws_silent", "off")


async def test_a_stale_stream_is_not_used() -> None:
    async with (
        running_sim() as sim,
        streaming(sim, ws_silence_seconds=5.0, ws_fresh_seconds=0.4) as venue,
    ):
        size, spent = await read_costs(sim, venue)
        assert size == 0 and spent.total() == 0, spent
        sim.faults.set("ws_silent", "on")
        await asyncio.sleep(0.6)  # older than ws_fresh_seconds, the watchdog not fired yet
        size, spent = await read_costs(sim, venue)
        assert size == 0 and spent[POSITIONS] == 1, spent
        assert venue.watches[0].reconnects == 0
        sim.faults.set("ws_silent", "off")


async def test_an_interrupted_stream_is_not_used_until_it_pushes_again() -> None:
    async with running_sim() as sim, streaming(sim, ws_silence_seconds=1.0) as venue:
        interruptions = venue.pushes.interruptions
        sim.faults.set("ws_silent", "on")  # nothing pushed, nor any login answered, for now
        # another client trades: the pushes held (flat, fresh) do not know it
        sim.engine.place_market_order("other", SWAP, OrderSide.SELL, Decimal(2), sim.ctx.now_ms())
        assert await sim.exchange.server.hub.drop_all() >= 1
        await _until(lambda: venue.pushes.interruptions > interruptions)
        size, spent = await read_costs(sim, venue)
        assert size == -2 and spent[POSITIONS] == 1, spent
        sim.faults.set("ws_silent", "off")
        deadline = asyncio.get_running_loop().time() + 5
        while spent.total():  # until the socket dialled again pushes
            assert asyncio.get_running_loop().time() < deadline, "no push after reconnecting"
            await asyncio.sleep(0.1)
            size, spent = await read_costs(sim, venue)
            assert size == -2
        assert venue.watches[0].reconnects >= 1


async def _until(check: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
