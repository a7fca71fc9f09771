"""What the market and the broker account allow a hedge now: the session's order (a market
order, an extended-hours limit order, or a hold until the market opens) and the preflight (the
shares for a sell, the cash for a buy). The hedger asks before each order and for each limit
order still working (repriced, replaced at the open, canceled once its sessions are over).

The calendar is read once an hour (or when now runs past it) and the account and positions at
most every few seconds: a hedge that the cached figures block is checked again on fresh ones
before it is held, so a stale snapshot never holds a hedge back by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.accumulation import HedgeSize
from pegkeeper.domain.equities.broker import BrokerAccount, BrokerOrderIntent, BrokerPosition
from pegkeeper.domain.equities.preflight import preflight
from pegkeeper.domain.equities.session_orders import (
    Hold,
    SessionOrder,
    Upkeep,
    plan_order,
    working_order_upkeep,
)
from pegkeeper.domain.equities.sessions import Session, TradingDay, calendar_window, session_at
from pegkeeper.domain.errors import VenueError
from pegkeeper.ports import Broker, Clock, MarketCalendar
from pegkeeper.services.alerts import Alerter

log = structlog.get_logger("pegkeeper.equities.gate")


@dataclass(frozen=True, slots=True)
class GateSettings:
    extended_hours: frozenset[str] = frozenset()  # symbols hedged in the extended sessions
    extended_slippage_bps: Decimal = Decimal(100)
    reprice_after_seconds: float = 300.0
    preflight_slippage_bps: Decimal = Decimal(50)
    account_max_age_seconds: float = 10.0
    calendar_max_age_seconds: float = 3_600.0


@dataclass(frozen=True, slots=True)
class Blocked:
    """The account cannot take the hedge now: why, with the numbers."""

    waiting: str


@dataclass(slots=True)
class _Account:
    account: BrokerAccount
    positions: dict[str, BrokerPosition]
    read_ms: int


@dataclass(slots=True)
class _Days:
    days: list[TradingDay]
    read_ms: int
    last_ms: int  # the end of the last day read: past it, read again


@dataclass
class HedgeGate:
    broker: Broker
    calendar: MarketCalendar
    clock: Clock
    settings: GateSettings = field(default_factory=GateSettings)
    alerter: Alerter | None = None
    _account: _Account | None = field(default=None, init=False)
    _days: _Days | None = field(default=None, init=False)

    async def order_for(
        self, size: HedgeSize, symbol: str, reference_usd: Decimal | None
    ) -> SessionOrder | Hold | Blocked:
        """The order the hedge `size` of `symbol` may take now, or why it waits."""
        now_ms = self.clock.now_ms()
        days = await self.trading_days(now_ms)
        if days is None:
            return Blocked("the market calendar could not be read: the hedge waits for it")
        plan = plan_order(
            days,
            now_ms,
            symbol=symbol,
            side=size.side,
            reference_usd=reference_usd,
            extended_hours=symbol in self.settings.extended_hours,
            slippage_bps=self.settings.extended_slippage_bps,
        )
        if isinstance(plan, Hold) or reference_usd is None:
            return plan
        reason = await self._preflight(size, symbol, reference_usd, plan)
        self._tell_blocked(symbol, reason)
        return Blocked(reason) if reason else plan

    async def upkeep(self, intent: BrokerOrderIntent) -> Upkeep:
        """What becomes of a working order now (limit orders only change)."""
        now_ms = self.clock.now_ms()
        days = await self.trading_days(now_ms)
        session = session_at(days, now_ms) if days is not None else Session.EXTENDED
        return working_order_upkeep(
            intent, now_ms, session, reprice_after_seconds=self.settings.reprice_after_seconds
        )

    def account_changed(self) -> None:
        """A failed order: the next preflight reads the account again. (Fills do not clear
        the figures: a stale snapshot that passes is caught by the broker's own check, and one
        that blocks is read again before the hedge is held.)"""
        self._account = None

    async def trading_days(self, now_ms: int) -> list[TradingDay] | None:
        cached = self._days
        max_age_ms = self.settings.calendar_max_age_seconds * 1000
        if cached is not None and now_ms - cached.read_ms < max_age_ms and now_ms < cached.last_ms:
            return cached.days
        try:
            days = await self.calendar.trading_days(*calendar_window(now_ms))
        except (VenueError, TimeoutError, OSError) as error:
            log.warning("market calendar not read", error=str(error))
            return cached.days if cached is not None else None
        last_ms = max((d.post_close_ms for d in days), default=now_ms)
        self._days = _Days(days, now_ms, last_ms)
        return days

    async def _preflight(
        self, size: HedgeSize, symbol: str, reference_usd: Decimal, plan: SessionOrder
    ) -> str:
        """ "" when the account can take the hedge, else why not."""
        reason, cached = await self._check(size, symbol, reference_usd, plan, fresh=False)
        if reason and cached:
            reason, _ = await self._check(size, symbol, reference_usd, plan, fresh=True)
        return reason

    async def _check(
        self,
        size: HedgeSize,
        symbol: str,
        reference_usd: Decimal,
        plan: SessionOrder,
        *,
        fresh: bool,
    ) -> tuple[str, bool]:
        """Why the account cannot take the hedge ("" when it can), and whether the figures
        were cached ones."""
        try:
            snapshot, cached = await self._snapshot(fresh)
        except (VenueError, TimeoutError, OSError) as error:
            return f"the {self.broker.name} account could not be read: {error}", False
        result = preflight(
            symbol,
            size.side,
            size.quantity,
            reference_usd,
            snapshot.account,
            snapshot.positions.get(symbol),
            self.settings.preflight_slippage_bps,
            limit_price_usd=plan.limit_price_usd,
            extended_hours=plan.extended_hours,
        )
        return result.reason, cached

    async def _snapshot(self, fresh: bool) -> tuple[_Account, bool]:
        now_ms = self.clock.now_ms()
        cached = self._account
        max_age_ms = self.settings.account_max_age_seconds * 1000
        if not fresh and cached is not None and now_ms - cached.read_ms < max_age_ms:
            return cached, True
        account = await self.broker.account()
        positions = await self.broker.positions()
        self._account = _Account(account, positions, now_ms)
        return self._account, False

    def _tell_blocked(self, symbol: str, reason: str) -> None:
        if self.alerter is None:
            return
        if reason:
            self.alerter.condition(
                AlertKind.EQUITY_HEDGE_BLOCKED,
                symbol,
                f"{symbol} hedge blocked at the broker",
                f"{reason}; the exposure stays and the hedge is tried again on the next check",
                {"symbol": symbol},
            )
        else:
            self.alerter.cleared(
                AlertKind.EQUITY_HEDGE_BLOCKED, symbol, f"{symbol} hedge no longer blocked", ""
            )
