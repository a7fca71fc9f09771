"""The broker preflight: no shorting (a sell needs the shares not reserved by open orders), no
margin (a buy needs `cash`, never buying power, for its cost plus slippage), and an account
that may trade as the order needs."""

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegkeeper.domain.equities.broker import BrokerAccount, BrokerPosition
from pegkeeper.domain.equities.preflight import PASSED, PreflightResult, preflight
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL

ACCOUNT = BrokerAccount(
    broker="alpaca-trading",
    account_id="PA3XYZ0001",
    cash_usd=D("1200"),
    buying_power_usd=D("4800"),
    can_trade=True,
    fractional=True,
    extended_hours=True,
    status="ACTIVE",
)


def check(
    side: OrderSide,
    quantity: str,
    *,
    price: str = "189.55",
    account: BrokerAccount = ACCOUNT,
    position: BrokerPosition | None = None,
    bps: str = "50",
    limit: str | None = None,
    extended: bool = False,
) -> PreflightResult:
    return preflight(
        "AAPL",
        side,
        D(quantity),
        D(price),
        account,
        position,
        D(bps),
        limit_price_usd=None if limit is None else D(limit),
        extended_hours=extended,
    )


def held(quantity: str, available: str) -> BrokerPosition:
    return BrokerPosition("AAPL", D(quantity), D(available))


# -- sells: the shares, less those reserved ----------------------------------------------------


def test_a_sell_within_the_available_shares_passes() -> None:
    assert check(SELL, "3", position=held("5", "3")) == PASSED
    assert check(SELL, "2.5", position=held("5", "3")).ok


def test_a_sell_beyond_the_available_shares_names_the_reserved_ones() -> None:
    result = check(SELL, "5", position=held("5", "3"))
    assert result == PreflightResult(
        ok=False, reason="sell 5 AAPL: 3 available at the broker (2 reserved by open orders)"
    )


def test_a_sell_beyond_the_shares_held_is_no_short() -> None:
    assert check(SELL, "5", position=held("3", "3")).reason == (
        "sell 5 AAPL: 3 held at the broker (no shorting)"
    )
    assert check(SELL, "1", position=None).reason == (
        "sell 1 AAPL: no AAPL shares at the broker (no shorting)"
    )
    assert check(SELL, "1", position=held("-2", "0")).reason == (
        "sell 1 AAPL: no AAPL shares at the broker (no shorting)"
    )


# -- buys: cash for the cost plus slippage ------------------------------------------------------


def test_a_buy_needs_cash_for_the_cost_plus_slippage() -> None:
    # 10 x 189.55 x 1.005 = 1 904.9775, up to 1 904.98
    assert check(BUY, "10").reason == (
        "buy 10 AAPL: needs 1 904.98 USD with 50 bps, cash 1 200.00 USD"
    )
    assert check(BUY, "10", account=replace(ACCOUNT, cash_usd=D("1904.98"))) == PASSED
    assert not check(BUY, "10", account=replace(ACCOUNT, cash_usd=D("1904.97"))).ok


def test_a_buy_counts_cash_never_buying_power() -> None:
    rich_on_margin = replace(ACCOUNT, cash_usd=D("100"), buying_power_usd=D("1000000"))
    assert check(BUY, "1", account=rich_on_margin).reason == (
        "buy 1 AAPL: needs 190.50 USD with 50 bps, cash 100.00 USD"  # 190.49775 up
    )
    in_debt = replace(ACCOUNT, cash_usd=D("-50"), buying_power_usd=D("5000"))
    assert not check(BUY, "0.01", account=in_debt).ok


def test_a_limit_buy_needs_its_limit_value_without_more_slippage() -> None:
    # 10 x 192.46 = 1 924.60
    enough = replace(ACCOUNT, cash_usd=D("1924.60"))
    assert check(BUY, "10", account=enough, limit="192.46", extended=True) == PASSED
    short = replace(ACCOUNT, cash_usd=D("1924.59"))
    assert check(BUY, "10", account=short, limit="192.46", extended=True).reason == (
        "buy 10 AAPL: needs 1 924.60 USD at the 192.46 USD limit, cash 1 924.59 USD"
    )


