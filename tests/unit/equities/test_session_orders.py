"""The order a session allows: limit prices on the stock ticks, notional in whole cents, market
orders in the regular session, limits for opted-in assets in the extended ones, holds with their
reason, the upkeep of working limit orders, and the slippage widening before a closed day.
Calendar: calendar_days.py (EST, written out by hand)."""

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderType
from pegkeeper.domain.equities.session_orders import (
    Hold,
    SessionOrder,
    Upkeep,
    closing_slippage_bps,
    limit_price_usd,
    notional_usd,
    plan_order,
    working_order_upkeep,
)
from pegkeeper.domain.equities.sessions import Session
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide
from tests.unit.equities.calendar_days import DAYS, utc

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
REGULAR, EXTENDED, CLOSED = Session.REGULAR, Session.EXTENDED, Session.CLOSED


# -- limit prices and notional ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "side", "bps", "expected"),
    [
        ("190.55", BUY, "100", "192.46"),  # 192.4555 up
        ("190.55", SELL, "100", "188.64"),  # 188.6445 down
        ("190.55", BUY, "0", "190.55"),
        ("100", BUY, "50", "100.50"),  # exact: no rounding
        ("0.51234", BUY, "100", "0.5175"),  # 0.5174634 up to 0.0001
        ("0.51234", SELL, "100", "0.5072"),  # 0.5072166 down to 0.0001
        ("0.995", BUY, "100", "1.01"),  # 1.00495: at or above 1 USD, cents
        ("1.005", SELL, "100", "0.9949"),  # 0.99495: below 1 USD, 0.0001
        ("0.0002", SELL, "100", "0.0001"),  # 0.000198 down
    ],
)
def test_limit_prices_on_the_stock_ticks(
    reference: str, side: OrderSide, bps: str, expected: str
) -> None:
    price = limit_price_usd(D(reference), side, D(bps))
    assert price == D(expected)
    assert str(price) == expected  # on the tick, no finer digits


@pytest.mark.parametrize(
    ("reference", "side", "bps", "named"),
    [
        ("0", BUY, "100", "reference_usd"),
        ("-1", SELL, "100", "reference_usd"),
        ("NaN", BUY, "100", "reference_usd"),
        ("100", BUY, "-1", "slippage_bps"),
        ("100", BUY, "10000", "slippage_bps"),
        ("0.0001", SELL, "100", "rounds to 0.0000"),  # 0.000099 down
    ],
)
def test_limit_prices_refuse_bad_input(
    reference: str, side: OrderSide, bps: str, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        limit_price_usd(D(reference), side, D(bps))


def _tick(price: Decimal) -> Decimal:
    return D("0.01") if price >= 1 else D("0.0001")


references = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-4))
slippages = st.integers(min_value=0, max_value=9_999).map(lambda n: D(n).scaleb(-1))


@given(references, slippages)
def test_a_limit_buy_is_never_below_the_moved_reference_and_within_a_tick(
    reference: Decimal, bps: Decimal
) -> None:
    moved = reference * (1 + bps / 10_000)
    price = limit_price_usd(reference, BUY, bps)
    assert moved <= price < moved + _tick(moved)
    assert price % _tick(price) == 0


@given(references, slippages)
def test_a_limit_sell_is_never_above_the_moved_reference_and_within_a_tick(
    reference: Decimal, bps: Decimal
) -> None:
    moved = reference * (1 - bps / 10_000)
    assume(moved >= D("0.0001"))
    price = limit_price_usd(reference, SELL, bps)
    assert moved - _tick(moved) < price <= moved
    assert price > 0 and price % _tick(price) == 0


def test_notional_is_whole_cents_rounded_down() -> None:
    assert notional_usd(D("0.123456789"), D("190.55")) == D("23.52")  # 23.5246911...
    assert notional_usd(D(3), D("10.005")) == D("30.01")  # 30.015 down
    assert notional_usd(D(2), D("100")) == D("200.00")
    with pytest.raises(InvalidInput, match="quantity"):
        notional_usd(D(0), D(100))
    with pytest.raises(InvalidInput, match="price_usd"):
        notional_usd(D(1), D(-1))


# -- the order plan ------------------------------------------------------------------------------


def plan(
    moment: int, *, extended: bool, side: OrderSide = BUY, reference: str | None = "190.55"
) -> SessionOrder | Hold:
    return plan_order(
        DAYS,
        moment,
        symbol="AAPL",
        side=side,
        reference_usd=None if reference is None else D(reference),
        extended_hours=extended,
        slippage_bps=D(100),
    )


