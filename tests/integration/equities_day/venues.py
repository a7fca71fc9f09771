"""The brokers the calendar day runs at, each with what it talks to: the dry-run broker, or a real
broker adapter built as `pegkeeper run` builds it (the settings' defaults, the broker's own
calendar with the offline one behind it) talking over real HTTP to its local server.

Every server shares the run's clock, prices each symbol as the onchain fills do, and starts
with far more cash and shares than a day of hedges needs, so that the preflight passes and
every hedge that goes out is taken. Each counts the requests it received per minute of the
run's clock; the dry-run broker has no server, so its calls through the port are counted.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from pegkeeper.adapters.brokers.alpaca import build_alpaca
from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.brokers.schwab import build_schwab
from pegkeeper.adapters.calendars.exchange import ExchangeCalendar
from pegkeeper.adapters.store.database import open_store
from pegkeeper.adapters.store.token_store import EncryptedTokenStore, TokenCipher
from pegkeeper.bootstrap.brokers import market_calendar
from pegkeeper.config.equities import AlpacaSettings, EquitiesSettings, SchwabSettings
from pegkeeper.domain.equities.sessions import EXCHANGE_ZONE, TradingDay
from pegkeeper.ports import Broker, Clock, MarketCalendar
from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_calendar import CalendarDay
from pegkeeper.sim.brokers.alpaca_records import Account, Order, Position, Script, fill
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.schwab_server import SchwabServer
from tests.integration.brokers.schwab.conftest import tokens_of

BROKERS = ("dry-run", "alpaca-trading", "alpaca-broker", "schwab")
MINUTE_MS = 60_000
# Far beyond a day of hedges (a few hundred shares of a symbol at about 100 USD each way):
# the preflight passes for every buy (cash) and every sell (shares) the run sends.
CASH_USD = Decimal(10_000_000)
HELD_SHARES = Decimal(10_000)
# the span the servers' calendars are written for, from the exchange's
CALENDAR_SPAN = (date(2026, 1, 1), date(2027, 12, 31))

ALPACA_KEY_ID = "PKDAYRUN000000000001"
ALPACA_SECRET = "day-run-secret-6a5b4c3d2e1f0a9b8c7d6e5f"
ALPACA_ACCOUNT = "7b2e9c41-0d5a-4e8f-b3c6-1a2d3e4f5a6b"
SCHWAB_ACCOUNT = "87654321"

Prices = Mapping[str, Decimal]


@dataclass
class Venue:
    """A broker under test and what its side of the wire saw."""

    name: str
    settings: EquitiesSettings
    broker: Broker
    calendar: MarketCalendar
    # requests per minute of the run's clock: all of them, and those that place or cancel
    requests_by_minute: Callable[[], Counter[int]]
    order_requests_by_minute: Callable[[], Counter[int]]
    held: Callable[[], Awaitable[dict[str, Decimal]]]  # shares per symbol, as the broker has them
    ordered_symbols: Callable[[], set[str]]  # the symbols of every order the broker took


@asynccontextmanager
async def open_venue(
    name: str, clock: Clock, prices: Prices, requests_per_minute: int | None = None
) -> AsyncIterator[Venue]:
    """`requests_per_minute`: None for the shipped default of the broker's settings."""
    budget = {} if requests_per_minute is None else {"requests_per_minute": requests_per_minute}
    if name == "dry-run":
        yield _dry_run(clock, prices)
    elif name == "schwab":
        async with _schwab(clock, prices, budget) as venue:
            yield venue
    elif name in ("alpaca-trading", "alpaca-broker"):
        async with _alpaca(name, clock, prices, budget) as venue:
            yield venue
    else:
        raise ValueError(f"unknown broker {name!r}: one of {', '.join(BROKERS)}")


# -- dry-run ---------------------------------------------------------------------------------


