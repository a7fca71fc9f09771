"""Whether the liability read from a wallet's ledger may be traded on now.

A ledger read in pages can be half-imported: one leg of a trade stored and the other not yet,
or trades paired but not yet posted. Hedging then would chase a liability that is about to
move back, so the hedger and the funding service wait while the gate is closed (specs/galoy.md:
"while two or more trades are unpaired or unposted, the hedger waits").
"""

from __future__ import annotations

from dataclasses import dataclass, field

HTTP_SOURCE = "http"  # changes are posted to the API; nothing is polled, the gate stays open


class LedgerSourceError(Exception):
    """A ledger source could not be read."""


class LedgerAuthError(LedgerSourceError):
    """The source refused pegkeeper's credentials: the source stops until restarted."""


class LedgerUnavailable(LedgerSourceError):
    """A transient failure (network, 5xx, a malformed answer): read again after a pause."""


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str
    cursor: str | None = None  # galoy: the newest transaction cursor read
    has_more: bool = False  # the last page said newer pages are waiting
    last_poll_ms: int | None = None  # the last complete, successful read
    last_error: str = ""
    stopped: bool = False
    updated_at_ms: int = 0
    failed_polls: int = 0  # reads failed in a row since the last good one


@dataclass(frozen=True, slots=True)
class Backlog:
    unpaired: int = 0  # transactions still waiting for their other leg (recent ones)
    unposted: int = 0  # trades and corrections paired but not yet in the liability ledger
    rejected: int = 0  # transactions that could not be read (reported, not waited for)

    @property
    def half_imported(self) -> int:
        return self.unpaired + self.unposted


@dataclass(frozen=True, slots=True)
class GateSettings:
    half_imported_threshold: int = 2  # the gate closes at this many unpaired + unposted
    stale_after_ms: int = 300_000  # and when the last successful read is older than this
    failed_polls_not_ready: int = 3  # and when this many reads in a row failed


@dataclass(frozen=True, slots=True)
class LedgerReadiness:
    source: str
    ready: bool
    reason: str  # empty when ready
    backlog: Backlog = field(default_factory=Backlog)
    last_poll_ms: int | None = None
    last_error: str = ""


def assess(
    source: str,
    state: SourceState | None,
    backlog: Backlog,
    now_ms: int,
    settings: GateSettings,
) -> LedgerReadiness:
    """The gate: closed, with the reason, while the ledger cannot be trusted to be whole."""
    if source == HTTP_SOURCE:
        return LedgerReadiness(source, True, "", backlog)
    reason = _closed_because(source, state, backlog, now_ms, settings)
    last_poll_ms = state.last_poll_ms if state is not None else None
    last_error = state.last_error if state is not None else ""
    return LedgerReadiness(source, not reason, reason, backlog, last_poll_ms, last_error)


def _closed_because(
    source: str,
    state: SourceState | None,
    backlog: Backlog,
    now_ms: int,
    settings: GateSettings,
) -> str:
    if state is not None and state.stopped:
        return f"the {source} ledger source stopped: {state.last_error}"
    if state is None or state.last_poll_ms is None:
        why = f" (last error: {state.last_error})" if state is not None and state.last_error else ""
        return f"the {source} ledger has not been read yet{why}"
    if state.failed_polls >= settings.failed_polls_not_ready:
        return (
            f"the last {state.failed_polls} reads of the {source} ledger failed "
            f"(last error: {state.last_error})"
        )
    if state.has_more:
        return f"the {source} ledger is being imported: newer pages are waiting"
    if backlog.half_imported >= settings.half_imported_threshold:
        return (
            f"the {source} ledger is half-imported: {backlog.unpaired} transaction(s) without "
            f"their other leg and {backlog.unposted} trade(s) not yet posted; trading waits "
            f"while there are {settings.half_imported_threshold} or more"
        )
    age_ms = now_ms - state.last_poll_ms
    if age_ms > settings.stale_after_ms:
        why = f" (last error: {state.last_error})" if state.last_error else ""
        return (
            f"the {source} ledger was last read {age_ms // 1000} s ago, longer than "
            f"{settings.stale_after_ms // 1000} s{why}"
        )
    return ""