# -- the account -------------------------------------------------------------------------------


def test_an_account_that_cannot_trade_is_blocked_with_its_status() -> None:
    blocked = replace(ACCOUNT, can_trade=False, status="ACCOUNT_CLOSED")
    assert check(BUY, "1", account=blocked).reason == (
        "buy 1 AAPL: the alpaca-trading account cannot trade (ACCOUNT_CLOSED)"
    )
    assert check(
        SELL, "1", account=replace(blocked, status=""), position=held("5", "5")
    ).reason == ("sell 1 AAPL: the alpaca-trading account cannot trade (no status given)")


def test_whole_share_accounts_refuse_fractions() -> None:
    schwab = replace(ACCOUNT, broker="schwab", fractional=False)
    assert check(BUY, "1.5", account=schwab).reason == (
        "buy 1.5 AAPL: the schwab account takes whole shares only"
    )
    assert check(BUY, "1", account=schwab).ok


def test_extended_hours_orders_need_the_account_to_allow_them() -> None:
    regular_only = replace(ACCOUNT, extended_hours=False)
    assert check(BUY, "1", account=regular_only, limit="192.46", extended=True).reason == (
        "buy 1 AAPL: the alpaca-trading account may not trade in the extended sessions"
    )
    assert check(BUY, "1", account=regular_only).ok


@pytest.mark.parametrize(
    ("quantity", "price", "bps", "limit", "named"),
    [
        ("0", "100", "50", None, "quantity"),
        ("-1", "100", "50", None, "quantity"),
        ("1", "0", "50", None, "price_usd"),
        ("1", "Infinity", "50", None, "price_usd"),
        ("1", "100", "-1", None, "slippage_bps"),
        ("1", "100", "10000", None, "slippage_bps"),
        ("1", "100", "50", "0", "limit_price_usd"),
    ],
)
def test_bad_input_is_refused(
    quantity: str, price: str, bps: str, limit: str | None, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        check(BUY, quantity, price=price, bps=bps, limit=limit)


# -- invariants --------------------------------------------------------------------------------

quantities = st.integers(min_value=1, max_value=10**6).map(lambda n: D(n).scaleb(-3))
prices = st.integers(min_value=1, max_value=10**7).map(lambda n: D(n).scaleb(-2))
cents = st.integers(min_value=-(10**6), max_value=10**10).map(lambda n: D(n).scaleb(-2))
bps_values = st.integers(min_value=0, max_value=1_000)


@given(quantities, prices, cents, bps_values)
def test_a_buy_passes_only_with_cash_for_the_moved_cost(
    quantity: Decimal, price: Decimal, cash: Decimal, bps: int
) -> None:
    account = replace(ACCOUNT, cash_usd=cash, buying_power_usd=cash * 4)
    result = preflight("AAPL", BUY, quantity, price, account, None, D(bps))
    moved_cost = quantity * price * (1 + D(bps) / 10_000)
    if cash < moved_cost:
        assert not result.ok
    if cash >= moved_cost + D("0.01"):
        assert result.ok
    more = preflight(
        "AAPL", BUY, quantity, price, replace(account, cash_usd=cash + 1), None, D(bps)
    )
    assert more.ok or not result.ok  # more cash never blocks a buy that passed


@given(quantities, quantities, quantities)
def test_a_sell_passes_exactly_within_the_available_shares(
    quantity: Decimal, holding: Decimal, reserved: Decimal
) -> None:
    available = max(holding - reserved, D(0))
    position = BrokerPosition("AAPL", holding, available)
    result = preflight("AAPL", SELL, quantity, D(100), ACCOUNT, position, D(50))
    assert result.ok == (quantity <= available)
