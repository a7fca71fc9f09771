"""The Schwab broker's account, positions, account choice and market calendar against the local
Schwab server."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.schwab import SchwabBroker
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.broker import BrokerAccount, BrokerPosition
from pegkeeper.domain.equities.sessions import Session, TradingDay, session_at
from pegkeeper.domain.errors import CredentialsRejected, InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.brokers.schwab_server import SchwabServer

from .conftest import AAPL_USD, MakeBroker, intent

EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))


def _ms(day: date, hour: int, minute: int, zone: timezone) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()) * 1000


def _day(day: date, zone: timezone, close: tuple[int, int] = (16, 0)) -> TradingDay:
    post = (20, 0) if close == (16, 0) else (17, 0)
    return TradingDay(
        day=day,
        pre_open_ms=_ms(day, 7, 0, zone),  # Schwab's pre-market opens at 07:00 ET
        open_ms=_ms(day, 9, 30, zone),
        close_ms=_ms(day, *close, zone),
        post_close_ms=_ms(day, *post, zone),
    )


async def test_the_account_shows_cash_and_what_it_may_do(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    await broker.place_order(intent("h1", OrderSide.BUY, "10", clock.now_ms()))

    account = await broker.account()

    cash = Decimal(100000) - 10 * AAPL_USD
    assert account == BrokerAccount(
        broker="schwab",
        account_id="12345678",
        cash_usd=cash,
        buying_power_usd=cash,
        can_trade=True,
        fractional=False,
        extended_hours=True,
        status="CASH",
    )


async def test_shares_reserved_by_open_sell_orders_are_not_available(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.book.auto_fill = False
    await broker.place_order(intent("h1", OrderSide.SELL, "12", clock.now_ms()))
    (order_id,) = server.book.orders
    server.book.fill(order_id, Decimal(5), time_ms=clock.now_ms())
    clock.advance(60)
    await broker.place_order(intent("h2", OrderSide.BUY, "3", clock.now_ms(), symbol="MSFT"))

    positions = await broker.positions()

    # 50 held, 5 sold; the sell's 7 unfilled shares are reserved
    assert positions == {"AAPL": BrokerPosition("AAPL", Decimal(45), Decimal(38))}


async def test_several_accounts_without_a_choice_are_refused_naming_them_masked(
    server: SchwabServer, make_broker: MakeBroker, logged_in: object
) -> None:
    server.add_account("87654321", Decimal(0))

    with pytest.raises(CredentialsRejected) as refused:
        await (await make_broker()).account()

    message = str(refused.value)
    assert "...5678" in message and "...4321" in message
    assert "12345678" not in message and "87654321" not in message
    assert "account_number" in message


async def test_the_configured_account_is_the_one_used(
    server: SchwabServer, make_broker: MakeBroker, logged_in: object
) -> None:
    server.add_account("87654321", Decimal("2500.5"))

    broker = await make_broker(account_number="87654321")

    assert (await broker.account()).cash_usd == Decimal("2500.5")
    assert sorted(await broker.login_accounts()) == ["12345678", "87654321"]


async def test_a_configured_account_the_login_does_not_see_is_refused(
    make_broker: MakeBroker, logged_in: object
) -> None:
    broker = await make_broker(account_number="11112222")

    with pytest.raises(CredentialsRejected, match=r"account \.\.\.2222 is not among .*\.\.\.5678"):
        await broker.positions()


async def test_the_calendar_skips_weekends_and_holidays_and_keeps_half_days(
    server: SchwabServer, broker: SchwabBroker, clock: ManualClock
) -> None:
    server.holidays.add(date(2026, 11, 26))  # Thanksgiving
    server.half_days.add(date(2026, 11, 27))

    days = await broker.trading_days(date(2026, 11, 25), date(2026, 11, 30))

    assert days == [
        _day(date(2026, 11, 25), EST),
        _day(date(2026, 11, 27), EST, close=(13, 0)),
        _day(date(2026, 11, 30), EST),
    ]
    assert server.requests["markets"] == 4  # Saturday and Sunday are not asked
    friday = days[1]
    assert session_at(days, _ms(friday.day, 13, 30, EST)) is Session.EXTENDED
    assert session_at(days, _ms(friday.day, 17, 30, EST)) is Session.CLOSED
    await broker.trading_days(date(2026, 11, 25), date(2026, 11, 30))
    assert server.requests["markets"] == 4  # kept for an hour
    clock.advance(3600)
    await broker.trading_days(date(2026, 11, 27), date(2026, 11, 27))
    assert server.requests["markets"] == 5


async def test_the_calendar_follows_the_daylight_saving_change(
    server: SchwabServer, broker: SchwabBroker
) -> None:
    # US clocks move forward on Sunday 2026-03-08
    days = await broker.trading_days(date(2026, 3, 6), date(2026, 3, 9))

    assert days == [_day(date(2026, 3, 6), EST), _day(date(2026, 3, 9), EDT)]
    assert days[1].open_ms - days[0].open_ms == (3 * 24 - 1) * 3_600_000


async def test_a_backwards_range_is_refused(broker: SchwabBroker) -> None:
    with pytest.raises(InvalidInput, match="after end"):
        await broker.trading_days(date(2026, 3, 9), date(2026, 3, 6))
