"""The dry-run broker: real prices with slippage, latency, partial fills, refusals."""

from datetime import date
from decimal import Decimal

import pytest

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.equities.broker import (
    BrokerKind,
    BrokerOrderIntent,
    BrokerOrderState,
    BrokerOrderType,
)
from pegkeeper.domain.equities.sessions import Session, session_at
from pegkeeper.domain.errors import NotFound, OrderRejected, VenueUncertain
from pegkeeper.domain.orders import OrderSide

D = Decimal


def intent(
    quantity: str, side: OrderSide = OrderSide.BUY, coid: str = "c1", symbol: str = "AAPL"
) -> BrokerOrderIntent:
    return BrokerOrderIntent(coid, symbol, side, D(quantity), 0)


def broker(clock: ManualClock, onchain: dict[str, Decimal] | None = None, **kw) -> DryRunBroker:  # type: ignore[no-untyped-def]
    prices = onchain if onchain is not None else {}

    async def last_price(symbol: str) -> Decimal | None:
        return prices.get(symbol)

    return DryRunBroker(clock, DryRunSettings(**kw), last_price=last_price)


@pytest.mark.parametrize(
    ("side", "price"),
    [
        # 123.4567 x (1 + 5 / 10 000) = 123.51842835 -> up to the tick: 123.5185
        (OrderSide.BUY, D("123.5185")),
        # 123.4567 x (1 - 5 / 10 000) = 123.39497165 -> down to the tick: 123.3949
        (OrderSide.SELL, D("123.3949")),
    ],
)
async def test_fills_at_the_last_onchain_price_moved_against_the_maker(
    side: OrderSide, price: Decimal
) -> None:
    dry = broker(ManualClock(0), {"AAPL": D("123.4567")}, slippage_bps=D(5))
    report = await dry.place_order(intent("2", side))
    assert report.state is BrokerOrderState.FILLED
    (fill,) = report.fills
    assert (fill.quantity, fill.price_usd) == (D(2), price)


async def test_a_configured_quote_prices_a_symbol_without_onchain_fills() -> None:
    dry = broker(ManualClock(0), {}, quotes={"MSFT": D(400)}, slippage_bps=D(25))
    report = await dry.place_order(intent("1", OrderSide.SELL, symbol="MSFT"))
    assert report.fills[0].price_usd == D(399)  # 400 - 400 x 0.0025
    with pytest.raises(OrderRejected, match="no price for AAPL"):
        await dry.place_order(intent("1", coid="c2"))


async def test_an_order_works_until_its_latency_has_passed() -> None:
    clock = ManualClock(1_000)
    dry = broker(clock, {"AAPL": D(100)}, latency_ms=500)
    placed = await dry.place_order(intent("1"))
    assert (placed.state, placed.fills) == (BrokerOrderState.WORKING, ())
    clock.advance(0.499)
    assert (await dry.order(intent("1"))).state is BrokerOrderState.WORKING
    clock.advance(0.001)
    done = await dry.order(intent("1"))
    assert done.state is BrokerOrderState.FILLED and done.fills[0].ts_ms == 1_500


async def test_partial_fills_come_in_pieces_and_a_cancel_keeps_them() -> None:
    clock = ManualClock(0)
    prices = {"AAPL": D(100)}
    dry = broker(clock, prices, fill_pieces=3, piece_interval_ms=1_000)
    first = await dry.place_order(intent("1"))
    # 1 share in 3 pieces of whole 9-dp units: 0.333333333, 0.333333333, 0.333333334
    assert [f.quantity for f in first.fills] == [D("0.333333333")]
    assert first.state is BrokerOrderState.WORKING
    prices["AAPL"] = D(101)  # each piece at the price of its moment
    clock.advance(1)
    second = await dry.order(intent("1"))
    assert [(f.quantity, f.price_usd) for f in second.fills] == [
        (D("0.333333333"), D(100)),
        (D("0.333333333"), D(101)),
    ]
    canceled = await dry.cancel_order(intent("1"))
    assert canceled.state is BrokerOrderState.CANCELED
    assert canceled.filled_quantity == D("0.666666666")
    clock.advance(10)
    assert (await dry.order(intent("1"))).filled_quantity == D("0.666666666")
    with pytest.raises(OrderRejected, match="not cancelable"):
        await dry.cancel_order(intent("1"))