def test_the_regular_session_sends_market_orders() -> None:
    wednesday_noon = utc(2026, 12, 2, 17)
    for extended in (False, True):
        order = plan(wednesday_noon, extended=extended)
        assert order == SessionOrder(REGULAR, BrokerOrderType.MARKET)
        assert not order.extended_hours and order.time_in_force == "day"


def test_the_extended_sessions_send_limit_orders_for_opted_in_assets() -> None:
    wednesday_17h = utc(2026, 12, 2, 22)  # 17:00 ET, after hours
    assert plan(wednesday_17h, extended=True) == SessionOrder(
        EXTENDED, BrokerOrderType.LIMIT, D("192.46"), D(100), extended_hours=True
    )
    assert plan(wednesday_17h, extended=True, side=SELL) == SessionOrder(
        EXTENDED, BrokerOrderType.LIMIT, D("188.64"), D(100), extended_hours=True
    )


@pytest.mark.parametrize(
    ("moment", "extended", "waiting", "until"),
    [
        (  # Wednesday 17:00 ET
            utc(2026, 12, 2, 22),
            False,
            "extended hours: AAPL not opted in, until Thu 09:30 ET",
            utc(2026, 12, 3, 14, 30),
        ),
        (  # Saturday noon ET
            utc(2026, 12, 5, 17),
            False,
            "market closed until Mon 09:30 ET",
            utc(2026, 12, 7, 14, 30),
        ),
        (utc(2026, 12, 5, 17), True, "market closed until Mon 04:00 ET", utc(2026, 12, 7, 9)),
        (  # Thanksgiving, 10:00 ET
            utc(2026, 11, 26, 15),
            False,
            "holiday: market closed until Fri 09:30 ET",
            utc(2026, 11, 27, 14, 30),
        ),
        (  # the half day, 14:00 ET: extended hours, not opted in
            utc(2026, 11, 27, 19),
            False,
            "half day: closed since 13:00 ET, until Mon 09:30 ET",
            utc(2026, 11, 30, 14, 30),
        ),
        (  # the half day, 18:00 ET: closed for everyone
            utc(2026, 11, 27, 23),
            True,
            "half day: closed since 17:00 ET, until Mon 04:00 ET",
            utc(2026, 11, 30, 9),
        ),
        (  # the half day's morning, 07:00 ET: an ordinary pre-market
            utc(2026, 11, 27, 12),
            False,
            "extended hours: AAPL not opted in, until Fri 09:30 ET",
            utc(2026, 11, 27, 14, 30),
        ),
    ],
)
def test_holds_say_why_and_until_when(
    moment: int, extended: bool, waiting: str, until: int
) -> None:
    hold = plan(moment, extended=extended)
    assert isinstance(hold, Hold)
    assert (hold.waiting, hold.until_ms) == (waiting, until)


def test_a_limit_order_needs_a_reference_price() -> None:
    hold = plan(utc(2026, 12, 2, 22), extended=True, reference=None)
    assert hold == Hold(
        "extended hours: no reference price for AAPL yet, until Thu 09:30 ET",
        utc(2026, 12, 3, 14, 30),
        EXTENDED,
    )


def test_a_hold_past_the_calendar_has_no_end() -> None:
    hold = plan(utc(2026, 12, 12, 17), extended=False)  # Saturday after the last day
    assert isinstance(hold, Hold) and hold.until_ms is None
    assert hold.waiting.startswith("market closed and the calendar names no session")


def test_the_plan_applies_to_an_intent() -> None:
    intent = BrokerOrderIntent("eq-AAPL-1", "AAPL", BUY, D("1.5"), created_at_ms=7)
    order = plan(utc(2026, 12, 2, 22), extended=True)
    assert isinstance(order, SessionOrder)
    limit = order.applied_to(intent)
    assert (limit.order_type, limit.limit_price_usd, limit.extended_hours) == (
        BrokerOrderType.LIMIT,
        D("192.46"),
        True,
    )
    assert (limit.client_order_id, limit.quantity, limit.created_at_ms) == (
        "eq-AAPL-1",
        D("1.5"),
        7,
    )
    back = SessionOrder.market().applied_to(limit)
    assert (back.order_type, back.limit_price_usd, back.extended_hours) == (
        BrokerOrderType.MARKET,
        None,
        False,
    )


# -- working orders ------------------------------------------------------------------------------


def limit_intent(created_at_ms: int) -> BrokerOrderIntent:
    return BrokerOrderIntent(
        "eq-AAPL-1",
        "AAPL",
        BUY,
        D(1),
        created_at_ms,
        order_type=BrokerOrderType.LIMIT,
        limit_price_usd=D("192.46"),
        extended_hours=True,
    )


