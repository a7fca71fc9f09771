"""The simulated exchange engine. Expected numbers are worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected, VenueUnavailable
from pegkeeper.domain.orders import OrderReport, OrderSide, OrderState
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import ChangeReason, PositionChanged

SWAP = "BTC-USD-SWAP"
T0 = 1_583_971_200_000  # 2020-03-12 00:00 UTC, a funding boundary
H8 = 8 * 3_600_000
SAT = D("0.00000001")


def engine_at(price_usd: str, trading_btc: str = "1", **kwargs: Any) -> SimEngine:
    engine = SimEngine(**kwargs)
    engine.set_price(T0 + 1_000, D(price_usd))
    if D(trading_btc) > 0:
        engine.credit_trading(D(trading_btc))
    return engine


def sell(
    engine: SimEngine, client_id: str, contracts: int, now_ms: int = T0 + 2_000
) -> OrderReport:
    return engine.place_market_order(client_id, SWAP, OrderSide.SELL, D(contracts), now_ms)


def buy(engine: SimEngine, client_id: str, contracts: int, now_ms: int = T0 + 2_000) -> OrderReport:
    return engine.place_market_order(client_id, SWAP, OrderSide.BUY, D(contracts), now_ms)


# -- orders, fees, positions -------------------------------------------------------------------


def test_sell_ten_contracts_takes_the_best_bid() -> None:
    engine = engine_at("7000")
    report = sell(engine, "s1", 10)
    # Best bid = 7000 - 0.5 half spread = 6999.5; 10 contracts fit in its 500.
    assert report.state is OrderState.FILLED
    assert report.filled_contracts == 10
    assert report.avg_price_usd == D("6999.5")
    assert len(report.fills) == 1
    fill = report.fills[0]
    assert (fill.size_contracts, fill.price_usd, fill.fee_currency) == (10, D("6999.5"), "BTC")
    # Fee: 10 * 100 / 6999.5 = 0.14286734... BTC notional * 0.0005 = 0.0000714336738...,
    # rounded up to the sat: 0.00007144.
    assert fill.fee == D("0.00007144")
    assert engine.trading_cash_btc == D("0.99992856")  # 1 - 0.00007144
    position = engine.position(SWAP)
    assert (position.size_contracts, position.avg_price_usd) == (-10, D("6999.5"))
    # Unrealised at 7000: -10 * 100 * (1/6999.5 - 1/7000) = -1000 * 0.5 / (6999.5 * 7000).
    assert abs(position.unrealised_pnl - D(-500) / (D("6999.5") * D(7000))) < D("1e-24")


def test_a_large_sell_walks_two_levels_with_a_harmonic_average() -> None:
    engine = engine_at("7000", trading_btc="3")
    report = sell(engine, "s1", 700)
    # 500 at 6999.5, then 200 at the next level down, 6999.0.
    assert [(f.size_contracts, f.price_usd) for f in report.fills] == [
        (500, D("6999.5")),
        (200, D("6999.0")),
    ]
    # Harmonic average: 700 / (500/6999.5 + 200/6999) = 6999.35713556762..., kept to 1e-8.
    assert report.avg_price_usd == D("6999.35713557")
    # Fees per fill, rounded up: 50000/6999.5*0.0005 = 0.0035716836.. -> 0.00357169;
    # 20000/6999*0.0005 = 0.0014287755.. -> 0.00142878.
    assert [f.fee for f in report.fills] == [D("0.00357169"), D("0.00142878")]
    assert engine.trading_cash_btc == D("3") - D("0.00357169") - D("0.00142878")
    assert len({f.fill_id for f in report.fills}) == 2


def test_reducing_a_short_realises_pnl_and_keeps_the_average() -> None:
    engine = engine_at("7000")
    sell(engine, "s1", 10)  # -10 at 6999.5, fee 0.00007144
    engine.set_price(T0 + 3_000, D("6000"))
    report = buy(engine, "b1", 4, now_ms=T0 + 4_000)
    assert report.avg_price_usd == D("6000.5")  # best ask = 6000 + 0.5
    # Realised: 4 * 100 * (1/6000.5 - 1/6999.5) = 400 * 999 / (6000.5 * 6999.5)
    # = 399600 / 42000499.75 = 0.0095141725.. -> 0.00951417 (nearest sat).
    # Fee: 400 / 6000.5 * 0.0005 = 0.0000333305.. -> 0.00003334 (up).
    assert engine.totals().realised_pnl == D("0.00951417")
    assert engine.trading_cash_btc == D(1) - D("0.00007144") + D("0.00951417") - D("0.00003334")
    position = engine.position(SWAP)
    assert (position.size_contracts, position.avg_price_usd) == (-6, D("6999.5"))


def test_a_flip_closes_the_old_side_and_opens_at_the_fill_price() -> None:
    engine = engine_at("7000")
    sell(engine, "s1", 6)  # -6 at 6999.5
    engine.set_price(T0 + 3_000, D("6000"))
    buy(engine, "b1", 10, now_ms=T0 + 4_000)  # 10 at 6000.5: closes 6, opens 4 long
    # Realised on the 6 closed: 600 * 999 / (6000.5 * 6999.5) = 0.0142712587.. -> 0.01427126.
    assert engine.totals().realised_pnl == D("0.01427126")
    position = engine.position(SWAP)
    assert (position.size_contracts, position.avg_price_usd) == (4, D("6000.5"))


def test_increasing_a_position_averages_harmonically() -> None:
    engine = engine_at("7000")
    sell(engine, "s1", 10)  # 6999.5
    engine.set_price(T0 + 3_000, D("8000"))
    sell(engine, "s2", 30, now_ms=T0 + 4_000)  # 7999.5
    # 40 / (10/6999.5 + 30/7999.5) = 40 / (0.00142867 + 0.00375023) = 7723.636..., to 1e-8.
    expected = (D(40) / (D(10) / D("6999.5") + D(30) / D("7999.5"))).quantize(SAT)
    assert engine.position(SWAP).avg_price_usd == expected
    assert str(expected).startswith("7723.63")


def test_close_position_buys_back_the_whole_short() -> None:
    engine = engine_at("7000")
    sell(engine, "s1", 10)
    report = engine.close_position("c1", SWAP, T0 + 3_000)
    assert report.fills[0].price_usd == D("7000.5")  # a buy takes the best ask
    assert report.filled_contracts == 10
    assert engine.position(SWAP).size_contracts == 0
    assert engine.position(SWAP).avg_price_usd is None


def test_close_when_flat_is_refused_with_51023() -> None:
    engine = engine_at("7000")
    with pytest.raises(OrderRejected) as refused:
        engine.close_position("c1", SWAP, T0 + 2_000)
    assert refused.value.code == "51023"


def test_a_duplicate_client_order_id_is_refused_without_effect() -> None:
    engine = engine_at("7000")
    first = sell(engine, "dup1", 10)
    cash_before = engine.trading_cash_btc
    with pytest.raises(OrderRejected) as refused:
        buy(engine, "dup1", 5)
    assert refused.value.code == "51016"
    assert engine.position(SWAP).size_contracts == -10
    assert engine.trading_cash_btc == cash_before
    assert engine.order("dup1") == first


@pytest.mark.parametrize("size", ["1.5", "0", "-3", "NaN"])
def test_sizes_that_are_not_positive_whole_contracts_are_refused(size: str) -> None:
    engine = engine_at("7000")
    with pytest.raises(OrderRejected) as refused:
        engine.place_market_order("o1", SWAP, OrderSide.SELL, D(size), T0 + 2_000)
    assert refused.value.code == "51000"
    with pytest.raises(NotFound):
        engine.order("o1")


def test_an_order_beyond_the_leverage_limit_is_refused_with_51008() -> None:
    engine = engine_at("7000", trading_btc="0.1")
    # Initial margin of 30 contracts at 4x: 3000 / 7000 / 4 = 0.10714 BTC > 0.1 of equity.
    with pytest.raises(OrderRejected) as refused:
        sell(engine, "o1", 30)
    assert refused.value.code == "51008"
    assert engine.position(SWAP).size_contracts == 0
    # 28 contracts need 2800 / 7000 / 4 = 0.1 exactly: accepted.
    sell(engine, "o2", 28)
    assert engine.position(SWAP).size_contracts == -28


def test_reducing_is_allowed_beyond_the_leverage_limit() -> None:
    engine = engine_at("7000", trading_btc="0.1")
    sell(engine, "o1", 28)
    engine.set_leverage(1)  # 2800 / 7000 / 1 = 0.4 BTC would be needed now
    buy(engine, "o2", 10)
    assert engine.position(SWAP).size_contracts == -18


def test_an_order_deeper_than_the_book_is_refused() -> None:
    engine = engine_at("7000", trading_btc="100", levels=2, level_size_contracts=D(100))
    with pytest.raises(OrderRejected) as refused:
        sell(engine, "o1", 201)
    assert refused.value.code == "51202"
    assert engine.position(SWAP).size_contracts == 0


def test_unknown_orders_are_not_found_with_51603() -> None:
    engine = engine_at("7000")
    with pytest.raises(NotFound) as missing:
        engine.order("nope")
    assert missing.value.code == "51603"
    sell(engine, "o1", 1)
    with pytest.raises(NotFound):
        engine.order("o1", "BTC-USD-240628")


def test_orders_need_a_price() -> None:
    engine = SimEngine()
    engine.credit_trading(D(1))
    with pytest.raises(VenueUnavailable):
        sell(engine, "o1", 1)


def test_the_synthetic_book_has_the_configured_shape() -> None:
    engine = engine_at("7000", half_spread_usd=D("1"), levels=3, level_size_contracts=D(50))
    book = engine.book(SWAP)
    assert [(lvl.price_usd, lvl.size_contracts) for lvl in book.asks()] == [
        (D("7001"), 50),
        (D("7001.5"), 50),
        (D("7002.0"), 50),
    ]
    assert [lvl.price_usd for lvl in book.bids()] == [D("6999"), D("6998.5"), D("6998.0")]


# -- funding -----------------------------------------------------------------------------------


def test_funding_at_0800_pays_a_short_once() -> None:
    engine = SimEngine()
    engine.credit_trading(D(1))
    engine.set_price(T0 + H8 - 30_000, D("7000"))  # 07:59:30
    sell(engine, "s1", 10, now_ms=T0 + H8 - 20_000)
    cash = engine.trading_cash_btc
    engine.set_price(T0 + H8 + 15_000, D("7100"))  # crosses 08:00, at which the price was 7000
    # Positive rate, a short receives: 10 * 100 / 7000 * 0.0001 = 0.0000142857.. -> 0.00001429.
    assert engine.trading_cash_btc == cash + D("0.00001429")
    engine.set_price(T0 + H8 + 30_000, D("7100"))
    assert engine.trading_cash_btc == cash + D("0.00001429")
    [payment] = engine.funding_payments
    assert (payment.ts_ms, payment.mark_price_usd, payment.amount_btc) == (
        T0 + H8,
        D("7000"),
        D("0.00001429"),
    )


def test_funding_on_a_boundary_tick_uses_that_tick_and_a_negative_rate_makes_shorts_pay() -> None:
    engine = SimEngine()
    engine.credit_trading(D(1))
    engine.set_price(T0 + H8 + 1_000, D("7000"))
    sell(engine, "s1", 10, now_ms=T0 + H8 + 2_000)
    engine.set_funding_rate(D("-0.00375"))
    engine.set_price(T0 + 2 * H8, D("7100"))  # exactly 16:00
    # -(-10) * 100 / 7100 * -0.00375 = -0.000528169.. -> -0.00052817: the short pays.
    assert [p.amount_btc for p in engine.funding_payments] == [D("-0.00052817")]


def test_funding_settles_every_boundary_crossed_in_one_update() -> None:
    engine = engine_at("7000")
    sell(engine, "s1", 10)
    engine.set_price(T0 + 3 * H8 + 5_000, D("7000"))  # crosses 08:00, 16:00 and 00:00
    assert [p.ts_ms for p in engine.funding_payments] == [T0 + H8, T0 + 2 * H8, T0 + 3 * H8]
    assert engine.totals().funding_received == 3 * D("0.00001429")


def test_the_first_price_settles_no_funding() -> None:
    engine = SimEngine()
    engine.set_price(T0, D("7000"))
    assert engine.funding_payments == ()


def test_price_time_cannot_go_back() -> None:
    engine = engine_at("7000")
    with pytest.raises(ValueError, match="went back"):
        engine.set_price(T0, D("7000"))


# -- transfers ---------------------------------------------------------------------------------


def test_transfer_from_funding_is_refused_when_insufficient_and_idempotent() -> None:
    engine = engine_at("7000", trading_btc="0")
    engine.credit_funding(D(1))
    with pytest.raises(OrderRejected) as refused:
        engine.transfer("t1", D("1.5"), "funding", "trading", T0 + 2_000)
    assert refused.value.code == "58350"
    assert "insufficient balance" in str(refused.value)
    first = engine.transfer("t2", D("0.6"), "funding", "trading", T0 + 2_000)
    again = engine.transfer("t2", D("0.6"), "funding", "trading", T0 + 3_000)
    assert again == first
    balances = engine.balances("BTC")
    assert (balances.funding_balance, balances.trading_equity) == (D("0.4"), D("0.6"))


def test_transfer_out_of_trading_is_limited_to_equity_above_initial_margin() -> None:
    engine = engine_at("7000", trading_btc="0.6")
    sell(engine, "s1", 10)  # fee 0.00007144
    # equity = 0.6 - 0.00007144 - 500 / (6999.5 * 7000) (unrealised at 7000)
    # initial margin = 10 * 100 / 7000 / 4
    equity = D("0.59992856") - D(500) / (D("6999.5") * D(7000))
    available = equity - D(1000) / D(7000) / D(4)  # 0.56420406.. BTC
    assert engine.balances("BTC").trading_equity == equity
    assert engine.balances("BTC").trading_available == available.quantize(SAT, "ROUND_FLOOR")
    assert str(available).startswith("0.56420406")
    with pytest.raises(OrderRejected) as refused:
        engine.transfer("t1", D("0.56420407"), "trading", "funding", T0 + 3_000)
    assert refused.value.code == "58350"
    engine.transfer("t2", D("0.56420406"), "trading", "funding", T0 + 3_000)
    assert engine.balances("BTC").funding_balance == D("0.56420406")


def test_transfer_amounts_must_be_whole_sats() -> None:
    engine = engine_at("7000")
    with pytest.raises(InvalidInput):
        engine.transfer("t1", D("0.000000001"), "trading", "funding", T0 + 2_000)


# -- liquidation -------------------------------------------------------------------------------


def test_liquidation_price_matches_the_spec_and_crossing_it_liquidates() -> None:
    engine = engine_at("7000", trading_btc="0.5")
    events: list[PositionChanged] = []
    engine.add_listener(events.append)
    sell(engine, "s1", 100)  # -100 at 6999.5; fee 10000/6999.5*0.0005 = 0.000714336.. -> 0.00071434
    balance = D("0.5") - D("0.00071434")
    # Spec: LiqPx = FV*N*(1-MMR)*OPx / (FV*N - OPx*B) = 10000*0.996*6999.5 / (10000 - 6999.5*B)
    #       = 10716.7318...
    liquidation_price = D(10000) * D("0.996") * D("6999.5") / (D(10000) - D("6999.5") * balance)
    assert str(liquidation_price).startswith("10716.73")
    assert engine.position(SWAP).liquidation_price_usd == liquidation_price

    engine.set_price(T0 + 3_000, D("10716.7"))
    assert engine.liquidation_count == 0
    engine.set_price(T0 + 4_000, D("10800"))
    assert engine.liquidation_count == 1
    [liquidation] = engine.liquidations
    assert (liquidation.ts_ms, liquidation.price_usd, liquidation.size_contracts) == (
        T0 + 4_000,
        liquidation_price,
        -100,
    )
    assert engine.position(SWAP).size_contracts == 0
    # Equity left at the liquidation price is the maintenance margin: 0.004 * 10000 / LiqPx
    # = 0.00373248.. BTC.
    expected_cash = (balance - D(10000) * (1 / D("6999.5") - 1 / liquidation_price)).quantize(SAT)
    assert engine.trading_cash_btc == expected_cash == D("0.00373248")
    assert [e.reason for e in events] == [ChangeReason.FILL, ChangeReason.LIQUIDATION]


def test_a_long_is_liquidated_when_the_price_falls_through() -> None:
    engine = engine_at("7000", trading_btc="0.1")
    buy(engine, "b1", 20)  # +20 at 7000.5
    liquidation_price = engine.position(SWAP).liquidation_price_usd
    assert liquidation_price is not None
    # Long: FV*N*(1+MMR)*OPx / (OPx*B + FV*N) with B = 0.1 - fee (2000/7000.5*0.0005 -> 0.00014285)
    balance = D("0.1") - D("0.00014285")
    assert liquidation_price == D(2000) * D("1.004") * D("7000.5") / (
        D("7000.5") * balance + D(2000)
    )
    engine.set_price(T0 + 3_000, liquidation_price)
    assert engine.liquidation_count == 1


# -- conservation ------------------------------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("price"),
            st.integers(1, 10 * 3_600_000),
            st.decimals(min_value=6000, max_value=8000, places=1),
        ),
        st.tuples(st.just("order"), st.sampled_from(list(OrderSide)), st.integers(1, 100)),
        st.tuples(st.just("close"), st.none(), st.none()),
        st.tuples(st.just("rate"), st.none(), st.sampled_from(["0.0001", "-0.00375", "0"])),
        st.tuples(
            st.just("transfer"), st.sampled_from(["trading", "funding"]), st.integers(1, 10**8)
        ),
    ),
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps)
def test_btc_is_conserved(steps: list[tuple[str, object, object]]) -> None:
    engine = SimEngine(leverage=100)
    now_ms = T0 + 1
    engine.set_price(now_ms, D("7000"))
    engine.credit_trading(D(50))
    engine.credit_funding(D(5))
    bought_btc = sold_btc = fees_btc = D(0)
    orders = 0
    for index, (kind, a, b) in enumerate(steps):
        client_id = f"x{index}"
        try:
            if kind == "price":
                now_ms += int(str(a))
                engine.set_price(now_ms, D(str(b)))
            elif kind == "rate":
                engine.set_funding_rate(D(str(b)))
            elif kind == "transfer":
                other = "funding" if a == "trading" else "trading"
                engine.transfer(client_id, D(str(b)) * SAT, str(a), other, now_ms)
            else:
                size_before = engine.position(SWAP).size_contracts
                if kind == "order":
                    report = engine.place_market_order(
                        client_id, SWAP, OrderSide(str(a)), D(str(b)), now_ms
                    )
                else:
                    report = engine.close_position(client_id, SWAP, now_ms)
                orders += 1
                buying = engine.position(SWAP).size_contracts > size_before
                for fill in report.fills:
                    value_btc = fill.size_contracts * 100 / fill.price_usd
                    if buying:
                        bought_btc += value_btc
                    else:
                        sold_btc += value_btc
                    fees_btc += fill.fee
        except OrderRejected as refused:
            assert refused.code in {"58350", "51023", "51008"}
    assert engine.liquidation_count == 0
    totals = engine.totals()
    funding_btc = sum((p.amount_btc for p in engine.funding_payments), D(0))
    assert totals.fees_paid == fees_btc
    assert totals.funding_received == funding_btc
    # Bookkeeping, exact: the trading cash is explained by its movements.
    assert engine.trading_cash_btc == (
        totals.net_inflow_to_trading
        + totals.realised_pnl
        - totals.fees_paid
        + totals.funding_received
        + totals.liquidation_shortfall
    )
    # Independent of the engine's average prices: an inverse contract traded at p is worth
    # 100/p BTC, and a position's P&L, realised or not, is what its buys were worth less what
    # its sells were worth, less what the open size is worth at the mark:
    # equity + funding account - 55 put in + fees - funding received
    #   = bought - sold - size * 100 / mark, up to a sat of rounding per order.
    position = engine.position(SWAP)
    balances = engine.balances("BTC")
    lhs = balances.trading_equity + balances.funding_balance - D(55) + fees_btc - funding_btc
    rhs = bought_btc - sold_btc - position.size_contracts * 100 / position.mark_price_usd
    assert abs(lhs - rhs) <= (orders + 1) * SAT
