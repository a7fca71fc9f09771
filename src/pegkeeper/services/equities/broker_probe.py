"""The broker probe: what the broker says of the account, its positions and the market calendar,
and what the credentials may do, checked against what the hedger needs. `pegkeeper broker check`
prints one probe; `pegkeeper run` probes at start and every few minutes, and a probe with
problems makes the equity hedger not ready (a refused key is never retried in a loop: the next
probe is the next try).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.broker import (
    BrokerAccount,
    BrokerKind,
    BrokerPosition,
    masked_account,
)
from pegkeeper.domain.equities.sessions import Session, TradingDay, session_at
from pegkeeper.domain.errors import CredentialsRejected, VenueError
from pegkeeper.ports import Broker, Clock, MarketCalendar
from pegkeeper.services.alerts import Alerter

log = structlog.get_logger("pegkeeper.equities.broker")

T = TypeVar("T")
LOGIN_WARNING_MS = 86_400_000  # a login that ends within a day is announced
DAYS_AHEAD = 7  # the calendar shown: today and the next days
_SUBJECT = "broker"


@dataclass(frozen=True, slots=True)
class BrokerCheck:
    broker: str
    checked_at_ms: int
    account: BrokerAccount | None = None
    positions: dict[str, BrokerPosition] = field(default_factory=dict)
    days: tuple[TradingDay, ...] = ()
    session: Session | None = None  # now, by the calendar
    next_open_ms: int | None = None  # the next regular open after now
    problems: tuple[str, ...] = ()  # each a reason the hedger cannot work as configured
    login_expires_at_ms: int | None = None  # a broker login that ends (Schwab's, 7 days)
    notices: tuple[str, ...] = ()  # what needs the operator soon, not yet a problem

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class ProbeNeeds:
    """What the configuration asks of the account."""

    kind: BrokerKind
    extended_hours: tuple[str, ...] = ()  # symbols hedged in the extended sessions


class BrokerProbe:
    def __init__(
        self,
        broker: Broker,
        calendar: MarketCalendar,
        clock: Clock,
        needs: ProbeNeeds,
        *,
        alerter: Alerter | None = None,
        interval_seconds: float = 300.0,
        login_expires: Callable[[], Awaitable[int | None]] | None = None,
    ) -> None:
        """`login_expires`: when the broker's stored login ends (None: it does not)."""
        self._broker = broker
        self._calendar = calendar
        self._clock = clock
        self._needs = needs
        self._alerter = alerter
        self.interval_seconds = interval_seconds
        self._login_expires = login_expires
        self.last: BrokerCheck | None = None

    async def run(self) -> None:
        while True:
            await self.check()
            await self._clock.sleep(self.interval_seconds)

    async def check(self) -> BrokerCheck:
        """One probe; kept as `last`, alerted while it finds problems."""
        now_ms = self._clock.now_ms()
        problems: list[str] = []
        account = await self._read(self._broker.account(), "the account", problems)
        positions = await self._read(self._broker.positions(), "the positions", problems)
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        days = await self._read(
            self._calendar.trading_days(today - timedelta(days=1), today + timedelta(DAYS_AHEAD)),
            "the market calendar",
            problems,
        )
        if account is not None:
            problems += self._account_problems(account)
        expires_ms = await self._login_expiry(problems)
        notices = _login_notices(expires_ms, now_ms)
        check = BrokerCheck(
            broker=self._broker.name,
            checked_at_ms=now_ms,
            account=account,
            positions=positions or {},
            days=tuple(days or ()),
            session=session_at(days, now_ms) if days is not None else None,
            next_open_ms=next((d.open_ms for d in days or () if d.open_ms > now_ms), None),
            problems=tuple(problems),
            login_expires_at_ms=expires_ms,
            notices=notices,
        )
        self._tell(check)
        self._tell_login(check)
        self.last = check
        return check

    async def _read(self, request: Awaitable[T], what: str, problems: list[str]) -> T | None:
        try:
            return await request
        except CredentialsRejected as error:
            problems.append(f"credentials refused reading {what}: {error}")
        except VenueError as error:
            problems.append(f"{self._broker.name} did not answer for {what}: {error}")
        except TimeoutError:
            problems.append(f"{self._broker.name} did not answer for {what}: timed out")
        return None

    async def _login_expiry(self, problems: list[str]) -> int | None:
        if self._login_expires is None:
            return None
        return await self._read(self._login_expires(), "the stored login", problems)

    def _tell_login(self, check: BrokerCheck) -> None:
        if self._alerter is None:
            return
        if check.notices:
            self._alerter.condition(
                AlertKind.EQUITY_BROKER_LOGIN,
                _SUBJECT,
                f"{check.broker} login ends soon",
                "; ".join(check.notices),
            )
        else:
            self._alerter.cleared(
                AlertKind.EQUITY_BROKER_LOGIN, _SUBJECT, f"{check.broker} login renewed", ""
            )

    def _account_problems(self, account: BrokerAccount) -> list[str]:
        problems = []
        if not account.can_trade:
            status = f" (status {account.status})" if account.status else ""
            problems.append(f"account {masked_account(account.account_id)} cannot trade{status}")
        if self._needs.kind is BrokerKind.FRACTIONAL and not account.fractional:
            problems.append(
                f"account {masked_account(account.account_id)} does not allow fractional "
                "shares, which this broker's hedges use"
            )
        if self._needs.extended_hours and not account.extended_hours:
            problems.append(
                f"account {masked_account(account.account_id)} does not allow extended-hours "
                f"orders, yet extended_hours names {', '.join(self._needs.extended_hours)}"
            )
        return problems

    def _tell(self, check: BrokerCheck) -> None:
        was_ok = self.last is None or self.last.ok
        if check.ok:
            if not was_ok:
                log.info("broker check passes again", broker=check.broker)
                if self._alerter is not None:
                    self._alerter.cleared(
                        AlertKind.EQUITY_BROKER_CHECK, _SUBJECT, f"{check.broker} check passes", ""
                    )
            return
        log.warning("broker check failed", broker=check.broker, problems=list(check.problems))
        if self._alerter is not None:
            self._alerter.condition(
                AlertKind.EQUITY_BROKER_CHECK,
                _SUBJECT,
                f"{check.broker} check failed",
                "; ".join(check.problems),
                severity=Severity.CRITICAL,
            )


def _login_notices(expires_ms: int | None, now_ms: int) -> tuple[str, ...]:
    if expires_ms is None or expires_ms - now_ms > LOGIN_WARNING_MS:
        return ()
    hours = max(expires_ms - now_ms, 0) / 3_600_000
    return (
        f"the broker login ends in {hours:.1f} h: run `pegkeeper auth schwab` again before "
        "then, or the hedger stops sending orders",
    )