def test_limit_orders_are_repriced_after_the_timeout() -> None:
    placed = utc(2026, 12, 2, 22)
    age = 300_000  # 300 s
    assert working_order_upkeep(
        limit_intent(placed), placed + age - 1, EXTENDED, reprice_after_seconds=300
    ) is (Upkeep.KEEP)
    assert working_order_upkeep(
        limit_intent(placed), placed + age, EXTENDED, reprice_after_seconds=300
    ) is (Upkeep.REPRICE)


def test_limit_orders_give_way_to_market_orders_at_the_open_and_end_with_their_sessions() -> None:
    placed = utc(2026, 12, 3, 14, 29)
    intent = limit_intent(placed)
    assert working_order_upkeep(intent, placed + 60_000, REGULAR, reprice_after_seconds=300) is (
        Upkeep.REPLACE_BY_MARKET
    )
    assert working_order_upkeep(intent, placed, CLOSED, reprice_after_seconds=300) is Upkeep.CANCEL


def test_market_orders_are_left_to_fill() -> None:
    market = BrokerOrderIntent("eq-AAPL-2", "AAPL", SELL, D(1), created_at_ms=0)
    for session in Session:
        assert (
            working_order_upkeep(market, 10**12, session, reprice_after_seconds=300) is Upkeep.KEEP
        )
    with pytest.raises(InvalidInput, match="reprice_after_seconds"):
        working_order_upkeep(market, 0, REGULAR, reprice_after_seconds=0)


# -- widening before a closed day ------------------------------------------------------------------

FRIDAY_CLOSE = utc(2026, 12, 5, 1)  # Friday 2026-12-04 20:00 ET: the weekend follows


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (FRIDAY_CLOSE - 900_001, "100"),  # 19:44:59.999 ET
        (FRIDAY_CLOSE - 900_000, "100"),  # 19:45 ET: the window opens
        (FRIDAY_CLOSE - 600_000, "200"),  # 19:50 ET: 100 + 300 x 5/15
        (FRIDAY_CLOSE - 450_000, "250"),  # 19:52:30 ET: half way
        (FRIDAY_CLOSE - 1, "399.99"),  # 100 + 300 x 899 999 / 900 000 = 399.9996..., down
        (FRIDAY_CLOSE, "100"),  # closed
        (utc(2026, 12, 4, 0, 50), "100"),  # Thursday 19:50 ET: Friday trades
        (utc(2026, 11, 26, 0, 50), "200"),  # Wednesday 19:50 ET: Thanksgiving follows
        (utc(2026, 11, 27, 21, 55), "300"),  # the half day's 16:55 ET: 17:00 is its close
        (utc(2026, 12, 12, 0, 50), "100"),  # the calendar's last day: what follows is unknown
    ],
)
def test_the_slippage_widens_before_a_closed_day(moment: int, expected: str) -> None:
    assert closing_slippage_bps(DAYS, moment, D(100)) == D(expected)


def test_the_widening_starts_from_any_base_below_400() -> None:
    assert closing_slippage_bps(DAYS, FRIDAY_CLOSE - 450_000, D(0)) == D(200)
    assert closing_slippage_bps(DAYS, FRIDAY_CLOSE - 450_000, D(500)) == D(500)
    with pytest.raises(InvalidInput, match="base_bps"):
        closing_slippage_bps(DAYS, FRIDAY_CLOSE, D(-5))


def test_a_limit_in_the_window_is_priced_with_the_widened_slippage() -> None:
    order = plan(FRIDAY_CLOSE - 600_000, extended=True)  # 200 bps: 190.55 x 1.02 = 194.361
    assert order == SessionOrder(
        EXTENDED, BrokerOrderType.LIMIT, D("194.37"), D(200), extended_hours=True
    )


@given(
    st.integers(min_value=1, max_value=900_000),
    st.integers(min_value=1, max_value=900_000),
    st.integers(min_value=0, max_value=39_999).map(lambda n: D(n).scaleb(-2)),
)
def test_the_widening_rises_from_the_base_toward_400(
    left_a: int, left_b: int, base: Decimal
) -> None:
    """`left_*`: milliseconds before the close, inside the window."""
    earlier, later = sorted((FRIDAY_CLOSE - left_a, FRIDAY_CLOSE - left_b))
    a = closing_slippage_bps(DAYS, earlier, base)
    b = closing_slippage_bps(DAYS, later, base)
    assert base <= a <= b < 400
