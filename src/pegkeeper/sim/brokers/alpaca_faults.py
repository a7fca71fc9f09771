"""Faults the simulated Alpaca answers with, as tests script them: each hits the next `count`
requests of its scope, then is spent.

| kind | what happens |
|---|---|
| rate_limit | 429 before processing, with `Retry-After` as given (seconds, an HTTP date, or none) |
| error | an error status (5xx) before processing: nothing happened |
| error_after_accept | the order is recorded, then an error status (5xx) is answered |
| hang_after_accept | the order is recorded, then the answer waits `hang_seconds` (past the
  client's timeout) |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    ALL = "all"  # every API request
    ORDERS = "orders"  # order placement (POST)
    READS = "reads"  # GET requests
    CANCELS = "cancels"  # DELETE requests


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    ERROR = "error"
    ERROR_AFTER_ACCEPT = "error_after_accept"
    HANG_AFTER_ACCEPT = "hang_after_accept"


AFTER_ACCEPT = frozenset({FaultKind.ERROR_AFTER_ACCEPT, FaultKind.HANG_AFTER_ACCEPT})


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    scope: Scope
    count: int
    status: int = 503
    retry_after: str | None = None  # the Retry-After header's value, if any
    hang_seconds: float = 5.0


class AlpacaFaults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def rate_limit_next(
        self, count: int = 1, *, retry_after: str | None = None, scope: Scope = Scope.ALL
    ) -> None:
        self._add(Fault(FaultKind.RATE_LIMIT, scope, count, 429, retry_after))

    def fail_next(self, count: int = 1, *, status: int = 503, scope: Scope = Scope.ALL) -> None:
        self._add(Fault(FaultKind.ERROR, scope, count, status))

    def fail_after_accept_next(self, count: int = 1, *, status: int = 500) -> None:
        self._add(Fault(FaultKind.ERROR_AFTER_ACCEPT, Scope.ORDERS, count, status))

    def hang_after_accept_next(self, count: int = 1, *, hang_seconds: float = 5.0) -> None:
        self._add(
            Fault(FaultKind.HANG_AFTER_ACCEPT, Scope.ORDERS, count, hang_seconds=hang_seconds)
        )

    def clear(self) -> None:
        self._faults.clear()

    def take(self, kinds: frozenset[FaultKind], scopes: frozenset[Scope]) -> Fault | None:
        """The first fault of these kinds that applies to a request in `scopes`, spent once."""
        for fault in self._faults:
            if fault.kind in kinds and fault.scope in scopes and fault.count > 0:
                fault.count -= 1
                return fault
        return None

    def _add(self, fault: Fault) -> None:
        if fault.count < 1:
            raise ValueError(f"a fault hits at least one request, got count {fault.count}")
        self._faults.append(fault)
