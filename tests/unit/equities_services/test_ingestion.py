"""Chain ingestion over a chain in memory: ranges, classification, reorgs, failures, liveness."""

import asyncio
from decimal import Decimal

import pytest

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.chain import SkipReason
from pegkeeper.domain.errors import ChainError, ChainIncomplete, InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.ingestion import IngestionSettings
from pegkeeper.services.trigger_loop import backoff_delay_seconds
from tests.fakes_equities import BLOCK_SECONDS, USDC, take_order, token_address
from tests.unit.equities_services.world import make_world, settle

D = Decimal


async def test_backfill_reads_bounded_ranges_from_the_deployment_block() -> None:
    w = make_world(ingestion_settings=IngestionSettings(deployment_block=5, range_blocks=10))
    w.chain.mine(9)  # blocks 1-9
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))  # block 10
    w.chain.mine(24)  # up to block 34
    fills = await w.ingestion.poll_once()
    assert w.chain.reads == [(5, 14), (15, 24), (25, 34)]
    assert [f.ref.block_number for f in fills] == [10]
    checkpoint = await w.repo.checkpoint()
    assert checkpoint is not None and checkpoint.number == 34
    figures = w.ingestion.figures()
    assert (figures.checkpoint_block, figures.lag_blocks, figures.lag_seconds) == (34, 0, 0)
    assert figures.fills_ingested == 1 and figures.last_success_ms == w.clock.now_ms()


async def test_the_cutoff_depth_holds_back_the_newest_blocks() -> None:
    w = make_world(depth=3)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))  # block 1
    w.chain.mine(2)  # head 3: cutoff 0
    assert await w.ingestion.poll_once() == []
    w.chain.mine(1)  # head 4: cutoff 1
    assert len(await w.ingestion.poll_once()) == 1


async def test_every_log_is_a_fill_or_a_skipped_one_alerted_once_per_reason_and_token() -> None:
    w = make_world()
    stranger = token_address(0xBAD)
    aapl, wrapper = w.token("AAPL"), w.wrapper("AAPL")
    refs = [w.chain.next_ref(i) for i in range(6)]
    events = [
        take_order(refs[0], stranger, maker_sold=True, shares=D(1), usdc=D(100)),
        take_order(refs[1], stranger, maker_sold=False, shares=D(2), usdc=D(200)),
        # a wrap pair: tAAPL for wtAAPL, not stock for USDC
        take_order(refs[2], aapl, maker_sold=True, shares=D(1), usdc=D(1), usdc_token=wrapper),
        take_order(refs[3], aapl, maker_sold=True, shares=D(1), usdc=D(100), owner=USDC),
        take_order(refs[4], aapl, maker_sold=True, shares=D("0.5"), usdc=D(75)),
    ]
    w.mine(*events)
    w.chain.undecodable("unknown topic0 0xdead")
    w.chain.undecodable("short data")
    fills = await w.ingestion.poll_once()
    assert [(f.symbol, f.shares, f.price_usd) for f in fills] == [("AAPL", D("0.5"), D(150))]
    reasons = sorted(s.reason for s in w.memory.skipped.values())  # type: ignore[union-attr]
    assert reasons == sorted(
        [
            SkipReason.UNKNOWN_TOKEN,
            SkipReason.UNKNOWN_TOKEN,
            SkipReason.NOT_STOCK_USDC,
            SkipReason.NOT_OUR_ORDER,
            SkipReason.UNDECODABLE,
            SkipReason.UNDECODABLE,
        ]
    )
    figures = w.ingestion.figures()
    assert figures.skipped_by_reason == {
        "unknown_token": 2,
        "not_stock_usdc": 1,
        "not_our_order": 1,
        "undecodable": 2,
    }
    alerted = [a.details["reason"] for a in w.alerts(AlertKind.EQUITY_LOG_SKIPPED)]
    # one per reason and token; other makers' orders are expected, never alerted
    assert sorted(alerted) == ["not_stock_usdc", "undecodable", "unknown_token"]


async def test_a_token_read_that_fails_skips_the_log_and_ingestion_goes_on() -> None:
    w = make_world(("AAPL", "MSFT"))
    await w.ingestion.start()
    w.chain.unreadable.add(w.wrapper("AAPL"))  # convertToAssets now reverts
    w.mine(
        w.fill("AAPL", sold=True, shares="1", usdc="150", wrapped=True),
        w.fill("MSFT", sold=True, shares="1", usdc="400", log_index=1),
    )
    fills = await w.ingestion.poll_once()
    assert [f.symbol for f in fills] == ["MSFT"]
    (skipped,) = w.memory.skipped.values()  # type: ignore[union-attr]
    assert skipped.reason is SkipReason.TOKEN_UNREADABLE and w.wrapper("AAPL") in skipped.detail


async def test_a_node_that_does_not_answer_a_token_read_fails_the_range_instead() -> None:
    w = make_world()
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150", wrapped=True))
    w.chain.fail("shares_per_token", ChainError("node timeout"))
    with pytest.raises(ChainError, match="node timeout"):
        await w.ingestion.poll_once()
    assert await w.repo.checkpoint() is None and w.memory.skipped == {}  # type: ignore[union-attr]
    (fill,) = await w.ingestion.poll_once()  # read again: the fill is not lost
    assert fill.shares == 1


