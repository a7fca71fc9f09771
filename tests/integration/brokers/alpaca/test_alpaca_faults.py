"""Alpaca's failures over real HTTP: a reused client id, timeouts after the order was taken,
5xx, 429 with and without Retry-After, refusals with their reasons, and wrong keys. No fault
ever leaves two orders at the broker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path

import pytest

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker
from pegkeeper.adapters.brokers.alpaca_config import AlpacaMode
from pegkeeper.adapters.store.database import open_store
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.errors import (
    CredentialsRejected,
    NotFound,
    OrderRejected,
    RateLimited,
    VenueUnavailable,
    VenueUncertain,
)
from pegkeeper.domain.execution import Outcome
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.execution.broker_orders import BrokerOrderExecution
from pegkeeper.sim.brokers.alpaca_faults import Scope
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from tests.integration.brokers.alpaca.conftest import (
    AAPL_HELD,
    KEY_ID,
    SECRET_KEY,
    broker_for,
    intent,
)
from tests.integration.conftest import sqlite_url
from tests.stepping_clock import SteppingClock

D = Decimal


async def test_a_reused_client_id_adopts_the_order_placed_first(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    first = await broker.place_order(intent())
    again = await broker.place_order(intent())  # Alpaca answers 422: the id is taken
    assert alpaca.posted_orders["pk-AAPL-1"] == 2
    assert alpaca.orders_of("pk-AAPL-1") == 1
    assert again.broker_order_id == first.broker_order_id
    # adopted as it is now: the lookup found it filled
    assert (again.state, again.filled_quantity) == (BrokerOrderState.FILLED, D(1))


async def test_a_reused_client_id_of_another_order_is_not_adopted(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    await broker.place_order(intent())
    with pytest.raises(OrderRejected, match="is taken at alpaca by an order to buy AAPL"):
        await broker.place_order(intent(side=OrderSide.SELL))
    assert alpaca.orders_of("pk-AAPL-1") == 1


async def test_a_timeout_after_the_order_was_taken_is_uncertain_and_the_lookup_finds_it(
    alpaca: AlpacaSimServer, clock: SteppingClock, mode: AlpacaMode
) -> None:
    broker = broker_for(alpaca, clock, mode, timeout_seconds=0.3)
    try:
        alpaca.faults.hang_after_accept_next(hang_seconds=3.0)
        with pytest.raises(VenueUncertain, match="outcome unknown: no answer from alpaca"):
            await broker.place_order(intent())
        found = await broker.order(intent())
        assert (found.state, found.filled_quantity) == (BrokerOrderState.FILLED, D(1))
        assert alpaca.orders_of("pk-AAPL-1") == 1
    finally:
        await broker.aclose()


async def test_through_the_execution_core_a_timeout_leaves_exactly_one_order(
    alpaca: AlpacaSimServer, clock: SteppingClock, mode: AlpacaMode, tmp_path: Path
) -> None:
    broker = broker_for(alpaca, clock, mode, timeout_seconds=0.3)
    store = await open_store(sqlite_url(tmp_path), clock=clock)
    try:
        execution = BrokerOrderExecution(store.equities, broker, clock, lookup_window_seconds=30)
        alpaca.faults.hang_after_accept_next(hang_seconds=3.0)
        sent = await execution.submit(intent(quantity="2"), "hedge AAPL")
        # uncertain, looked up at once, found: recorded as the broker has it
        assert (sent.outcome, sent.state) == (Outcome.ACCEPTED, BrokerOrderState.FILLED)
        record = await store.equities.broker_order("pk-AAPL-1")
        assert record is not None and record.filled_quantity == D(2)
        assert alpaca.orders_of("pk-AAPL-1") == 1 and alpaca.posted_orders["pk-AAPL-1"] == 1
    finally:
        await store.close()
        await broker.aclose()


async def test_a_5xx_on_placement_is_uncertain_whether_or_not_the_order_was_taken(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.faults.fail_next(status=503, scope=Scope.ORDERS)
    with pytest.raises(VenueUncertain, match="HTTP 503"):
        await broker.place_order(intent("pk-AAPL-1"))
    with pytest.raises(NotFound):  # this one never reached the book
        await broker.order(intent("pk-AAPL-1"))

    # a 504 after the order was taken: alpaca-py on its own would send it again
    alpaca.faults.fail_after_accept_next(status=504)
    with pytest.raises(VenueUncertain, match="HTTP 504: internal server error occurred"):
        await broker.place_order(intent("pk-AAPL-2"))
    assert alpaca.posted_orders["pk-AAPL-2"] == 1
    found = await broker.order(intent("pk-AAPL-2"))  # this one was taken
    assert found.state is BrokerOrderState.FILLED
    assert alpaca.orders_of("pk-AAPL-2") == 1


async def test_a_5xx_on_a_read_is_unavailable(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.faults.fail_next(status=502, scope=Scope.READS)
    with pytest.raises(VenueUnavailable, match="HTTP 502"):
        await broker.positions()
    assert (await broker.positions())["AAPL"].quantity == AAPL_HELD


async def test_a_429_with_retry_after_in_seconds_holds_the_next_request(
    broker: AlpacaBroker, alpaca: AlpacaSimServer, clock: SteppingClock
) -> None:
    alpaca.faults.rate_limit_next(retry_after="7", scope=Scope.ORDERS)
    with pytest.raises(RateLimited) as raised:
        await broker.place_order(intent())
    assert raised.value.retry_after_seconds == 7.0
    # asked once (alpaca-py on its own retries a 429), not processed: nothing to look up
    posts = [n for e, n in alpaca.requests_by_endpoint.items() if e.startswith("POST")]
    assert posts == [1]
    assert alpaca.orders_of("pk-AAPL-1") == 0
    before_ms = clock.now_ms()
    report = await broker.place_order(intent())  # the same order, once the 7 s have passed
    assert clock.now_ms() - before_ms >= 7_000
    assert report.broker_order_id and alpaca.orders_of("pk-AAPL-1") == 1


async def test_a_429_with_retry_after_as_an_http_date(
    broker: AlpacaBroker, alpaca: AlpacaSimServer, clock: SteppingClock
) -> None:
    from datetime import UTC, datetime

    now = datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC)
    alpaca.faults.rate_limit_next(retry_after=format_datetime(now + timedelta(seconds=90), True))
    with pytest.raises(RateLimited) as raised:
        await broker.account()
    assert raised.value.retry_after_seconds == 90.0
    before_ms = clock.now_ms()
    await broker.account()
    assert clock.now_ms() - before_ms >= 90_000


async def test_a_429_without_retry_after_backs_off_a_few_seconds(
    broker: AlpacaBroker, alpaca: AlpacaSimServer, clock: SteppingClock
) -> None:
    alpaca.faults.rate_limit_next()
    with pytest.raises(RateLimited) as raised:
        await broker.positions()
    assert raised.value.retry_after_seconds is None
    before_ms = clock.now_ms()
    await broker.positions()
    # the default pause, 5 s jittered by +-50 %
    assert 2_500 <= clock.now_ms() - before_ms <= 7_500


@pytest.mark.parametrize(
    ("quantity", "symbol", "side", "reason"),
    [
        ("1000", "AAPL", OrderSide.BUY, "HTTP 403: insufficient buying power"),
        ("11", "AAPL", OrderSide.SELL, r"insufficient qty available for order \(requested: 11"),
        ("1", "HALT", OrderSide.BUY, "HTTP 422: asset HALT is halted"),
    ],
)
async def test_a_refused_order_says_why(
    broker: AlpacaBroker,
    alpaca: AlpacaSimServer,
    quantity: str,
    symbol: str,
    side: OrderSide,
    reason: str,
) -> None:
    alpaca.book.prices["HALT"] = D(12)
    alpaca.book.halted.add("HALT")
    # 1000 x 190.12 = 190 120 USD > 100 000 cash; 11 shares > the 10 held
    with pytest.raises(OrderRejected, match=reason):
        await broker.place_order(intent(quantity=quantity, symbol=symbol, side=side))
    assert alpaca.book.orders == {}


async def test_extended_hours_refused_by_the_account(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.account(alpaca.book.trading_account_id).extended_hours_allowed = False
    with pytest.raises(OrderRejected, match="extended hours trading is not enabled"):
        await broker.place_order(intent(limit_usd="190.5", extended_hours=True))


async def test_an_order_rejected_after_it_was_taken_fails(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    from pegkeeper.sim.brokers.alpaca_records import status

    alpaca.book.script_next(status("rejected"))
    await broker.place_order(intent())
    report = await broker.order(intent())
    assert (report.state, report.message) == (BrokerOrderState.FAILED, "alpaca status rejected")


@pytest.mark.parametrize(
    ("key_id", "secret_key", "status"),
    [("PKWRONGKEY000000000009", SECRET_KEY, "401"), (KEY_ID, "not-the-secret-123456", "403")],
)
async def test_wrong_keys_are_refused_with_what_to_set_and_never_the_keys(
    alpaca: AlpacaSimServer,
    clock: SteppingClock,
    mode: AlpacaMode,
    key_id: str,
    secret_key: str,
    status: str,
) -> None:
    broker = broker_for(alpaca, clock, mode, key_id=key_id, secret_key=secret_key)
    try:
        with pytest.raises(CredentialsRejected) as raised:
            await broker.place_order(intent())
        message = str(raised.value)
        assert f"alpaca-{mode.value} refused the API keys (HTTP {status}" in message
        assert "PEGKEEPER_EQUITIES__ALPACA__KEY_ID" in message
        assert "PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY" in message
        assert key_id not in message and secret_key not in message
        assert key_id not in repr(broker) and secret_key not in repr(broker)
        with pytest.raises(CredentialsRejected):
            await broker.account()
    finally:
        await broker.aclose()
    assert alpaca.book.orders == {}


async def test_a_server_that_is_not_there_is_unavailable_and_nothing_was_sent(
    clock: SteppingClock, mode: AlpacaMode, alpaca: AlpacaSimServer
) -> None:
    url = alpaca.url
    await alpaca.stop()
    broker = broker_for(alpaca, clock, mode)
    assert broker.config.base_url == url
    try:
        with pytest.raises(VenueUnavailable, match="could not connect to alpaca, nothing sent"):
            await broker.place_order(intent())
    finally:
        await broker.aclose()
