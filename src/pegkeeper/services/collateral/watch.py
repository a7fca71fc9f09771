"""What the funding manager watches and alerts on: the liquidation distance against the floor,
a hedge left outside its brackets, a venue or feed gone stale, a failing account check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.errors import VenueError, VenueMisconfigured
from pegkeeper.domain.leverage import LeverageReading
from pegkeeper.ports import Clock
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.collateral.reading import AccountState

log = structlog.get_logger("pegkeeper.funding")

FeedHealth = Callable[[], dict[str, str]]  # feed -> "ok" or why not
AccountCheck = Callable[[], Awaitable[object]]  # raises VenueMisconfigured


@dataclass(frozen=True, slots=True)
class Brackets:
    """The hedge policy's brackets, to tell a hedge in place from one about to change."""

    low_ratio: Decimal = Decimal("0.95")
    high_ratio: Decimal = Decimal("1.03")
    minimum_liability_cents: int = 5_000

    def outside(self, state: AccountState) -> bool:
        if state.liability_cents < self.minimum_liability_cents:
            return state.inputs.exposure_cents != 0
        ratio = state.hedge_ratio
        assert ratio is not None
        return not self.low_ratio <= ratio <= self.high_ratio


class CollateralWatch:
    def __init__(
        self,
        alerter: Alerter,
        clock: Clock,
        brackets: Brackets,
        account: str,  # "<venue> <currency>", the subject of its alerts
        account_check_interval_seconds: float,
        feeds: FeedHealth | None = None,
        account_check: AccountCheck | None = None,
    ) -> None:
        self._alerter = alerter
        self._clock = clock
        self.brackets = brackets
        self._account = account
        self._check_interval_ms = account_check_interval_seconds * 1000
        self._feeds = feeds
        self._account_check = account_check
        self.below_floor = False
        self._last_read_ok_ms = clock.now_ms()
        self._outside_since_ms: int | None = None
        self._feed_bad_since: dict[str, int] = {}
        self._last_account_check_ms: int | None = None

    def read(self, state: AccountState) -> None:
        """A fresh reading of the account."""
        now_ms = self._clock.now_ms()
        self._last_read_ok_ms = now_ms
        self._alerter.cleared(
            AlertKind.FEED_STALE, "venue", "venue readable again", "prices and positions read"
        )
        self._liquidation(state.reading)
        self._brackets(state, now_ms)

    def unreadable(self, error: Exception) -> None:
        log.warning("funding cannot read the venue", error=str(error))
        stale_s = (self._clock.now_ms() - self._last_read_ok_ms) / 1000
        if stale_s >= self._alerter.settings.feed_stale_after_seconds:
            self._alerter.condition(
                AlertKind.FEED_STALE,
                "venue",
                "venue prices or positions stale",
                f"nothing usable from the venue for {stale_s:.0f} s: {error}",
                severity=Severity.CRITICAL,
            )

    async def periodic(self) -> None:
        """The feeds' health, and the venue's account check when it is due."""
        now_ms = self._clock.now_ms()
        if self._feeds is not None:
            self._watch_feeds(self._feeds(), now_ms)
        last = self._last_account_check_ms
        if self._account_check is None or (
            last is not None and now_ms - last < self._check_interval_ms
        ):
            return
        self._last_account_check_ms = now_ms
        try:
            await self._account_check()
        except VenueMisconfigured as error:
            self._alerter.condition(
                AlertKind.ACCOUNT_CHECK_FAILED,
                "account",
                "account check failed",
                str(error),
                severity=Severity.CRITICAL,
            )
            return
        except (VenueError, OSError, TimeoutError) as error:
            log.warning("account check could not run", error=str(error))
            return
        self._alerter.cleared(AlertKind.ACCOUNT_CHECK_FAILED, "account", "account check passes", "")

    def _liquidation(self, reading: LeverageReading) -> None:
        floor = self._alerter.settings.liquidation_distance_floor_pct
        distance = reading.distance_pct
        self.below_floor = distance is not None and distance < floor
        if not self.below_floor:
            # the message is written only when there is an alert to clear, not every reading
            if self._alerter.is_active(AlertKind.LIQUIDATION_DISTANCE, self._account):
                self._alerter.cleared(
                    AlertKind.LIQUIDATION_DISTANCE,
                    self._account,
                    "liquidation distance back above the floor",
                    f"distance {_text(_q(distance, '0.01')) or 'none'} % (floor {floor} %)",
                )
            return
        assert distance is not None
        self._alerter.condition(
            AlertKind.LIQUIDATION_DISTANCE,
            self._account,
            f"liquidation {distance:.2f} % away",
            f"the {reading.currency} account is {distance:.2f} % from liquidation at "
            f"{reading.liquidation_price_usd:.2f} USD (floor {floor} %); leverage "
            f"{_text(_q(reading.leverage, '0.01')) or 'unbounded'}",
            {"mark_price_usd": str(reading.mark_price_usd)},
            severity=Severity.CRITICAL,
        )

    def _brackets(self, state: AccountState, now_ms: int) -> None:
        if not self.brackets.outside(state):
            self._outside_since_ms = None
            self._alerter.cleared(
                AlertKind.HEDGE_OUTSIDE_BRACKETS, "hedge", "hedge back inside its brackets", ""
            )
            return
        since = self._outside_since_ms = self._outside_since_ms or now_ms
        limit_ms = self._alerter.settings.hedge_outside_brackets_seconds * 1000
        if now_ms - since >= limit_ms:
            self._alerter.condition(
                AlertKind.HEDGE_OUTSIDE_BRACKETS,
                "hedge",
                "hedge outside its brackets",
                f"hedge ratio {_text(_q(state.hedge_ratio, '0.0001'))} for "
                f"{(now_ms - since) / 1000:.0f} s (liability {state.liability_cents} cents)",
            )

    def _watch_feeds(self, health: dict[str, str], now_ms: int) -> None:
        limit_ms = self._alerter.settings.feed_stale_after_seconds * 1000
        for feed, status in health.items():
            if status == "ok":
                self._feed_bad_since.pop(feed, None)
                self._alerter.cleared(AlertKind.FEED_STALE, feed, f"{feed} fresh again", "")
                continue
            since = self._feed_bad_since.setdefault(feed, now_ms)
            if now_ms - since >= limit_ms:
                self._alerter.condition(
                    AlertKind.FEED_STALE, feed, f"{feed} stale", status, severity=Severity.CRITICAL
                )


def _q(value: Decimal | None, places: str) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