async def test_wrapped_amounts_are_converted_at_the_fills_block() -> None:
    w = make_world()
    w.chain.ratios[w.wrapper("AAPL")] = D("1.05")
    # the maker sold 2 wtAAPL = 2.1 underlying shares for 315 USDC: 150 USD per share
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="315", wrapped=True))
    (fill,) = await w.ingestion.poll_once()
    assert (fill.shares, fill.price_usd, fill.shares_per_token) == (D("2.1"), D(150), D("1.05"))


async def test_the_checkpoint_never_moves_past_a_range_that_failed() -> None:
    w = make_world(range_blocks=10)
    w.chain.mine(12)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))  # block 13
    w.chain.mine(10)  # head 23
    w.chain.fail("read_range", None, ChainIncomplete("short page"))
    with pytest.raises(ChainIncomplete):
        await w.ingestion.poll_once()
    checkpoint = await w.repo.checkpoint()
    assert checkpoint is not None and checkpoint.number == 9  # the first range only
    assert (await w.repo.exposures())["AAPL"].onchain_net == 0
    figures = w.ingestion.figures()
    assert (figures.lag_blocks, figures.lag_seconds) == (14, 14 * BLOCK_SECONDS)
    await w.ingestion.poll_once()
    assert w.chain.reads == [(0, 9), (10, 19), (20, 23)]
    assert (await w.repo.exposures())["AAPL"].onchain_net == D(-1)


async def test_failures_are_retried_with_backoff_and_a_stall_is_alerted() -> None:
    settings = IngestionSettings(poll_interval_seconds=5, checkpoint_stall_alert_seconds=30)
    w = make_world(ingestion_settings=settings)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))
    await w.ingestion.start()
    w.chain.fail("read_range", *(ChainError("node timeout") for _ in range(4)))
    task = asyncio.create_task(w.ingestion.run())
    await settle()
    assert w.ingestion.figures().consecutive_failures == 1
    first_delay = backoff_delay_seconds(5, 300, 1)  # 10 s
    w.clock.advance(first_delay - 1)
    await settle()
    assert w.ingestion.figures().consecutive_failures == 1  # not retried before its time
    w.clock.advance(1)
    await settle()
    assert w.ingestion.figures().consecutive_failures == 2
    assert w.alerts(AlertKind.EQUITY_INGESTION_STALLED) == []
    w.clock.advance(backoff_delay_seconds(5, 300, 2))  # 20 s: 30 s without progress
    await settle()
    figures = w.ingestion.figures()
    assert figures.consecutive_failures == 3 and figures.stalled
    assert figures.checkpoint_block is None and "node timeout" in figures.last_error
    (stalled,) = w.alerts(AlertKind.EQUITY_INGESTION_STALLED)
    assert stalled.severity is Severity.CRITICAL
    w.clock.advance(backoff_delay_seconds(5, 300, 3))
    await settle()
    w.clock.advance(backoff_delay_seconds(5, 300, 4))
    await settle()
    figures = w.ingestion.figures()
    assert figures.consecutive_failures == 0 and figures.checkpoint_block == 1
    assert w.alerts(AlertKind.EQUITY_INGESTION_STALLED)[-1].severity is Severity.RESOLVED
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_reorg_before_hedging_undoes_the_exposure_without_an_alert() -> None:
    w = make_world()
    await w.control.pause(None, "alice")
    event = w.fill("AAPL", sold=True, shares="1", usdc="150")
    block = w.mine(event)
    w.chain.mine(2)
    await w.step()
    assert (await w.exposure("AAPL")).exposure == D(-1)
    w.chain.reorg(block)  # the fill's block and those after it replaced, without the fill
    w.chain.mine(1)
    await w.ingestion.poll_once()
    assert (await w.exposure("AAPL")).exposure == 0
    assert w.alerts(AlertKind.EQUITY_FILL_REVERTED) == []
    assert w.ingestion.figures().reorgs == 1 and w.ingestion.figures().fills_reverted == 1
    # the same transaction mined again in a later block is the same fill, live again
    ref = w.chain.next_ref()
    again = take_order(
        ref.__class__(
            ref.block_number, ref.block_hash, event.ref.tx_hash, 0, ref.block_timestamp_s
        ),
        w.token("AAPL"),
        maker_sold=True,
        shares=D(1),
        usdc=D(150),
    )
    w.mine(again)
    await w.ingestion.poll_once()
    assert (await w.exposure("AAPL")).exposure == D(-1)


