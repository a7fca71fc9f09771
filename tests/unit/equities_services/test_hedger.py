"""The equity hedger over the in-memory ledger and the dry-run broker: when it hedges, how
much, and that an order is never sent twice."""

import asyncio
from decimal import Decimal

import pytest

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.broker import BrokerKind, BrokerOrderState
from pegkeeper.domain.errors import (
    InvalidInput,
    OrderRejected,
    RateLimited,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.operator import OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.control import EquityControl
from pegkeeper.services.equities.hedger import EquityHedgerSettings
from pegkeeper.services.ids import broker_client_order_id
from tests.unit.equities_services.world import make_world, settle

D = Decimal


async def test_opposing_fills_that_cancel_out_send_no_order() -> None:
    w = make_world()
    w.mine(w.fill("AAPL", sold=True, shares="1.5", usdc="300"))
    w.mine(w.fill("AAPL", sold=False, shares="1.5", usdc="301.5"))
    await w.step()
    exposure = await w.exposure("AAPL")
    assert (exposure.onchain_net, exposure.exposure) == (D(0), D(0))
    assert w.broker.sent == []
    status = w.hedger.status()["AAPL"]
    assert status.waiting == "no open exposure" and status.last_price_usd == D(201)


async def test_tiny_fractional_fills_accumulate_to_the_dollar_minimum() -> None:
    w = make_world()
    # each fill: the maker sold 0.004 shares at 200 USD = 0.80 USD; the minimum is 2 USD
    for expected in ("-0.004", "-0.008"):
        w.mine(w.fill("AAPL", sold=True, shares="0.004", usdc="0.8"))
        await w.step()
        assert (await w.exposure("AAPL")).exposure == D(expected)
        assert w.broker.sent == []
        assert "below the 2 USD minimum" in w.hedger.status()["AAPL"].waiting
    w.mine(w.fill("AAPL", sold=True, shares="0.004", usdc="0.8"))
    await w.step()  # 0.012 shares x 200 = 2.40 USD: buy them back
    (order,) = w.broker.sent
    assert (order.side, order.quantity) == (OrderSide.BUY, D("0.012"))
    assert (await w.exposure("AAPL")).exposure == 0
    covers = await w.repo.fills_of("AAPL", 10)
    assert [sum(a.shares for a, _ in c.covers) for c in covers] == [D("0.004")] * 3


async def test_whole_share_broker_hedges_floor_of_the_exposure() -> None:
    w = make_world(kind=BrokerKind.WHOLE_SHARES)
    for _ in range(3):  # 0.4 shares each at 200 USD
        w.mine(w.fill("AAPL", sold=True, shares="0.4", usdc="80"))
    await w.step()
    (order,) = w.broker.sent
    assert (order.side, order.quantity) == (OrderSide.BUY, D(1))  # floor(1.2)
    assert (await w.exposure("AAPL")).exposure == D("-0.2")
    newest_first = await w.repo.fills_of("AAPL", 10)
    assert [sum(a.shares for a, _ in c.covers) for c in newest_first] == [
        D("0.2"),
        D("0.4"),
        D("0.4"),
    ]


async def test_partial_fills_then_cancel_leave_the_rest_to_a_new_order() -> None:
    w = make_world(fill_pieces=4)  # one quarter now, one more each second
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="200"))
    await w.step()
    first = w.broker.sent[0]
    assert first.client_order_id == broker_client_order_id("AAPL", 0)
    status = (await w.hedger.statuses())["AAPL"]
    assert (status.exposure, status.pending) == (D("-1.5"), D("1.5"))
    w.clock.advance(1)
    await w.hedger.cycle("recheck")  # resolved: a second quarter filled, nothing new sent
    assert (await w.exposure("AAPL")).exposure == D("-1.0") and len(w.broker.sent) == 1
    state = await w.hedger.execution.cancel(first)
    assert state is BrokerOrderState.CANCELED
    record = await w.repo.broker_order(first.client_order_id)
    assert record is not None and record.filled_quantity == D("1.0")
    exposure = await w.exposure("AAPL")
    assert exposure.exposure == D("-1.0") and exposure.in_flight is None
    await w.hedger.cycle("periodic")
    second = w.broker.sent[1]
    assert second.client_order_id == broker_client_order_id("AAPL", 1)
    assert (second.side, second.quantity) == (OrderSide.BUY, D(1))
    w.clock.advance(3)
    await w.hedger.cycle("recheck")
    assert (await w.exposure("AAPL")).exposure == 0
    assert await w.reconciler.check() == []


