"""The Alpaca account, positions, calendar and clock over real HTTP, the request budget as the
server counts it, and fills when the FILL activities lag or are not there."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.alpaca import AlpacaBroker, build_alpaca
from pegkeeper.adapters.brokers.alpaca_config import AlpacaMode
from pegkeeper.config.equities import EquitiesSettings
from pegkeeper.domain.equities.broker import BrokerOrderState
from pegkeeper.domain.errors import InvalidInput, NotFound
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.alpaca_calendar import CalendarDay, half_day
from pegkeeper.sim.brokers.alpaca_records import fill, status
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from tests.integration.brokers.alpaca.conftest import (
    AAPL_USD,
    ACCOUNT_ID,
    CASH_USD,
    START_MS,
    broker_for,
    intent,
)
from tests.stepping_clock import SteppingClock

D = Decimal


def utc_ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


async def test_the_account_s_cash_is_cash_not_the_non_marginable_buying_power(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.account(ACCOUNT_ID).unsettled_usd = D(2_500)  # 97 500 non-marginable
    account = await broker.account()
    assert account.cash_usd == CASH_USD == D(100_000)
    assert account.buying_power_usd == D(100_000)
    assert (account.can_trade, account.fractional, account.extended_hours) == (True, True, True)
    assert (account.account_id, account.status) == (ACCOUNT_ID, "ACTIVE")
    assert account.broker == broker.name


async def test_a_blocked_account_cannot_trade_and_its_configurations_say_fractional(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    held = alpaca.book.account(ACCOUNT_ID)
    held.fractional_trading = False
    assert (await broker.account()).fractional is False
    held.trading_blocked = True
    blocked = await broker.account()
    assert (blocked.can_trade, blocked.extended_hours, blocked.fractional) == (False, False, False)
    held.trading_blocked = False
    held.status = "ACCOUNT_UPDATED"
    assert (await broker.account()).can_trade is False


async def test_positions_give_what_open_orders_leave_available(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    # a resting limit sell of 4 of the 10 AAPL held; 2 MSFT bought at market
    await broker.place_order(intent("sell-1", "4", OrderSide.SELL, limit_usd="250"))
    await broker.place_order(intent("buy-1", "2", OrderSide.BUY, "MSFT"))
    await broker.order(intent("buy-1", "2", OrderSide.BUY, "MSFT"))
    positions = await broker.positions()
    assert positions["AAPL"].quantity == D(10) and positions["AAPL"].available == D(6)
    assert positions["MSFT"].quantity == D(2) and positions["MSFT"].available == D(2)
    # the market buy spent 2 x 375.5 = 751 USD
    assert (await broker.account()).cash_usd == CASH_USD - D(751)


async def test_the_calendar_in_utc_with_a_half_day_a_holiday_and_daylight_saving(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.set_calendar(
        [
            CalendarDay(date(2024, 3, 8)),  # Friday, EST (UTC-5)
            CalendarDay(date(2024, 3, 11)),  # Monday, EDT (UTC-4) since Sunday 10 March
            CalendarDay(date(2024, 11, 27)),
            # 28 November, Thanksgiving: closed, no entry
            half_day(date(2024, 11, 29)),  # closes at 13:00, extended hours at 17:00
        ]
    )
    days = await broker.trading_days(date(2024, 3, 8), date(2024, 11, 29))
    assert [d.day for d in days] == [
        date(2024, 3, 8),
        date(2024, 3, 11),
        date(2024, 11, 27),
        date(2024, 11, 29),
    ]
    winter, summer, _, half = days
    assert winter.pre_open_ms == utc_ms(2024, 3, 8, 9, 0)  # 04:00 EST
    assert winter.open_ms == utc_ms(2024, 3, 8, 14, 30)  # 09:30 EST
    assert winter.close_ms == utc_ms(2024, 3, 8, 21, 0)  # 16:00 EST
    assert winter.post_close_ms == utc_ms(2024, 3, 9, 1, 0)  # 20:00 EST
    assert summer.open_ms == utc_ms(2024, 3, 11, 13, 30)  # 09:30 EDT
    assert summer.close_ms == utc_ms(2024, 3, 11, 20, 0)  # 16:00 EDT
    assert half.close_ms == utc_ms(2024, 11, 29, 18, 0)  # 13:00 EST
    assert half.post_close_ms == utc_ms(2024, 11, 29, 22, 0)  # 17:00 EST
    with pytest.raises(InvalidInput, match="start 2024-03-08 is after end 2024-01-01"):
        await broker.trading_days(date(2024, 3, 8), date(2024, 1, 1))


async def test_the_market_clock(broker: AlpacaBroker, clock: SteppingClock) -> None:
    # Wednesday 10 January 2024, 10:00 EST: open, closes at 16:00 EST = 21:00 UTC
    market = await broker.market_clock()
    assert (market.now_ms, market.is_open) == (START_MS, True)
    assert market.next_close_ms == utc_ms(2024, 1, 10, 21, 0)
    assert market.next_open_ms == utc_ms(2024, 1, 11, 14, 30)


async def test_the_request_budget_keeps_under_the_limit_as_the_server_counts(
    alpaca: AlpacaSimServer, clock: SteppingClock, mode: AlpacaMode
) -> None:
    broker = broker_for(alpaca, clock, mode, requests_per_minute=20)
    try:
        await broker.place_order(intent())
        for _ in range(30):  # each lookup of the filled order: the order, its activities
            await broker.order(intent())
        for _ in range(8):
            await broker.positions()
        await broker.place_order(intent("pk-AAPL-2"))
    finally:
        await broker.aclose()
    assert sum(alpaca.requests_by_endpoint.values()) == 1 + 30 * 2 + 8 + 1
    assert alpaca.max_requests_in_a_minute() <= 20
    # each read endpoint has at most half the minute, so placing never waits behind polls
    reads = [e for e in alpaca.requests_by_endpoint if e.startswith("GET")]
    assert len(reads) == 3
    assert all(alpaca.max_requests_in_a_minute(e) <= 10 for e in reads)
    # the budget waited rather than exceed: 2 at once, then 18 per 61 s for the other 68
    assert clock.now_ms() - START_MS >= 68 * 61 / 18 * 1000


async def test_fills_wait_for_lagging_activities_then_the_order_s_figures_stand_in(
    broker: AlpacaBroker, alpaca: AlpacaSimServer, clock: SteppingClock
) -> None:
    alpaca.book.script_next(fill("0.4", "190"), fill("0.6", "191"))
    await broker.place_order(intent())
    await broker.order(intent())
    alpaca.book.activities_lag = 1  # the second fill is not in the activities yet
    ended = await broker.order(intent())
    # filled says the order; the activities show 0.4: it waits as working
    assert (ended.state, ended.filled_quantity) == (BrokerOrderState.WORKING, D("0.4"))
    assert "waiting for the details of 0.6 shares" in ended.message
    clock.advance(61)  # past the settle window the order's figures give the rest
    settled = await broker.order(intent())
    assert settled.state is BrokerOrderState.FILLED
    first, rest = settled.fills
    assert (first.quantity, first.price_usd) == (D("0.4"), D(190))
    # the order's average: (0.4 x 190 + 0.6 x 191) / 1 = 190.6
    assert (rest.fill_id, rest.quantity, rest.price_usd) == (
        f"{settled.broker_order_id}:rest",
        D("0.6"),
        D("190.6"),
    )


async def test_without_activities_fills_come_from_the_order_when_it_ends(
    broker: AlpacaBroker, alpaca: AlpacaSimServer
) -> None:
    alpaca.book.activities_status = 404
    alpaca.book.script_next(fill("0.25"), status("canceled"))
    await broker.place_order(intent())
    working = await broker.order(intent())
    assert (working.state, working.fills) == (BrokerOrderState.WORKING, ())
    ended = await broker.order(intent())
    (one,) = ended.fills
    assert ended.state is BrokerOrderState.CANCELED
    assert (one.fill_id, one.quantity, one.price_usd) == (
        f"{ended.broker_order_id}:rest",
        D("0.25"),
        AAPL_USD,
    )


async def test_the_broker_api_asks_for_its_managed_account(
    alpaca: AlpacaSimServer, clock: SteppingClock
) -> None:
    broker = broker_for(
        alpaca, clock, AlpacaMode.BROKER, account_id="7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
    )
    try:
        with pytest.raises(NotFound, match="account not found"):
            await broker.account()
    finally:
        await broker.aclose()


def test_build_alpaca_picks_the_host_by_api_and_paper() -> None:
    def built(broker: str, **alpaca: object) -> AlpacaBroker:
        settings = EquitiesSettings.model_validate(
            {
                "broker": broker,
                "alpaca": {"account_id": ACCOUNT_ID, "key_id": "PKX", "secret_key": "S", **alpaca},
            }
        )
        return build_alpaca(settings, SteppingClock())

    assert built("alpaca-trading").config.host() == "https://paper-api.alpaca.markets"
    live = built("alpaca-trading", paper=False)
    assert live.config.host() == "https://api.alpaca.markets"
    assert live.name == "alpaca-trading"
    sandbox = built("alpaca-broker")
    assert sandbox.config.host() == "https://broker-api.sandbox.alpaca.markets"
    assert sandbox.name == "alpaca-broker" and sandbox.config.account_id == ACCOUNT_ID
    assert built("alpaca-broker", paper=False).config.host() == "https://broker-api.alpaca.markets"
    local = built("alpaca-broker", base_url="http://127.0.0.1:8123/")
    assert local.config.host() == "http://127.0.0.1:8123"
    with pytest.raises(ValueError, match="'dry-run' is not an Alpaca broker"):
        build_alpaca(EquitiesSettings(), SteppingClock())
    without_keys = EquitiesSettings.model_validate({"broker": "alpaca-trading"})
    with pytest.raises(ValueError, match="needs keys: set PEGKEEPER_EQUITIES__ALPACA__KEY_ID"):
        build_alpaca(without_keys, SteppingClock())
