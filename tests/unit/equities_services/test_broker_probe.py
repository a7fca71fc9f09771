"""The broker probe: the account, positions and calendar read, and the problems named."""

from datetime import date
from decimal import Decimal

from pegkeeper.adapters.brokers.dry_run import DryRunBroker, DryRunSettings
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.backtest.store_funding import MemoryCollateralRepository
from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.broker import BrokerAccount, BrokerKind
from pegkeeper.domain.equities.sessions import Session, TradingDay
from pegkeeper.domain.errors import CredentialsRejected
from pegkeeper.services.alerts import Alerter, AlertSettings
from pegkeeper.services.equities.broker_probe import BrokerProbe, ProbeNeeds
from tests.fakes import RecordingSink

D = Decimal
# Monday 2026-12-07 15:00 UTC = 10:00 ET: the regular session
MONDAY_10_ET_MS = 1_796_655_600_000


class Refusing(DryRunBroker):
    """A broker whose keys were revoked: every account read is refused."""

    async def account(self) -> BrokerAccount:
        raise CredentialsRejected("test-broker: the API key was refused (401)")


class Weekdays(DryRunBroker):
    """The regular session 14:30-21:00 UTC (winter ET), Monday to Friday."""

    async def trading_days(self, start: date, end: date) -> list[TradingDay]:
        days = []
        for n in range((end - start).days + 1):
            day = date.fromordinal(start.toordinal() + n)
            if day.weekday() < 5:
                midnight = (day - date(1970, 1, 1)).days * 86_400_000
                hour = 3_600_000
                days.append(
                    TradingDay(
                        day,
                        midnight + 9 * hour,
                        midnight + 14 * hour + hour // 2,
                        midnight + 21 * hour,
                        midnight + 25 * hour,
                    )
                )
        return days


def probe(broker: DryRunBroker, clock: ManualClock, **needs: object) -> tuple[BrokerProbe, Alerter]:
    alerter = Alerter(RecordingSink(), MemoryCollateralRepository(), clock, AlertSettings())
    wanted = ProbeNeeds(
        kind=needs.get("kind", BrokerKind.FRACTIONAL),  # type: ignore[arg-type]
        extended_hours=needs.get("extended_hours", ()),
    )  # type: ignore[arg-type]
    return BrokerProbe(broker, broker, clock, wanted, alerter=alerter), alerter


async def test_a_working_account_is_read_with_its_positions_and_calendar() -> None:
    clock = ManualClock(MONDAY_10_ET_MS)
    broker = Weekdays(clock, DryRunSettings(cash_usd=D(5_000), holdings={"AAPL": D(7)}))
    check = await probe(broker, clock)[0].check()
    assert check.ok and check.account is not None
    assert check.account.cash_usd == D(5_000)
    assert check.positions["AAPL"].quantity == D(7)
    # yesterday (Sunday, closed) to 7 days ahead: Mon 7 .. Mon 14 minus the weekend 12-13
    assert [d.day.day for d in check.days] == [7, 8, 9, 10, 11, 14]
    assert check.session is Session.REGULAR
    assert check.next_open_ms == MONDAY_10_ET_MS + 86_400_000 - 30 * 60_000  # Tue 14:30 UTC


async def test_refused_credentials_are_a_problem_alerted_once() -> None:
    clock = ManualClock(MONDAY_10_ET_MS)
    refusing, alerter = probe(Refusing(clock), clock)
    first = await refusing.check()
    assert first.problems == (
        "credentials refused reading the account: test-broker: the API key was refused (401)",
    )
    await refusing.check()
    raised = [a for a in alerter.sent if a.kind is AlertKind.EQUITY_BROKER_CHECK]
    assert [a.severity for a in raised] == [Severity.CRITICAL]


async def test_what_the_account_may_not_do_is_named() -> None:
    clock = ManualClock(MONDAY_10_ET_MS)

    class Limited(DryRunBroker):
        async def account(self) -> BrokerAccount:
            return BrokerAccount("x", "ACC123456", D(1), D(1), False, False, False, "SUSPENDED")

    check = await probe(Limited(clock), clock, extended_hours=("AAPL",))[0].check()
    assert check.problems == (
        "account ...3456 cannot trade (status SUSPENDED)",
        "account ...3456 does not allow fractional shares, which this broker's hedges use",
        "account ...3456 does not allow extended-hours orders, yet extended_hours names AAPL",
    )


async def test_a_login_ending_within_a_day_is_announced_and_alerted() -> None:
    clock = ManualClock(MONDAY_10_ET_MS)
    broker = Weekdays(clock, DryRunSettings())
    ends_ms = [MONDAY_10_ET_MS + 30 * 3_600_000]  # in 30 h

    async def login_expires() -> int | None:
        return ends_ms[0]

    alerter = Alerter(RecordingSink(), MemoryCollateralRepository(), clock, AlertSettings())
    probe = BrokerProbe(
        broker,
        broker,
        clock,
        ProbeNeeds(BrokerKind.FRACTIONAL),
        alerter=alerter,
        login_expires=login_expires,
    )
    assert (await probe.check()).notices == ()
    clock.advance(12 * 3600)  # 18 h left
    check = await probe.check()
    assert check.ok and check.login_expires_at_ms == ends_ms[0]
    assert check.notices == (
        "the broker login ends in 18.0 h: run `pegkeeper auth schwab` again before then, "
        "or the hedger stops sending orders",
    )
    ends_ms[0] += 7 * 86_400_000  # logged in again
    await probe.check()
    sent = [(a.kind, a.severity) for a in alerter.sent if a.kind is AlertKind.EQUITY_BROKER_LOGIN]
    assert sent == [
        (AlertKind.EQUITY_BROKER_LOGIN, Severity.WARNING),
        (AlertKind.EQUITY_BROKER_LOGIN, Severity.RESOLVED),
    ]
