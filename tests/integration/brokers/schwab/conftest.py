"""The local Schwab server and a Schwab broker logged in to it, its tokens in a real encrypted
store (in-memory SQLite). Time is a manual clock shared by both: tokens expire and orders are
entered when the test moves it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from pegkeeper.adapters.brokers.schwab import SchwabBroker, build_schwab
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.token_store import EncryptedTokenStore, TokenCipher
from pegkeeper.config.equities import SchwabSettings
from pegkeeper.domain.credentials import OAuthTokens
from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderType
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.schwab_server import SchwabServer

START_MS = int(datetime(2026, 1, 5, 15, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday, 10:00 ET
ACCOUNT = "12345678"
APP_KEY = "app-key-3kq8W"
APP_SECRET = "app-secret-Vn7x2"
AAPL_USD = Decimal("187.12")

MakeBroker = Callable[..., Awaitable[SchwabBroker]]


def intent(
    client_order_id: str, side: OrderSide, quantity: str, created_at_ms: int, symbol: str = "AAPL"
) -> BrokerOrderIntent:
    return BrokerOrderIntent(client_order_id, symbol, side, Decimal(quantity), created_at_ms)


def limit_intent(client_order_id: str, price: str, created_at_ms: int) -> BrokerOrderIntent:
    return BrokerOrderIntent(
        client_order_id,
        "AAPL",
        OrderSide.BUY,
        Decimal(3),
        created_at_ms,
        order_type=BrokerOrderType.LIMIT,
        limit_price_usd=Decimal(price),
        extended_hours=True,
    )


def settings_for(server: SchwabServer, **changes: object) -> SchwabSettings:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "redirect_uri": server.redirect_uri,
        "app_key": SecretStr(server.app_key),
        "app_secret": SecretStr(server.app_secret),
        "requests_per_minute": 10_000,
        "request_timeout_seconds": 5.0,
    }
    return SchwabSettings.model_validate({**values, **changes})


def tokens_of(answer: dict[str, object], now_ms: int) -> OAuthTokens:
    """A token endpoint's answer as a login stores it (refresh token: 7 days)."""
    return OAuthTokens(
        access_token=str(answer["access_token"]),
        refresh_token=str(answer["refresh_token"]),
        access_expires_at_ms=now_ms + int(str(answer["expires_in"])) * 1000,
        refresh_expires_at_ms=now_ms + 7 * 86_400_000,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[SchwabServer]:
    sim = SchwabServer(clock.now_ms, app_key=APP_KEY, app_secret=APP_SECRET)
    await sim.start()
    sim.add_account(ACCOUNT, Decimal("100000"), {"AAPL": Decimal(50)})
    sim.book.prices["AAPL"] = AAPL_USD
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def sql_store() -> AsyncIterator[SqlStore]:
    store = await open_store("sqlite+aiosqlite://")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def token_store(sql_store: SqlStore, clock: ManualClock) -> EncryptedTokenStore:
    return EncryptedTokenStore(sql_store.broker_tokens, TokenCipher(secrets.token_bytes(32)), clock)


@pytest.fixture
async def logged_in(
    server: SchwabServer, token_store: EncryptedTokenStore, clock: ManualClock
) -> OAuthTokens:
    tokens = tokens_of(server.grant(), clock.now_ms())
    await token_store.save("schwab", tokens)
    return tokens


@pytest.fixture
async def make_broker(
    server: SchwabServer, token_store: EncryptedTokenStore, clock: ManualClock
) -> AsyncIterator[MakeBroker]:
    """Brokers on the server (each a new process's: nothing kept in memory), closed after."""
    made: list[SchwabBroker] = []

    async def make(**changes: object) -> SchwabBroker:
        broker = build_schwab(settings_for(server, **changes), token_store, clock)
        made.append(broker)
        return broker

    try:
        yield make
    finally:
        for broker in made:
            await broker.aclose()


@pytest.fixture
async def broker(make_broker: MakeBroker, logged_in: OAuthTokens) -> SchwabBroker:
    return await make_broker()
