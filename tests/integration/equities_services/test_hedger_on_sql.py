"""The equity services over the SQL repository (SQLite, and PostgreSQL when it is there): the
hedger's paths that the in-memory book also runs, then a restart on a reopened store."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import open_store
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.fifo import replay
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.ids import broker_client_order_id
from tests.unit.equities_services.world import START_MS, make_world

D = Decimal


async def test_fills_hedges_a_reorg_and_a_restart_on_the_sql_store(database_url: str) -> None:
    clock = ManualClock(START_MS)
    store = await open_store(database_url, clock=clock)
    try:
        w = make_world(
            ("AAPL", "MSFT"),
            repo=store.equities,
            actions=store.operator_actions,
            clock=clock,
            fill_pieces=2,
        )
        await w.pnl.start()
        # tiny fills accumulate: 0.004 shares at 200 USD, three times, then one order
        for _ in range(3):
            w.mine(w.fill("AAPL", sold=True, shares="0.004", usdc="0.8"))
            await w.step()
        (first,) = w.broker.sent
        assert (first.side, first.quantity) == (OrderSide.BUY, D("0.012"))
        # filled in two pieces of 0.006: half now, half a second later
        assert (await w.exposure("AAPL")).exposure == D("-0.006")
        clock.advance(1)
        await w.hedger.cycle("recheck")
        assert (await w.exposure("AAPL")).exposure == 0
        # MSFT paused: its fill waits; a reorg then takes a hedged AAPL fill away
        await w.control.pause("MSFT", "alice", "halted")
        block = w.mine(
            w.fill("AAPL", sold=True, shares="1", usdc="150"),
            w.fill("MSFT", sold=True, shares="2", usdc="800", log_index=1),
        )
        await w.step()
        clock.advance(1)
        await w.hedger.cycle("recheck")
        assert (await w.exposure("AAPL")).exposure == 0
        assert (await w.exposure("MSFT")).exposure == D(-2)
        w.chain.reorg(block)
        w.chain.mine(1)
        await w.step("revert")
        (reverted,) = w.alerts(AlertKind.EQUITY_FILL_REVERTED)
        assert reverted.details["symbol"] == "AAPL"
        correcting = w.broker.sent[-1]
        assert (correcting.side, correcting.quantity) == (OrderSide.SELL, D(1))
        clock.advance(1)
        await w.hedger.cycle("recheck")
        exposures = await w.repo.exposures()
        assert exposures["AAPL"].exposure == 0 and exposures["MSFT"].exposure == 0
        assert await w.reconciler.check() == []
        await w.pnl.refresh()
        assert await store.equities.pnl_entries() == replay(await store.equities.trades())
        # an order left working when the process stops
        await w.control.resume("MSFT", "alice")
        w.broker.settings = w.broker.settings.__class__(latency_ms=5_000)
        w.mine(w.fill("MSFT", sold=True, shares="1", usdc="400"))
        await w.step()
        working = w.broker.sent[-1]
        assert working.client_order_id == broker_client_order_id("MSFT", 0)
    finally:
        await store.close()

    reopened = await open_store(database_url, clock=clock)
    try:
        again = make_world(
            ("AAPL", "MSFT"),
            repo=reopened.equities,
            actions=reopened.operator_actions,
            clock=clock,
            chain=w.chain,
            broker=w.broker,
        )
        await again.control.load()
        assert again.control.state()["symbols"]["MSFT"]["by"] == "alice"
        assert await again.pnl.start()  # the stored P&L equals its replay
        sent = len(w.broker.sent)
        await again.hedger.cycle("startup")
        assert len(w.broker.sent) == sent  # the working order is resolved, not sent again
        record = await reopened.equities.broker_order(working.client_order_id)
        assert record is not None and record.state is BrokerOrderState.WORKING
        clock.advance(5)
        await again.hedger.cycle("recheck")
        assert (await again.exposure("MSFT")).exposure == 0
        assert await again.ingestion.poll_once() == []  # nothing read twice
        assert await again.reconciler.check() == []
    finally:
        await reopened.close()