@pytest.mark.parametrize(
    ("quantity", "kind", "message"),
    [
        ("0", BrokerKind.FRACTIONAL, "must be positive"),
        ("-1", BrokerKind.FRACTIONAL, "must be positive"),
        ("0.1234567891", BrokerKind.FRACTIONAL, "more than 9 decimals"),
        ("1.5", BrokerKind.WHOLE_SHARES, "whole shares only"),
    ],
)
async def test_refuses_quantities_the_broker_would_refuse(
    quantity: str, kind: BrokerKind, message: str
) -> None:
    dry = broker(ManualClock(0), {"AAPL": D(100)}, kind=kind)
    with pytest.raises(OrderRejected, match=message):
        await dry.place_order(intent(quantity))
    assert dry.sent == []


async def test_a_limit_order_fills_only_at_its_limit_or_better() -> None:
    prices = {"AAPL": D(100)}
    dry = broker(ManualClock(0), prices)
    limit = BrokerOrderIntent(
        "c1", "AAPL", OrderSide.BUY, D(1), 0, BrokerOrderType.LIMIT, D(99), True
    )
    assert (await dry.place_order(limit)).state is BrokerOrderState.WORKING  # 100 > 99
    prices["AAPL"] = D("98.5")
    report = await dry.order(limit)
    assert report.state is BrokerOrderState.FILLED and report.fills[0].price_usd == D("98.5")
    no_price = BrokerOrderIntent("c2", "AAPL", OrderSide.SELL, D(1), 0, BrokerOrderType.LIMIT)
    with pytest.raises(OrderRejected, match="a limit order needs a positive limit price"):
        await dry.place_order(no_price)


async def test_orders_are_found_by_client_id_and_a_reused_id_is_the_same_order() -> None:
    dry = broker(ManualClock(0), {"AAPL": D(100)})
    with pytest.raises(NotFound):
        await dry.order(intent("1"))
    first = await dry.place_order(intent("1"))
    again = await dry.place_order(intent("1"))
    assert again == first and len(dry.sent) == 1
    with pytest.raises(OrderRejected, match="client_order_id must be unique"):
        await dry.place_order(intent("2"))


async def test_a_timeout_after_accept_leaves_the_order_at_the_broker() -> None:
    dry = broker(ManualClock(0), {"AAPL": D(100)})
    dry.timeout_after_accept_next()
    with pytest.raises(VenueUncertain):
        await dry.place_order(intent("1"))
    assert (await dry.order(intent("1"))).state is BrokerOrderState.FILLED


async def test_the_account_moves_with_every_fill_and_sells_reserve_shares() -> None:
    clock = ManualClock(0)
    b = broker(
        clock,
        {"AAPL": D(200)},
        cash_usd=D(1_000),
        holdings={"AAPL": D(3)},
        latency_ms=100,
    )
    await b.place_order(intent("2", OrderSide.BUY, "c1"))
    await b.place_order(intent("4", OrderSide.SELL, "c2"))
    positions = await b.positions()
    # nothing filled yet: 3 held, the working sale of 4 reserves them all
    assert (positions["AAPL"].quantity, positions["AAPL"].available) == (D(3), D(0))
    clock.advance(0.1)
    await b.order(intent("2", OrderSide.BUY, "c1"))
    await b.order(intent("4", OrderSide.SELL, "c2"))
    account = await b.account()
    # bought 2 and sold 4 at 200 (no slippage): 1 000 - 400 + 800
    assert account.cash_usd == D(1_400) and account.fractional
    assert (await b.positions())["AAPL"].quantity == D(1)
    assert (await b.positions()).keys() == {"AAPL"}  # only the symbols held or traded


async def test_the_dry_run_calendar_is_open_around_the_clock() -> None:
    days = await broker(ManualClock(0)).trading_days(date(2026, 12, 5), date(2026, 12, 6))
    assert [d.day for d in days] == [date(2026, 12, 5), date(2026, 12, 6)]  # a weekend too
    saturday_3am = 1_796_439_600_000  # 2026-12-05 03:00 UTC
    assert session_at(days, saturday_3am) is Session.REGULAR
