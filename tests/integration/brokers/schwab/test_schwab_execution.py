"""The services over the Schwab broker: the execution core's broker path with the SQL store (an
order whose POST timed out after Schwab took it is found at once and recorded with its fills;
one Schwab never took is lost, not sent again), and the broker probe behind `/readyz`."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.equities.sessions import Session
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.broker_probe import BrokerProbe, ProbeNeeds
from pegkeeper.services.execution.broker_orders import BrokerOrderExecution
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import AAPL_USD, MakeBroker, intent


async def test_a_timeout_after_accept_is_resolved_by_the_lookup_into_one_recorded_order(
    server: SchwabServer,
    make_broker: MakeBroker,
    logged_in: object,
    sql_store: SqlStore,
    clock: ManualClock,
) -> None:
    broker = await make_broker(request_timeout_seconds=0.2)
    execution = BrokerOrderExecution(sql_store.equities, broker, clock, lookup_window_seconds=30)
    hedge = intent("h1", OrderSide.SELL, "4", clock.now_ms())
    server.hang_next("place_order", 30.0)

    sent = await execution.submit(hedge, "exposure 4.7 long")

    assert sent.outcome is Outcome.ACCEPTED
    assert sent.state is BrokerOrderState.FILLED
    (order_id,) = server.book.orders
    assert server.requests["place_order"] == 1
    record = await sql_store.equities.broker_order("h1")
    assert record is not None
    assert (record.state, record.broker_order_id) == (BrokerOrderState.FILLED, str(order_id))
    assert record.filled_quantity == Decimal(4)
    assert sent.report is not None
    assert [f.price_usd for f in sent.report.fills] == [AAPL_USD]


async def test_an_order_schwab_never_took_is_unknown_then_lost_and_never_resent(
    server: SchwabServer,
    make_broker: MakeBroker,
    logged_in: object,
    sql_store: SqlStore,
    clock: ManualClock,
) -> None:
    broker = await make_broker()
    execution = BrokerOrderExecution(sql_store.equities, broker, clock, lookup_window_seconds=30)
    hedge = intent("h1", OrderSide.BUY, "2", clock.now_ms())
    server.fail_next("place_order", 502)

    sent = await execution.submit(hedge, "exposure -2")

    assert sent.outcome is Outcome.UNCERTAIN
    assert sent.state is BrokerOrderState.UNKNOWN
    (record,) = await sql_store.equities.open_broker_orders()
    clock.advance(31)
    assert await execution.resolve(record) is BrokerOrderState.LOST
    assert server.requests["place_order"] == 1
    assert server.book.orders == {}


async def test_the_broker_probe_reads_schwab_and_names_an_expired_login(
    server: SchwabServer, make_broker: MakeBroker, logged_in: object, clock: ManualClock
) -> None:
    broker = await make_broker()
    probe = BrokerProbe(broker, broker, clock, ProbeNeeds(kind=broker.kind))

    check = await probe.check()

    assert check.ok, check.problems
    assert check.account is not None and check.account.account_id == "12345678"
    assert check.positions["AAPL"].available == Decimal(50)
    assert check.session is Session.REGULAR  # Monday 10:00 ET
    assert [d.day.isoformat() for d in check.days][:2] == ["2026-01-05", "2026-01-06"]
    clock.advance(7 * 86_400)
    expired = await probe.check()
    assert not expired.ok
    assert "run `pegkeeper auth schwab` again" in expired.problems[0]
