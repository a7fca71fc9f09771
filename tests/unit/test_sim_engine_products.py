"""The simulated exchange beyond the inverse swap: the linear swap settled in USDT, dated
futures and their delivery, limit and post-only orders, partial fills, deposits and
withdrawals. Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected
from pegkeeper.domain.instruments import (
    BTC_USD_SWAP,
    BTC_USDT_SWAP,
    btc_usd_future,
    quarterly_expiries_ms,
)
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.sim.bills import FundingBills
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import ChangeReason, FundingPayment, OrderChanged, PositionChanged
from pegkeeper.sim.orders import OrderType

T0 = 1_583_971_200_000  # 2020-03-12 00:00 UTC
H8 = 8 * 3_600_000
LINEAR = "BTC-USDT-SWAP"
SWAP = "BTC-USD-SWAP"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_quarterly_expiries_are_the_last_fridays_of_the_quarter_at_0800() -> None:
    assert quarterly_expiries_ms(T0) == [ms("2020-03-27T08:00"), ms("2020-06-26T08:00")]
    # on the expiry itself, that one is gone
    assert quarterly_expiries_ms(ms("2020-12-25T08:00"), 1) == [ms("2021-03-26T08:00")]
    future = btc_usd_future(ms("2020-03-27T08:00"))
    assert future.instrument_id == "BTC-USD-200327" and not future.has_funding


def test_limit_intents_need_a_price_and_market_ones_refuse_one() -> None:
    def intent(kind: OrderKind, price: str | None) -> OrderIntent:
        limit = None if price is None else D(price)
        return OrderIntent("o1", SWAP, kind, OrderSide.BUY, D(1), "d", "c", T0, limit)

    assert intent(OrderKind.POST_ONLY, "7000").limit_price_usd == D(7000)
    for kind, price in [(OrderKind.LIMIT, None), (OrderKind.MARKET, "7000")]:
        with pytest.raises(InvalidInput):
            intent(kind, price)


# -- the linear swap ---------------------------------------------------------------------------


def linear_engine() -> SimEngine:
    engine = SimEngine([BTC_USD_SWAP, BTC_USDT_SWAP], leverage=10)
    engine.set_price(T0 + 1_000, D(7000), LINEAR)
    engine.credit_trading(D(1000), "USDT")
    return engine


def test_a_linear_short_pays_fees_and_realises_pnl_in_usdt() -> None:
    engine = linear_engine()
    order = engine.place_order("l1", LINEAR, OrderSide.SELL, D("0.50"), T0 + 2_000)
    # 0.5 contracts of 0.01 BTC at the best bid 6999.5: fee 0.005 * 6999.5 * 0.0005
    assert order.fills[0].fee == D("0.01749875") and order.fills[0].fee_currency == "USDT"
    engine.set_price(T0 + 3_000, D(6000), LINEAR)
    position = engine.position(LINEAR)
    # unrealised: -0.005 BTC * (6000 - 6999.5) = +4.9975 USDT
    assert position.unrealised_pnl == D("4.99750")
    engine.close_position("l2", LINEAR, T0 + 4_000)  # buys at 6000.5
    totals = engine.totals("USDT")
    assert totals.realised_pnl == D("4.995") and totals.currency == "USDT"
    assert engine.trading_cash("USDT") == D(1000) + D("4.995") - totals.fees_paid
    assert engine.balances("BTC").trading_equity == 0  # the BTC account never moved


def test_linear_funding_and_liquidation_follow_the_usdt_balance() -> None:
    engine = SimEngine([BTC_USDT_SWAP], leverage=100)
    engine.set_price(T0 + H8 - 1_000, D(7000))
    engine.credit_trading(D(100), "USDT")
    engine.place_order("l1", LINEAR, OrderSide.SELL, D(1), T0 + H8 - 500)  # 0.01 BTC at 6999.5
    engine.set_price(T0 + H8, D(7000))  # 08:00: a short receives 0.01 * 7000 * 0.0001
    (payment,) = engine.funding_payments
    assert (payment.amount_btc, payment.currency) == (D("0.007"), "USDT")
    liquidation_price = engine.position(LINEAR).liquidation_price_usd
    cash = engine.trading_cash("USDT")
    # LiqPx = (s*OPx - B) / (s - MMR*|s|) with s = -0.01 BTC
    assert liquidation_price == (D("-0.01") * D("6999.5") - cash) / (D("-0.01") - D("0.00004"))
    engine.set_price(T0 + H8 + 1_000, liquidation_price + 1)
    assert engine.liquidation_count == 1 and engine.position(LINEAR).size_contracts == 0


def test_transfers_keep_each_currency_apart() -> None:
    engine = linear_engine()
    engine.credit_funding(D(50), "USDT")
    done = engine.transfer("t1", D(20), "funding", "trading", T0 + 2_000, currency="USDT")
    assert done.currency == "USDT" and engine.transfer_by_client_id("t1") == done
    assert engine.balances("USDT").funding_balance == D(30)
    assert engine.balances("USDT").trading_equity == D(1020)
    with pytest.raises(OrderRejected) as refused:
        engine.transfer("t2", D(1), "funding", "trading", T0 + 2_000)  # no BTC anywhere
    assert refused.value.code == "58350"
    with pytest.raises(NotFound) as missing:
        engine.transfer_by_client_id("t9")
    assert missing.value.code == "58129"


# -- dated futures -----------------------------------------------------------------------------


def test_a_future_is_settled_at_expiry_and_then_refuses_orders() -> None:
    expiry_ms = ms("2020-03-27T08:00")
    future = btc_usd_future(expiry_ms)
    engine = SimEngine([BTC_USD_SWAP, future])
    events: list[PositionChanged] = []
    engine.add_listener(events.append)
    engine.credit_trading(D(1))
    engine.set_prices(expiry_ms - H8, D(7000))
    engine.place_order("f1", future.instrument_id, OrderSide.SELL, D(10), expiry_ms - H8)
    engine.set_prices(expiry_ms - 1_000, D(6000))
    engine.set_prices(expiry_ms + 1_000, D(5000))  # settled at 6000, the price at expiry
    assert engine.funding_payments == () or all(
        p.instrument_id == SWAP for p in engine.funding_payments
    )
    (delivery,) = engine.deliveries
    # a short of 10 x 100 USD from 6999.5 settled at 6000: 1000 * (1/6000 - 1/6999.5)
    assert delivery.price_usd == 6000 and delivery.realised_pnl == D("0.02379932")
    assert engine.live_instrument_ids == (SWAP,)
    assert engine.position(future.instrument_id).size_contracts == 0
    assert events[-1].reason is ChangeReason.DELIVERY
    with pytest.raises(OrderRejected) as refused:
        engine.place_order("f2", future.instrument_id, OrderSide.SELL, D(1), expiry_ms + 2_000)
    assert refused.value.code == "51027"


# -- limit, post-only, partial fills -----------------------------------------------------------


def swap_engine() -> SimEngine:
    engine = SimEngine()
    engine.set_price(T0 + 1_000, D(7000))
    engine.credit_trading(D(1))
    return engine


def test_a_resting_limit_order_fills_at_its_price_when_the_book_crosses_it() -> None:
    engine = swap_engine()
    changes: list[OrderChanged] = []
    engine.add_order_listener(changes.append)
    order = engine.place_order(
        "p1", SWAP, OrderSide.SELL, D(5), T0 + 2_000, order_type=OrderType.POST_ONLY,
        limit_price_usd=D("7010.0"),
    )  # fmt: skip
    assert order.state is OrderState.ACCEPTED and engine.open_orders() == [order]
    engine.set_price(T0 + 3_000, D(7005))  # best bid 7004.5: not yet
    assert engine.order("p1").state is OrderState.ACCEPTED
    engine.set_price(T0 + 4_000, D(7011))  # best bid 7010.5 >= 7010
    filled = engine.order_details("p1")
    assert filled.state is OrderState.FILLED and filled.avg_price_usd == D(7010)
    # maker fee: 500 / 7010 * 0.0002 = 0.0000142653.. -> 0.00001427
    assert filled.fees == D("0.00001427")
    assert [c.state for c in changes] == [OrderState.ACCEPTED, OrderState.FILLED]


def test_a_post_only_order_that_would_take_is_canceled() -> None:
    engine = swap_engine()
    order = engine.place_order(
        "p1", SWAP, OrderSide.BUY, D(5), T0 + 2_000, order_type=OrderType.POST_ONLY,
        limit_price_usd=D("7000.5"),
    )  # fmt: skip
    assert order.state is OrderState.CANCELED and order.filled_contracts == 0
    assert engine.position().size_contracts == 0


def test_a_crossing_limit_order_takes_what_its_price_allows_and_rests_the_rest() -> None:
    engine = SimEngine(levels=3, level_size_contracts=D(10))
    engine.set_price(T0 + 1_000, D(7000))
    engine.credit_trading(D(1))
    # asks 7000.5, 7001, 7001.5 x 10: a buy of 25 up to 7001 takes 20 and rests 5
    order = engine.place_order(
        "l1", SWAP, OrderSide.BUY, D(25), T0 + 2_000, order_type=OrderType.LIMIT,
        limit_price_usd=D("7001.0"),
    )  # fmt: skip
    assert order.state is OrderState.PARTIALLY_FILLED and order.filled_contracts == 20
    canceled = engine.cancel_order("l1", SWAP, T0 + 3_000)
    assert canceled.state is OrderState.CANCELED and engine.position().size_contracts == 20
    with pytest.raises(OrderRejected) as again:
        engine.cancel_order("l1", SWAP, T0 + 3_000)
    assert again.value.code == "51401"
    with pytest.raises(NotFound):
        engine.cancel_order("nope", SWAP, T0 + 3_000)


@pytest.mark.parametrize(
    ("price", "code"), [("7000.05", "51000"), (None, "51000"), ("-1", "51000")]
)
def test_limit_prices_are_checked(price: str | None, code: str) -> None:
    engine = swap_engine()
    with pytest.raises(OrderRejected) as refused:
        engine.place_order(
            "l1", SWAP, OrderSide.BUY, D(1), T0 + 2_000, order_type=OrderType.LIMIT,
            limit_price_usd=None if price is None else D(price),
        )  # fmt: skip
    assert refused.value.code == code


def test_a_partly_filled_market_order_completes_or_is_canceled_later() -> None:
    engine = swap_engine()
    first = engine.place_order(
        "m1", SWAP, OrderSide.SELL, D(10), T0 + 2_000, max_fill_contracts=D(4)
    )
    assert first.state is OrderState.PARTIALLY_FILLED and engine.position().size_contracts == -4
    done = engine.fill_remaining("m1", T0 + 3_000)
    assert done.state is OrderState.FILLED and engine.position().size_contracts == -10
    assert [f.size_contracts for f in done.fills] == [4, 6]
    engine.place_order("m2", SWAP, OrderSide.BUY, D(6), T0 + 4_000, max_fill_contracts=D(1))
    rest = engine.cancel_order("m2", SWAP, T0 + 5_000)
    assert rest.state is OrderState.CANCELED and rest.filled_contracts == 1
    assert engine.position().size_contracts == -9
    closing = engine.close_position_order("c1", SWAP, T0 + 6_000, max_fill_contracts=D(5))
    assert closing.reduce_only and engine.position().size_contracts == -4
    assert engine.fill_remaining("c1", T0 + 7_000).state is OrderState.FILLED
    assert engine.position().size_contracts == 0


# -- onchain -----------------------------------------------------------------------------------


def test_a_deposit_is_credited_as_it_confirms() -> None:
    engine = SimEngine(deposit_confirmation_ms=60_000)
    engine.set_price(T0, D(7000))
    deposit = engine.wallet.receive(D("0.5"), "BTC", T0)
    assert deposit.address == engine.wallet.address("BTC") and deposit.state == "0"
    engine.set_price(T0 + 30_000, D(7000))
    assert engine.wallet.deposits("BTC")[0].state == "1"
    assert engine.balances().funding_balance == D("0.5")
    assert engine.wallet.moving == 1  # on its way until its final state
    engine.advance(T0 + 60_000)
    assert [d.state for d in engine.wallet.deposits()] == ["2"]
    assert engine.balances().funding_balance == D("0.5")  # credited once
    assert engine.wallet.moving == 0


def test_a_withdrawal_leaves_the_funding_account_with_its_fee() -> None:
    engine = SimEngine(withdrawal_ms=60_000)
    engine.credit_funding(D(1))
    address = "bc1qexampleaddress"
    wd = engine.wallet.withdraw("w1", "BTC", D("0.4"), address, T0, fee=D("0.0002"))
    assert engine.wallet.withdraw("w1", "BTC", D("0.4"), address, T0) == wd  # idempotent
    assert engine.wallet.moving == 1  # the repeat is the same withdrawal
    assert engine.balances().funding_balance == D("0.5998")
    engine.advance(T0 + 30_000)
    assert engine.wallet.withdrawal("w1").state == "1" and engine.wallet.withdrawal("w1").tx_id
    engine.advance(T0 + 60_000)
    assert [w.state for w in engine.wallet.withdrawals("BTC")] == ["2"]
    assert engine.wallet.moving == 0
    for client_id, amount, fee, code in [("w2", "0.6", None, "58350"), ("w3", "0.1", "0", "58208")]:
        with pytest.raises(OrderRejected) as refused:
            engine.wallet.withdraw(
                client_id, "BTC", D(amount), address, T0, None if fee is None else D(fee)
            )
        assert refused.value.code == code
    with pytest.raises(NotFound):
        engine.wallet.withdrawal("w9")


def test_a_linear_position_averages_arithmetically_and_flips_at_the_fill_price() -> None:
    engine = linear_engine()
    engine.place_order("a1", LINEAR, OrderSide.BUY, D("1"), T0 + 2_000)  # at 7000.5
    engine.set_price(T0 + 3_000, D(8000), LINEAR)
    engine.place_order("a2", LINEAR, OrderSide.BUY, D("3"), T0 + 4_000)  # at 8000.5
    # (1 * 7000.5 + 3 * 8000.5) / 4
    assert engine.position(LINEAR).avg_price_usd == D("7750.5")
    engine.place_order("a3", LINEAR, OrderSide.SELL, D("1"), T0 + 5_000)  # at 7999.5
    # closes 1 of 4 at 7999.5: 0.01 BTC * (7999.5 - 7750.5) = 2.49 USDT; the average stays
    assert engine.totals("USDT").realised_pnl == D("2.49")
    assert engine.position(LINEAR).avg_price_usd == D("7750.5")
    engine.place_order("a4", LINEAR, OrderSide.SELL, D("5"), T0 + 6_000)  # flips to -2
    position = engine.position(LINEAR)
    assert position.size_contracts == -2 and position.avg_price_usd == D("7999.5")
    engine.place_order("a5", LINEAR, OrderSide.BUY, D("2"), T0 + 7_000)
    assert engine.position(LINEAR).avg_price_usd is None


# -- funding bills -------------------------------------------------------------------------------


def test_funding_bills_since_a_time_are_the_payments_from_it_on() -> None:
    engine = SimEngine([BTC_USD_SWAP, BTC_USDT_SWAP])
    engine.credit_trading(D(1))
    engine.set_price(T0 + 1_000, D(7000), SWAP)
    engine.place_order("s1", SWAP, OrderSide.SELL, D(10), T0 + 2_000)
    engine.set_price(T0 + 3 * H8 + 5_000, D(7000), SWAP)  # pays at 08:00, 16:00 and 00:00
    since = engine.funding_bills("BTC", since_ms=T0 + 2 * H8)
    assert [(bill_id, p.ts_ms) for bill_id, p in since] == [("2", T0 + 2 * H8), ("3", T0 + 3 * H8)]
    assert [bill_id for bill_id, _ in engine.funding_bills("BTC")] == ["1", "2", "3"]
    assert engine.funding_bills("BTC", since_ms=T0 + 3 * H8 + 1) == []
    assert engine.funding_bills("USDT", since_ms=0) == []


def test_funding_bills_out_of_time_order_are_still_found_by_time() -> None:
    bills = FundingBills()
    for bill_id, ts_ms in (("1", T0 + H8), ("2", T0 + 2 * H8), ("3", T0 + H8)):  # a late swap
        bills.add(bill_id, FundingPayment(ts_ms, SWAP, D("0.0001"), D(-10), D(7000), D(0)))
    assert [bill_id for bill_id, _ in bills.since("BTC", T0 + H8)] == ["1", "2", "3"]
    assert [bill_id for bill_id, _ in bills.since("BTC", T0 + H8 + 1)] == ["2"]