async def test_a_reorg_after_hedging_alerts_and_a_correcting_hedge_follows() -> None:
    w = make_world()
    block = w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))
    await w.step()
    (hedge,) = w.broker.sent
    assert (hedge.side, hedge.quantity) == (OrderSide.BUY, D(1))
    w.chain.reorg(block)
    w.chain.mine(1)
    await w.step("revert")
    (alert,) = w.alerts(AlertKind.EQUITY_FILL_REVERTED)
    assert alert.title == "AAPL: a hedged fill was reverted; a correcting hedge follows"
    correcting = w.broker.sent[1]
    assert (correcting.side, correcting.quantity) == (OrderSide.SELL, D(1))
    exposure = await w.exposure("AAPL")
    assert (exposure.onchain_net, exposure.broker_net, exposure.exposure) == (0, 0, 0)
    assert await w.reconciler.check() == []


async def test_the_same_fill_delivered_twice_is_one_fill() -> None:
    w = make_world()
    event = w.fill("AAPL", sold=True, shares="1", usdc="150")
    w.mine(event, event)
    assert len(await w.ingestion.poll_once()) == 1
    assert (await w.exposure("AAPL")).exposure == D(-1)


async def test_a_restart_resumes_from_the_checkpoint_without_losing_or_repeating() -> None:
    w = make_world(range_blocks=5)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="150"))
    w.chain.mine(3)
    await w.ingestion.poll_once()
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="300"))
    again = make_world(repo=w.repo, clock=w.clock, chain=w.chain, broker=w.broker)
    assert [f.ref.block_number for f in await again.ingestion.poll_once()] == [5]
    assert w.chain.reads[-1] == (5, 5)
    assert (await again.exposure("AAPL")).onchain_net == D(-3)


async def test_start_refuses_a_configured_token_that_is_not_a_contract() -> None:
    w = make_world(("AAPL", "MSFT"))
    w.chain.unreadable.add(w.token("MSFT"))
    with pytest.raises(InvalidInput, match=r"equities\.assets\[1\]\.tokens\[0\] \(MSFT\)"):
        await w.ingestion.start()


async def test_start_waits_for_a_node_that_does_not_answer_instead_of_refusing() -> None:
    w = make_world(ingestion_settings=IngestionSettings(poll_interval_seconds=5))
    w.chain.fail("token", ChainError("connection refused"))
    start = asyncio.create_task(w.ingestion.start())
    await settle()
    assert not start.done() and w.ingestion.consecutive_failures == 1
    w.clock.advance(backoff_delay_seconds(5, 300, 1))
    await settle()
    assert start.done() and start.exception() is None


async def test_a_reorg_of_depth_five_reverts_every_fill_from_the_fork() -> None:
    w = make_world()
    await w.control.pause(None, "alice")
    for i in range(5):  # blocks 1-5, the maker sells 1 share in each
        w.mine(w.fill("AAPL", sold=True, shares="1", usdc=str(100 + i)))
    w.chain.mine(5)  # head 10
    await w.ingestion.poll_once()
    assert (await w.exposure("AAPL")).exposure == D(-5)
    w.chain.reorg(6)  # blocks 6-10: empty ones already, new hashes
    w.chain.reorg(4)  # blocks 4-10 replaced: the fills of blocks 4 and 5 are gone
    await w.ingestion.poll_once()
    exposure = await w.exposure("AAPL")
    assert exposure.exposure == D(-3) and exposure.last_price_usd == D(102)
    assert w.ingestion.figures().fills_reverted == 2


async def test_each_poll_asks_the_newest_kept_hash_and_all_of_them_after_a_change() -> None:
    w = make_world(ingestion_settings=IngestionSettings(keep_block_hashes=3))
    w.chain.mine(10)
    await w.ingestion.poll_once()  # keeps 8-10
    w.chain.mine(2)
    await w.ingestion.poll_once()  # block 10 unchanged: its ancestors are too; keeps 10-12
    await w.ingestion.poll_once()
    assert w.chain.hash_requests == [[10], [12]]
    w.chain.reorg(11)
    await w.ingestion.poll_once()
    assert w.chain.hash_requests[2:] == [[12], [10, 11, 12]]
    assert await w.repo.checkpoint() == w.chain.blocks[12].ref  # read again on the new fork


async def test_a_reorg_below_the_kept_hashes_is_alerted_as_possibly_deeper() -> None:
    w = make_world(ingestion_settings=IngestionSettings(keep_block_hashes=3))
    w.chain.mine(10)  # head 10: the hashes of blocks 8-10 are kept
    await w.ingestion.poll_once()
    w.chain.reorg(2)
    await w.ingestion.poll_once()
    (alert,) = w.alerts(AlertKind.EQUITY_FILL_REVERTED)
    assert alert.title == "reorg at the oldest kept block" and alert.details == {"block": "8"}


async def test_a_stop_that_meets_a_failing_read_stops_ingestion() -> None:
    """Ctrl-C stops the node and pegkeeper at once: the cancel arrives as the node's read
    fails, and must end the loop rather than count as one more failure to retry."""
    w = make_world()
    task = asyncio.create_task(w.ingestion.run())
    await settle()
    read: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    w.chain.cutoff = lambda: read  # type: ignore[method-assign]
    w.clock.advance(60)  # the next poll, which waits on `read`
    await settle()
    read.set_exception(ChainError("connection refused"))
    task.cancel()
    await settle()
    assert task.cancelled()
