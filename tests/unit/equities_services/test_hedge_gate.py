"""The hedger behind the gate: market orders in the regular session, limit orders in the
extended ones for opted-in assets, holds while closed, working limit orders replaced at the
open, and the preflight's shares and cash, on the hand-written NYSE calendar of
tests/unit/equities/calendar_days.py (EST: 09:30 ET = 14:30 UTC)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.broker import BrokerAccount, BrokerOrderState, BrokerOrderType
from pegkeeper.domain.equities.sessions import TradingDay
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.hedge_gate import GateSettings
from tests.unit.equities.calendar_days import DAYS, utc
from tests.unit.equities_services.world import World, make_world

D = Decimal


class HandCalendar:
    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        return [d for d in DAYS if start <= d.day <= end]


def world(now_ms: int, **kw: object) -> World:
    clock = kw.pop("clock", None) or ManualClock(now_ms)
    return make_world(
        clock=clock,  # type: ignore[arg-type]
        calendar=HandCalendar(),
        gate_settings=GateSettings(extended_hours=frozenset(kw.pop("extended", ()))),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def test_a_closed_market_holds_the_hedge_until_the_open() -> None:
    w = world(utc(2026, 12, 5, 15))  # Saturday 10:00 ET
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="400"))
    await w.step()
    assert w.broker.sent == []
    assert w.hedger.status()["AAPL"].waiting == "market closed until Mon 09:30 ET"
    assert (await w.exposure("AAPL")).exposure == D(-2)
    w.clock.set(utc(2026, 12, 7, 14, 30))  # Monday 09:30 ET: the open
    await w.hedger.cycle("periodic")
    (order,) = w.broker.sent
    assert (order.side, order.quantity, order.order_type) == (
        OrderSide.BUY,
        D(2),
        BrokerOrderType.MARKET,
    )


async def test_an_opted_in_asset_is_hedged_before_the_open_with_a_limit_order() -> None:
    w = world(utc(2026, 12, 7, 12), extended=("AAPL",), latency_ms=21_600_000)  # 07:00 ET
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="401"))
    await w.step()
    (order,) = w.broker.sent
    # 200.50 x 1.01 = 202.505, up to the cent: 202.51
    assert (order.order_type, order.limit_price_usd, order.extended_hours) == (
        BrokerOrderType.LIMIT,
        D("202.51"),
        True,
    )
    # at the regular open the working limit order is canceled and a market order follows
    w.clock.set(utc(2026, 12, 7, 14, 30))
    await w.hedger.cycle("periodic")
    record = await w.repo.broker_order(order.client_order_id)
    assert record is not None and record.state is BrokerOrderState.CANCELED
    await w.hedger.cycle("recheck")
    replacement = w.broker.sent[-1]
    assert (replacement.order_type, replacement.quantity) == (BrokerOrderType.MARKET, D(2))


async def test_a_sale_without_the_shares_is_blocked_and_alerted_once() -> None:
    w = world(utc(2026, 12, 7, 15), holdings={"AAPL": D("0.5")})  # Monday 10:00 ET
    w.mine(w.fill("AAPL", sold=False, shares="2", usdc="400"))  # the maker bought: sell 2
    await w.step()
    await w.hedger.cycle("periodic")
    assert w.broker.sent == []
    assert w.hedger.status()["AAPL"].waiting == "sell 2 AAPL: 0.5 held at the broker (no shorting)"
    assert len(w.alerts(AlertKind.EQUITY_HEDGE_BLOCKED)) == 1


async def test_a_buy_needs_the_cash_for_its_cost_and_the_slippage() -> None:
    # 2 shares at 200 USD with 50 bps: 402.00 USD; the account has 401.99
    w = world(utc(2026, 12, 7, 15), cash_usd=D("401.99"))
    w.mine(w.fill("AAPL", sold=True, shares="2", usdc="400"))
    await w.step()
    assert w.broker.sent == []
    assert w.hedger.status()["AAPL"].waiting == (
        "buy 2 AAPL: needs 402.00 USD with 50 bps, cash 401.99 USD"
    )


class CountingAccount(DryRunBroker):
    reads = 0

    async def account(self) -> BrokerAccount:
        self.reads += 1
        return await super().account()


async def test_fills_in_a_row_read_the_account_once_within_its_age() -> None:
    clock = ManualClock(utc(2026, 12, 7, 15))  # Monday 10:00 ET
    broker = CountingAccount(clock, DryRunSettings(quotes={"AAPL": D(200)}))
    w = world(utc(2026, 12, 7, 15), clock=clock, broker=broker)
    for _ in range(3):
        w.mine(w.fill("AAPL", sold=True, shares="1", usdc="200"))
        await w.step()
        clock.advance(2)
    assert len(w.broker.sent) == 3
    assert broker.reads == 1  # 6 s of hedges: the 10 s snapshot serves them all
    clock.advance(10)
    w.mine(w.fill("AAPL", sold=True, shares="1", usdc="200"))
    await w.step()
    assert broker.reads == 2