class CountingBroker:
    """The Broker port around another, counting each call by the minute of the clock."""

    COUNTED = frozenset(
        {"place_order", "order", "cancel_order", "account", "positions", "trading_days"}
    )
    ORDERS = frozenset({"place_order", "cancel_order"})

    def __init__(self, inner: Any, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock
        self.per_minute: Counter[int] = Counter()
        self.orders_per_minute: Counter[int] = Counter()
        self.name = inner.name
        self.kind = inner.kind

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self.COUNTED:
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            minute = self._clock.now_ms() // MINUTE_MS
            self.per_minute[minute] += 1
            if name in self.ORDERS:
                self.orders_per_minute[minute] += 1
            return await target(*args, **kwargs)

        return counted


def _dry_run(clock: Clock, prices: Prices) -> Venue:
    """Fills at the symbol's price after 2 s; the exchange's calendar (the dry-run broker's
    own never closes), as `calendar = "exchange"` has it."""
    inner = DryRunBroker(
        clock,
        DryRunSettings(
            latency_ms=2_000,
            quotes=dict(prices),
            cash_usd=CASH_USD,
            holdings=dict.fromkeys(prices, HELD_SHARES),
        ),
    )
    counting = CountingBroker(inner, clock)
    settings = EquitiesSettings(broker="dry-run", calendar="exchange")

    async def held() -> dict[str, Decimal]:
        return {s: p.quantity for s, p in (await inner.positions()).items()}

    return Venue(
        "dry-run",
        settings,
        counting,  # type: ignore[arg-type]
        market_calendar(settings, inner),
        lambda: counting.per_minute,
        lambda: counting.orders_per_minute,
        held,
        lambda: {o.symbol for o in inner.sent},
    )


# -- Alpaca ----------------------------------------------------------------------------------


class MarketBook(AlpacaBook):
    """The local Alpaca where a limit order that crosses the symbol's price fills there on its
    first read, as a marketable limit order does at the exchange (an extended-hours hedge is
    priced 100 bps through the last onchain price); one that does not cross rests."""

    def _default_script(self, order: Order) -> Script:
        if order.limit_price is None:
            return super()._default_script(order)
        price = self.price(order.symbol)
        crosses = price <= order.limit_price if order.side == "buy" else price >= order.limit_price
        return Script((fill(price=price),) if crosses else ())


@asynccontextmanager
async def _alpaca(
    name: str, clock: Clock, prices: Prices, budget: dict[str, int]
) -> AsyncIterator[Venue]:
    book = MarketBook(clock.now_ms, Account(ALPACA_ACCOUNT, "PA3DAYRUN001", CASH_USD))
    book.prices.update(prices)
    account = book.account(ALPACA_ACCOUNT)
    for symbol, price in prices.items():
        account.positions[symbol] = Position(HELD_SHARES, HELD_SHARES * price)
    book.set_calendar([_alpaca_day(d) for d in _exchange_days()])
    server = AlpacaSimServer(book, key_id=ALPACA_KEY_ID, secret_key=ALPACA_SECRET)
    await server.start()
    settings = EquitiesSettings(
        broker=name,  # type: ignore[arg-type]
        alpaca=AlpacaSettings(
            base_url=server.url,
            account_id=ALPACA_ACCOUNT,
            key_id=SecretStr(ALPACA_KEY_ID),
            secret_key=SecretStr(ALPACA_SECRET),
            **budget,
        ),
    )
    broker = build_alpaca(settings, clock)

    def order_requests() -> Counter[int]:
        counted: Counter[int] = Counter()
        for (endpoint, minute), n in server.requests_by_endpoint_minute.items():
            if endpoint.startswith(("POST ", "DELETE ")) and "/orders" in endpoint:
                counted[minute] += n
        return counted

    async def held() -> dict[str, Decimal]:
        return {s: p.qty for s, p in account.positions.items()}

    try:
        yield Venue(
            name,
            settings,
            broker,
            market_calendar(settings, broker),
            lambda: server.requests_by_minute,
            order_requests,
            held,
            lambda: {o.symbol for o in book.orders.values()},
        )
    finally:
        await broker.aclose()
        await server.stop()


def _alpaca_day(day: TradingDay) -> CalendarDay:
    """One day of the exchange as Alpaca's calendar writes it (New York local times)."""
    return CalendarDay(
        day.day,
        open=_local(day.open_ms, "%H:%M"),
        close=_local(day.close_ms, "%H:%M"),
        session_open=_local(day.pre_open_ms, "%H%M"),
        session_close=_local(day.post_close_ms, "%H%M"),
    )


# -- Schwab ----------------------------------------------------------------------------------


class RequestsByMinute(Counter[str]):
    """The Schwab server's request counter (by route) that also counts each request by the
    minute of the clock it arrived in."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        super().__init__()
        self._now_ms = now_ms
        self.by_minute: Counter[tuple[str, int]] = Counter()

    def __setitem__(self, route: str, count: int) -> None:
        added = count - self.get(route, 0)
        if added > 0:
            self.by_minute[(route, self._now_ms() // MINUTE_MS)] += added
        super().__setitem__(route, count)

    def per_minute(self, routes: frozenset[str] | None = None) -> Counter[int]:
        counted: Counter[int] = Counter()
        for (route, minute), n in self.by_minute.items():
            if routes is None or route in routes:
                counted[minute] += n
        return counted


SCHWAB_ORDER_ROUTES = frozenset({"place_order", "cancel_order"})


@asynccontextmanager
async def _schwab(clock: Clock, prices: Prices, budget: dict[str, int]) -> AsyncIterator[Venue]:
    server = SchwabServer(clock.now_ms, app_key="day-app-key", app_secret="day-app-secret")
    counted = RequestsByMinute(clock.now_ms)
    server.requests = counted
    days = _exchange_days()
    server.holidays = _weekdays(*CALENDAR_SPAN) - {d.day for d in days}
    server.half_days = {d.day for d in days if d.is_half_day}
    await server.start()
    account = server.add_account(SCHWAB_ACCOUNT, CASH_USD, dict.fromkeys(prices, HELD_SHARES))
    server.book.prices.update(prices)
    store = await open_store("sqlite+aiosqlite://")
    tokens = EncryptedTokenStore(store.broker_tokens, TokenCipher(secrets.token_bytes(32)), clock)
    await tokens.save("schwab", tokens_of(server.grant(), clock.now_ms()))  # logged in
    settings = EquitiesSettings(
        broker="schwab",
        schwab=SchwabSettings(
            base_url=server.base_url,
            redirect_uri=server.redirect_uri,
            app_key=SecretStr(server.app_key),
            app_secret=SecretStr(server.app_secret),
            **budget,
        ),
    )
    broker = build_schwab(settings.schwab, tokens, clock)

    async def held() -> dict[str, Decimal]:
        return dict(account.long_shares)

    try:
        yield Venue(
            "schwab",
            settings,
            broker,
            market_calendar(settings, broker),
            counted.per_minute,
            lambda: counted.per_minute(SCHWAB_ORDER_ROUTES),
            held,
            lambda: {o.symbol for o in server.book.orders.values()},
        )
    finally:
        await broker.aclose()
        await store.close()
        await server.stop()


# -- the exchange's calendar, for the servers ------------------------------------------------


def _exchange_days() -> list[TradingDay]:
    return ExchangeCalendar(*CALENDAR_SPAN).days_between(*CALENDAR_SPAN)


def _weekdays(first: date, last: date) -> set[date]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return {d for d in days if d.weekday() < 5}


def _local(ms: int, form: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(EXCHANGE_ZONE).strftime(form)