async def test_an_over_fill_is_recorded_and_hedged_back() -> None:
    w = make_world()
    w.broker.overfill_next_by(D("0.5"))
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    first = w.broker.sent[0]
    record = await w.repo.broker_order(first.client_order_id)
    assert record is not None and record.filled_quantity == D("1.5")
    assert (await w.exposure("AAPL")).exposure == D("0.5")  # long at the broker now
    await w.hedger.cycle("periodic")
    second = w.broker.sent[1]
    assert (second.side, second.quantity) == (OrderSide.SELL, D("0.5"))
    assert (await w.exposure("AAPL")).exposure == 0
    assert await w.reconciler.check() == []


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OrderRejected("insufficient buying power"), "refused: insufficient buying power"),
        (VenueUnavailable("rate limited"), "not processed: rate limited"),
    ],
)
async def test_a_failed_order_leaves_the_exposure_and_the_next_check_fires_again(
    error: Exception, message: str
) -> None:
    w = make_world()
    w.broker.fail_next_with(error)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    failed = await w.repo.broker_order(broker_client_order_id("AAPL", 0))
    assert failed is not None
    assert (failed.state, failed.message) == (BrokerOrderState.FAILED, message)
    assert (await w.exposure("AAPL")).exposure == D(-1)
    status = w.hedger.status()["AAPL"]
    assert str(error) in status.last_error and str(error) in status.waiting
    (alert,) = w.alerts(AlertKind.EQUITY_ORDER_FAILED)
    assert alert.details["client_order_id"] == failed.intent.client_order_id
    w.clock.advance(60)
    await w.hedger.cycle("periodic")
    (sent,) = w.broker.sent  # the refused one never reached the broker
    assert sent.client_order_id == broker_client_order_id("AAPL", 1)
    assert (await w.exposure("AAPL")).exposure == 0
    assert w.hedger.status()["AAPL"].last_error == ""
    resolved = w.alerts(AlertKind.EQUITY_ORDER_FAILED)[-1]
    assert resolved.severity is Severity.RESOLVED


async def test_an_uncertain_place_found_by_lookup_is_never_sent_twice() -> None:
    w = make_world()
    w.broker.timeout_after_accept_next()
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    (sent,) = w.broker.sent
    record = await w.repo.broker_order(sent.client_order_id)
    assert record is not None and record.state is BrokerOrderState.FILLED
    assert record.message.startswith("found after: read timeout")
    w.clock.advance(60)
    await w.hedger.cycle("periodic")
    assert len(w.broker.sent) == 1 and (await w.exposure("AAPL")).exposure == 0


async def test_an_uncertain_place_the_broker_never_saw_is_lost_after_the_window() -> None:
    w = make_world(hedger_settings=EquityHedgerSettings(order_lookup_window_seconds=30))
    w.broker.fail_next_with(VenueUncertain("connection reset"))
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    first_id = broker_client_order_id("AAPL", 0)
    record = await w.repo.broker_order(first_id)
    assert record is not None and record.state is BrokerOrderState.UNKNOWN
    w.clock.advance(29)
    await w.hedger.cycle("recheck")  # unknown to the broker, inside the window: wait
    assert w.broker.sent == []
    assert w.hedger.status()["AAPL"].waiting == "an order is in flight"
    w.clock.advance(1)
    await w.hedger.cycle("recheck")  # lost; then the exposure is hedged by a new order
    record = await w.repo.broker_order(first_id)
    assert record is not None and record.state is BrokerOrderState.LOST
    (sent,) = w.broker.sent
    assert sent.client_order_id == broker_client_order_id("AAPL", 1)
    assert (await w.exposure("AAPL")).exposure == 0


async def test_restart_resolves_the_order_in_flight_before_sending_anything() -> None:
    w = make_world(latency_ms=5_000)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    assert len(w.broker.sent) == 1
    # a new process over the same store, broker and chain
    again = make_world(repo=w.repo, broker=w.broker, clock=w.clock, chain=w.chain)
    await again.hedger.cycle("startup")
    assert len(w.broker.sent) == 1  # still working: nothing new
    assert again.hedger.status()["AAPL"].in_flight is not None
    w.clock.advance(5)
    await again.hedger.cycle("recheck")
    assert (await again.exposure("AAPL")).exposure == 0
    again.mine(again.fill("AAPL", sold=False, shares="0.5", usdc="51"))
    await again.ingestion.poll_once()
    assert w.chain.reads[-1] == (2, 2)  # from the checkpoint (block 1) + 1
    await again.hedger.cycle("fill")
    # the order numbers go on from the store's: a retried order keeps its id
    assert w.broker.sent[-1].client_order_id == broker_client_order_id("AAPL", 1)


async def test_forty_symbols_are_hedged_in_one_cycle() -> None:
    symbols = tuple(f"S{i:02d}" for i in range(40))
    w = make_world(symbols)
    events = [
        # (i + 1) x 0.5 shares at 10 + i USD: the smallest is 5 USD, above the minimum
        w.fill(
            s, sold=True, shares=str(D(i + 1) / 2), usdc=str(D(i + 1) / 2 * (10 + i)), log_index=i
        )
        for i, s in enumerate(symbols)
    ]
    w.mine(*events)
    await w.step()
    assert len(w.broker.sent) == 40
    assert {o.symbol: o.quantity for o in w.broker.sent} == {
        s: D(i + 1) / 2 for i, s in enumerate(symbols)
    }
    exposures = await w.repo.exposures()
    assert all(e.exposure == 0 for e in exposures.values())
    assert await w.reconciler.check() == []


