"""The fill-to-hedge ledger's reconciler: every minute, the domain's invariants checked over
one consistent snapshot of the ledger. The result is kept for the metrics (breaks per scope);
a break raises one alert while it lasts and a resolved one when the ledger is whole again."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.allocation import LedgerBreak, ledger_breaks
from pegkeeper.ports import Clock, EquityRepository
from pegkeeper.services.alerts import Alerter

log = structlog.get_logger("pegkeeper.equities.reconciler")

SCOPES = ("order", "fill", "symbol")
_SUBJECT = "ledger"
_SHOWN = 5  # breaks named in an alert


@dataclass(frozen=True, slots=True)
class ReconcilerFigures:
    breaks_by_scope: dict[str, int]  # every scope, 0 when whole
    breaks: tuple[LedgerBreak, ...]  # the last check's
    last_check_ms: int | None
    checks: int
    failures: int  # checks that could not read the ledger
    last_error: str = ""
    broken_since_ms: int | None = None


class LedgerReconciler:
    def __init__(
        self,
        repository: EquityRepository,
        clock: Clock,
        *,
        alerter: Alerter | None = None,
        interval_seconds: float = 60.0,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._alerter = alerter
        self.interval_seconds = interval_seconds
        self._breaks: tuple[LedgerBreak, ...] = ()
        self._last_check_ms: int | None = None
        self._broken_since_ms: int | None = None
        self._checks = 0
        self._failures = 0
        self._last_error = ""

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a store that did not answer: the next check tries
                self._failures += 1
                self._last_error = str(error)
                log.exception("ledger check failed")
            await self._clock.sleep(self.interval_seconds)

    async def check(self) -> list[LedgerBreak]:
        """Checks the ledger now; alerts when it breaks, and when it is whole again."""
        breaks = ledger_breaks(await self._repository.ledger_snapshot())
        now_ms = self._clock.now_ms()
        self._checks += 1
        self._last_check_ms = now_ms
        self._last_error = ""
        was_broken = bool(self._breaks)
        self._breaks = tuple(breaks)
        if breaks and not was_broken:
            self._broken_since_ms = now_ms
            self._raise(breaks)
        elif not breaks and was_broken:
            self._broken_since_ms = None
            log.info("the fill-to-hedge ledger is whole again")
            if self._alerter is not None:
                self._alerter.cleared(
                    AlertKind.EQUITY_LEDGER_BREAK, _SUBJECT, "equity ledger whole again", ""
                )
        return breaks

    def _raise(self, breaks: list[LedgerBreak]) -> None:
        named = "; ".join(f"{b.scope} {b.key}: {b.detail}" for b in breaks[:_SHOWN])
        more = f" (and {len(breaks) - _SHOWN} more)" if len(breaks) > _SHOWN else ""
        log.error("the fill-to-hedge ledger breaks its invariants", breaks=len(breaks))
        if self._alerter is None:
            return
        # raised once: `check` calls it only when the ledger turns from whole to broken
        self._alerter.condition(
            AlertKind.EQUITY_LEDGER_BREAK,
            _SUBJECT,
            f"equity ledger: {len(breaks)} broken invariant(s)",
            named + more,
            {scope: str(n) for scope, n in _by_scope(breaks).items()},
            severity=Severity.CRITICAL,
        )

    @property
    def last_checked_ms(self) -> int | None:
        return self._last_check_ms

    @property
    def breaks(self) -> tuple[LedgerBreak, ...]:
        """What the last check found broken (empty: every invariant held)."""
        return self._breaks

    def figures(self) -> ReconcilerFigures:
        return ReconcilerFigures(
            breaks_by_scope=_by_scope(self._breaks),
            breaks=self._breaks,
            last_check_ms=self._last_check_ms,
            checks=self._checks,
            failures=self._failures,
            last_error=self._last_error,
            broken_since_ms=self._broken_since_ms,
        )


def _by_scope(breaks: tuple[LedgerBreak, ...] | list[LedgerBreak]) -> dict[str, int]:
    counts = dict.fromkeys(SCOPES, 0)
    for item in breaks:
        counts[item.scope] = counts.get(item.scope, 0) + 1
    return counts
