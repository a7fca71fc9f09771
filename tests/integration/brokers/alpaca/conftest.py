"""The local Alpaca server and the Alpaca brokers talking to it over real HTTP, for the Trading
API and the Broker API. Time is a stepping clock shared by both: the server stamps its orders
and counts requests per minute on it, and the brokers' request budgets wait on it, so a wait
passes at once and can be read back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker
from pegkeeper.adapters.brokers.alpaca_config import AlpacaConfig, AlpacaMode
from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderType
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_records import Account, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from tests.stepping_clock import SteppingClock

KEY_ID = "PKTESTKEY0000000000001"
SECRET_KEY = "test-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ACCOUNT_ID = "0d3e8a6f-5b1c-4f7e-9a2d-3c4b5a6f7e8d"
CASH_USD = Decimal(100_000)
AAPL_USD = Decimal("190.12")
AAPL_HELD = Decimal(10)
# Wednesday 10 January 2024, 15:00 UTC = 10:00 in New York (EST): a regular session
START_MS = int(datetime(2024, 1, 10, 15, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(START_MS)


@pytest.fixture
async def alpaca(clock: SteppingClock) -> AsyncIterator[AlpacaSimServer]:
    book = AlpacaBook(clock.now_ms, Account(ACCOUNT_ID, "PA3TEST00001", CASH_USD))
    book.prices.update({"AAPL": AAPL_USD, "MSFT": Decimal("375.5")})
    book.account(ACCOUNT_ID).positions["AAPL"] = Position(AAPL_HELD, AAPL_HELD * 150)
    server = AlpacaSimServer(book, key_id=KEY_ID, secret_key=SECRET_KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(params=[AlpacaMode.TRADING, AlpacaMode.BROKER], ids=["trading", "broker"])
def mode(request: pytest.FixtureRequest) -> AlpacaMode:
    mode: AlpacaMode = request.param
    return mode


def broker_for(
    server: AlpacaSimServer,
    clock: SteppingClock,
    mode: AlpacaMode,
    *,
    key_id: str = KEY_ID,
    secret_key: str = SECRET_KEY,
    requests_per_minute: int = 150,
    timeout_seconds: float = 5.0,
    account_id: str = ACCOUNT_ID,
) -> AlpacaBroker:
    config = AlpacaConfig(
        mode=mode,
        paper=True,
        base_url=server.url,
        account_id=account_id if mode is AlpacaMode.BROKER else "",
        key_id=key_id,
        secret_key=secret_key,
        requests_per_minute=requests_per_minute,
        request_timeout_seconds=timeout_seconds,
    )
    return AlpacaBroker(config, clock)


@pytest.fixture
async def broker(
    alpaca: AlpacaSimServer, clock: SteppingClock, mode: AlpacaMode
) -> AsyncIterator[AlpacaBroker]:
    opened = broker_for(alpaca, clock, mode)
    try:
        yield opened
    finally:
        await opened.aclose()


def intent(
    client_order_id: str = "pk-AAPL-1",
    quantity: str = "1",
    side: OrderSide = OrderSide.BUY,
    symbol: str = "AAPL",
    *,
    limit_usd: str | None = None,
    extended_hours: bool = False,
) -> BrokerOrderIntent:
    return BrokerOrderIntent(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        created_at_ms=START_MS,
        order_type=BrokerOrderType.LIMIT if limit_usd else BrokerOrderType.MARKET,
        limit_price_usd=Decimal(limit_usd) if limit_usd else None,
        extended_hours=extended_hours,
    )