async def test_pause_and_resume_per_symbol_and_for_all() -> None:
    w = make_world(("AAPL", "MSFT"))
    await w.control.pause("AAPL", "alice", "earnings call")
    w.mine(
        w.fill("AAPL", sold=True, shares="1", usdc="100"),
        w.fill("MSFT", sold=True, shares="1", usdc="400", log_index=1),
    )
    await w.step()
    assert [o.symbol for o in w.broker.sent] == ["MSFT"]
    aapl = w.hedger.status()["AAPL"]
    assert aapl.paused and aapl.waiting == "paused by an operator" and aapl.exposure == D(-1)
    await w.control.resume("AAPL", "alice")
    await w.hedger.cycle("operator")
    assert [o.symbol for o in w.broker.sent] == ["MSFT", "AAPL"]
    await w.control.pause(None, "bob", "broker maintenance")
    await w.control.pause(None, "carol")  # already paused: recorded, unchanged
    w.mine(
        w.fill("AAPL", sold=True, shares="1", usdc="100"),
        w.fill("MSFT", sold=True, shares="1", usdc="400", log_index=1),
    )
    await w.step()
    assert len(w.broker.sent) == 2
    state = w.control.state()
    assert state["global"] == {
        "paused": True,
        "by": "bob",
        "since_ms": state["global"]["since_ms"],
        "note": "broker maintenance",
    }
    assert state["symbols"]["AAPL"]["paused"] is False and state["symbols"]["AAPL"]["by"] == "alice"
    results = [(a.action, a.target, a.result) for a in reversed(await w.actions.recent(10))]
    assert results == [
        (OperatorActionKind.PAUSE_EQUITIES, "AAPL", OperatorResult.DONE),
        (OperatorActionKind.RESUME_EQUITIES, "AAPL", OperatorResult.DONE),
        (OperatorActionKind.PAUSE_EQUITIES, "all", OperatorResult.DONE),
        (OperatorActionKind.PAUSE_EQUITIES, "all", OperatorResult.UNCHANGED),
    ]
    # a restart finds the switches as operators left them
    restored = EquityControl(w.actions, w.clock, ("AAPL", "MSFT"))
    await restored.load()
    assert restored.state() == state
    assert restored.paused("MSFT") and restored.paused("AAPL")
    # the dealer hedger's switch is not the equities'
    assert not OperatorActionKind.PAUSE_EQUITIES.sets_hedging_state
    with pytest.raises(InvalidInput, match="unknown equity symbol 'TSLA'"):
        await w.control.pause("TSLA", "alice")


async def test_an_exposure_left_unhedged_past_the_limit_raises_one_alert() -> None:
    w = make_world(hedger_settings=EquityHedgerSettings(unhedged_alert_seconds=600))
    await w.control.pause("AAPL", "alice")
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="100"))
    await w.step()
    assert w.alerts(AlertKind.EQUITY_UNHEDGED) == []
    w.clock.advance(600)
    await w.hedger.cycle("periodic")
    await w.hedger.cycle("periodic")
    (alert,) = w.alerts(AlertKind.EQUITY_UNHEDGED)
    assert alert.details == {"symbol": "AAPL", "exposure": "-1"}
    assert "paused by an operator" in alert.message
    await w.control.resume("AAPL", "alice")
    await w.hedger.cycle("operator")
    assert w.alerts(AlertKind.EQUITY_UNHEDGED)[-1].severity is Severity.RESOLVED


async def test_an_order_number_another_process_took_is_counted_again_not_sent_twice() -> None:
    first = make_world()
    first.mine(first.fill("AAPL", sold=True, shares="1", usdc="200"))
    await first.step()  # AAPL-0; its next number, 1, needs no lookup from now on
    second = make_world(repo=first.repo, chain=first.chain, broker=first.broker, clock=first.clock)
    second.mine(second.fill("AAPL", sold=True, shares="1", usdc="200"))
    await second.step()  # counts the orders at start (1) and looks 1 up: free
    first.mine(first.fill("AAPL", sold=True, shares="1", usdc="200"))
    await first.step()  # 1 is taken: refused by the store, nothing sent
    assert [o.client_order_id for o in first.broker.sent] == [
        broker_client_order_id("AAPL", 0),
        broker_client_order_id("AAPL", 1),
    ]
    assert first.hedger.status()["AAPL"].waiting.startswith("order id taken")
    await first.hedger.cycle("order id taken")  # the cycle it asked for: counts again
    assert first.broker.sent[-1].client_order_id == broker_client_order_id("AAPL", 2)
    assert (await first.exposure("AAPL")).exposure == 0


async def test_a_rate_limited_order_waits_as_asked_and_is_sent_once() -> None:
    w = make_world()
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="200"))
    await w.ingestion.poll_once()
    w.broker.fail_next_with(RateLimited("429 too many requests", retry_after_seconds=2))
    cycle = asyncio.create_task(w.hedger.cycle("fill"))
    await settle()
    assert not cycle.done() and w.broker.sent == []  # waiting out the 2 s
    w.clock.advance(2)
    await cycle
    (order,) = w.broker.sent
    assert order.client_order_id == broker_client_order_id("AAPL", 0)
    assert (await w.exposure("AAPL")).exposure == 0
    assert w.alerts(AlertKind.EQUITY_ORDER_FAILED) == []
