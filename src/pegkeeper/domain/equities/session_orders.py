"""The broker order the market session allows (specs/equities.md, "Market sessions" and the
numbers at the brokers' boundaries).

Regular session: a market order. Extended sessions, for the assets an operator opts in: a limit
order (`extended_hours`, time in force `day`) at a reference price moved against the maker by
the slippage, widened over the last minutes before a closed day. Otherwise the hedge holds, with
the reason and the moment it may go. A limit order left working is repriced after a while,
replaced by a market order at the regular open, and canceled once its sessions are over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from pegkeeper.domain.equities.broker import BrokerOrderIntent, BrokerOrderType
from pegkeeper.domain.equities.sessions import (
    Session,
    TradingDay,
    exchange_time,
    exchange_time_text,
    next_trading_ms,
    session_at,
    trading_day_at,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.orders import OrderSide
from pegkeeper.domain.units import BPS_PER_ONE, ONE_CENT_USD

SUB_DOLLAR_TICK_USD = Decimal("0.0001")  # limit prices below 1 USD
DOLLAR = Decimal(1)
TIME_IN_FORCE = "day"  # every session order: an extended-hours limit order must be `day`
# Before a weekend or holiday the limit widens linearly from the base slippage to 400 bps
# over the last 15 minutes, to flatten before the gap (st0x).
CLOSING_WINDOW_MS = 900_000
CLOSING_SLIPPAGE_BPS = Decimal(400)
_SLIPPAGE_STEP_BPS = Decimal("0.01")


def price_tick_usd(price_usd: Decimal) -> Decimal:
    """A US stock's price increment: 0.01 USD at or above 1 USD, 0.0001 below."""
    return ONE_CENT_USD if price_usd >= DOLLAR else SUB_DOLLAR_TICK_USD


def limit_price_usd(reference_usd: Decimal, side: OrderSide, slippage_bps: Decimal) -> Decimal:
    """A limit price `slippage_bps` past the reference, against the maker so that it fills:
    buys at reference x (1 + bps / 10 000) rounded up to the tick, sells at
    reference x (1 - bps / 10 000) rounded down. The tick is that of the unrounded price."""
    check_positive("reference_usd", reference_usd, "USD amount")
    check_bps("slippage_bps", slippage_bps)
    move = slippage_bps / BPS_PER_ONE
    if side is OrderSide.BUY:
        raw = reference_usd * (1 + move)
        return raw.quantize(price_tick_usd(raw), rounding=ROUND_CEILING)
    raw = reference_usd * (1 - move)
    price = raw.quantize(price_tick_usd(raw), rounding=ROUND_FLOOR)
    if price <= 0:
        raise InvalidInput(
            f"a sell limit {slippage_bps} bps under {reference_usd} USD rounds to "
            f"{price} USD: expected a reference of at least {SUB_DOLLAR_TICK_USD} USD after "
            "the slippage"
        )
    return price


def notional_usd(quantity: Decimal, price_usd: Decimal) -> Decimal:
    """The value of a notional order: quantity x price in whole cents, rounded down (the order
    never spends more than the shares are worth)."""
    check_positive("quantity", quantity, "number of shares")
    check_positive("price_usd", price_usd, "USD amount")
    return (quantity * price_usd).quantize(ONE_CENT_USD, rounding=ROUND_FLOOR)


@dataclass(frozen=True, slots=True)
class SessionOrder:
    """How a hedge goes out in the session now."""

    session: Session
    order_type: BrokerOrderType
    limit_price_usd: Decimal | None = None  # limit orders only
    slippage_bps: Decimal | None = None  # the limit's, widened before a closed day
    extended_hours: bool = False
    time_in_force: str = TIME_IN_FORCE

    @classmethod
    def market(cls) -> SessionOrder:
        return cls(Session.REGULAR, BrokerOrderType.MARKET)

    def applied_to(self, intent: BrokerOrderIntent) -> BrokerOrderIntent:
        """`intent` (symbol, side, quantity, ids) as this order."""
        return replace(
            intent,
            order_type=self.order_type,
            limit_price_usd=self.limit_price_usd,
            extended_hours=self.extended_hours,
        )


@dataclass(frozen=True, slots=True)
class Hold:
    """No order now: why, for the operator, and when one may go (None: the calendar does not
    reach that far)."""

    waiting: str
    until_ms: int | None
    session: Session


def plan_order(
    days: Sequence[TradingDay],
    now_ms: int,
    *,
    symbol: str,
    side: OrderSide,
    reference_usd: Decimal | None,
    extended_hours: bool,
    slippage_bps: Decimal,
) -> SessionOrder | Hold:
    """The order a hedge of `symbol` takes at `now_ms`, or why it holds. `extended_hours`: the
    asset is opted in to the extended sessions; `reference_usd`: the price its limit orders
    are set from (the last onchain fill's); `slippage_bps`: the extended sessions' base."""
    check_bps("slippage_bps", slippage_bps)
    session = session_at(days, now_ms)
    if session is Session.REGULAR:
        return SessionOrder.market()
    if session is Session.EXTENDED and extended_hours:
        if reference_usd is None:
            until_ms = next_trading_ms(days, now_ms, extended_hours=False)
            return Hold(
                f"extended hours: no reference price for {symbol} yet, {_until(until_ms, now_ms)}",
                until_ms,
                session,
            )
        bps = closing_slippage_bps(days, now_ms, slippage_bps)
        return SessionOrder(
            session,
            BrokerOrderType.LIMIT,
            limit_price_usd=limit_price_usd(reference_usd, side, bps),
            slippage_bps=bps,
            extended_hours=True,
        )
    return _hold(days, now_ms, session, symbol=symbol, extended_hours=extended_hours)


