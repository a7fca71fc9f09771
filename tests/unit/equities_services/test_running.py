"""The services running together as the bootstrap starts them, on a manual clock: a fill on
the chain reaches the broker and the P&L through the triggers alone."""

import asyncio
from decimal import Decimal

from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.pnl import PnlBucket
from pegkeeper.services.equities.hedger import EquityHedgerSettings
from pegkeeper.services.equities.ingestion import IngestionSettings
from tests.unit.equities_services.world import make_world, settle

D = Decimal


async def test_a_fill_reaches_the_broker_and_the_pnl_through_the_triggers() -> None:
    w = make_world(
        latency_ms=2_000,
        slippage_bps="10",
        ingestion_settings=IngestionSettings(poll_interval_seconds=5),
        hedger_settings=EquityHedgerSettings(recheck_open_order_seconds=1),
    )
    await w.control.pause("AAPL", "alice", "before the run")
    tasks = [asyncio.create_task(s.run()) for s in (w.ingestion, w.hedger, w.pnl)]
    try:
        await settle()
        assert w.hedger.ready.is_set() and w.control.loaded
        await w.control.resume("AAPL", "alice")
        w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
        w.clock.advance(5)  # the next poll reads the fill and wakes the hedger
        await settle()
        (order,) = w.broker.sent
        record = await w.repo.broker_order(order.client_order_id)
        assert record is not None and record.state is BrokerOrderState.WORKING
        w.clock.advance(1)
        await settle()
        w.clock.advance(1)  # the broker's latency has passed: the next recheck finds it
        await settle()
        record = await w.repo.broker_order(order.client_order_id)
        assert record is not None and record.state is BrokerOrderState.FILLED
        assert (await w.exposure("AAPL")).exposure == 0
        # onchain sold 1 at 100, bought back at 100 x 1.001 = 100.1: -0.10 within 300 s
        assert w.memory is not None and len(w.memory.entries) == 2
        aapl = w.pnl.symbols()["AAPL"]
        assert aapl.realised_by_bucket_usd[PnlBucket.COUNTER_TRADE] == D("-0.1")
        assert w.hedger.consecutive_failures == 0 and w.ingestion.consecutive_failures == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