def _hold(
    days: Sequence[TradingDay], now_ms: int, session: Session, *, symbol: str, extended_hours: bool
) -> Hold:
    until_ms = next_trading_ms(days, now_ms, extended_hours=extended_hours)
    until = _until(until_ms, now_ms)
    day = trading_day_at(days, now_ms)
    today = exchange_time(now_ms).date()
    if day is not None and day.day == today and day.is_half_day:
        closed_ms = day.post_close_ms if extended_hours else day.close_ms
        if now_ms >= closed_ms:
            since = exchange_time(closed_ms).strftime("%H:%M ET")
            return Hold(f"half day: closed since {since}, {until}", until_ms, session)
    if session is Session.EXTENDED:
        return Hold(f"extended hours: {symbol} not opted in, {until}", until_ms, session)
    if _is_holiday(days, today):
        return Hold(f"holiday: market closed {until}", until_ms, session)
    return Hold(f"market closed {until}", until_ms, session)


def _until(until_ms: int | None, now_ms: int) -> str:
    if until_ms is None:
        return "and the calendar names no session to trade in after now"
    return f"until {exchange_time_text(until_ms, now_ms)}"


def _is_holiday(days: Sequence[TradingDay], today: date) -> bool:
    """A weekday inside the calendar's span on which the exchange does not open."""
    if not days or not days[0].day <= today <= days[-1].day:
        return False
    return today.weekday() < 5 and all(d.day != today for d in days)


class Upkeep(StrEnum):
    """What becomes of an order still working at the broker."""

    KEEP = "keep"
    REPRICE = "reprice"  # cancel it, then a new limit order at the reference now
    REPLACE_BY_MARKET = "replace_by_market"  # the regular open: cancel it, then a market order
    CANCEL = "cancel"  # its extended sessions are over: cancel it, hold until the next one


def working_order_upkeep(
    intent: BrokerOrderIntent,
    now_ms: int,
    session: Session,
    *,
    reprice_after_seconds: float,
) -> Upkeep:
    """The step for a working order placed as `intent`, in `session` at `now_ms`. Market orders
    are left to fill; a limit order is replaced by a market order in the regular session,
    canceled when the market is closed, and repriced once it is `reprice_after_seconds` old."""
    if reprice_after_seconds <= 0:
        raise InvalidInput(f"reprice_after_seconds must be positive, not {reprice_after_seconds}")
    if intent.order_type is not BrokerOrderType.LIMIT:
        return Upkeep.KEEP
    if session is Session.REGULAR:
        return Upkeep.REPLACE_BY_MARKET
    if session is Session.CLOSED:
        return Upkeep.CANCEL
    age = timedelta(milliseconds=now_ms - intent.created_at_ms)
    if age >= timedelta(seconds=reprice_after_seconds):
        return Upkeep.REPRICE
    return Upkeep.KEEP


def closing_slippage_bps(days: Sequence[TradingDay], now_ms: int, base_bps: Decimal) -> Decimal:
    """The limit slippage at `now_ms`: `base_bps`, except over the last 15 minutes before the
    day's last close (the end of extended hours) when no session follows the next day (a
    weekend, a holiday): there it rises linearly from `base_bps` to 400 bps at the close,
    rounded down to 0.01 bp (the smaller move, for the house). A base above 400 stays."""
    check_bps("base_bps", base_bps)
    day = trading_day_at(days, now_ms)
    if day is None or base_bps >= CLOSING_SLIPPAGE_BPS:
        return base_bps
    start_ms = day.post_close_ms - CLOSING_WINDOW_MS
    if not start_ms <= now_ms < day.post_close_ms or not _closed_day_follows(days, day):
        return base_bps
    rise = (CLOSING_SLIPPAGE_BPS - base_bps) * (now_ms - start_ms) / CLOSING_WINDOW_MS
    return (base_bps + rise).quantize(_SLIPPAGE_STEP_BPS, rounding=ROUND_FLOOR)


def _closed_day_follows(days: Sequence[TradingDay], day: TradingDay) -> bool:
    """The exchange stays shut the whole next date (known only inside the calendar's span)."""
    following = day.day + timedelta(days=1)
    if days[-1].day < following:
        return False
    return all(d.day != following for d in days)


def check_bps(name: str, bps: Decimal) -> None:
    """A slippage: from 0 to under 100 %."""
    if not bps.is_finite() or not 0 <= bps < BPS_PER_ONE:
        raise InvalidInput(f"{name} must be from 0 to under 10 000 bps, not {bps}")


def check_positive(name: str, value: Decimal, unit: str) -> None:
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{name} must be a positive {unit}, not {value}")
