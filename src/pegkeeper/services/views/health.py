"""Health of every service: whether it runs, and whether it is ready to be relied on.

Each service may register a check: an async callable answering "ready" or the reason it is not
(a stale book, a venue that does not answer, a ledger still importing). Checks are evaluated
when asked, each within a time limit, so the answer is as fresh as the question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

READY = "ready"
Check = Callable[[], Awaitable[str]]


class HealthMonitor:
    def __init__(self, services: Iterable[str], check_timeout_seconds: float = 1.0) -> None:
        self._services = list(services)
        self._checks: dict[str, list[Check]] = {}
        self._stopped: dict[str, str] = {}
        self._timeout = check_timeout_seconds

    @property
    def services(self) -> list[str]:
        return list(self._services)

    def watch(self, service: str, check: Check) -> None:
        """Add a check to a service (several checks: all must answer ready)."""
        if service not in self._services:
            self._services.append(service)
        self._checks.setdefault(service, []).append(check)

    def job_ended(self, service: str, error: BaseException | None) -> None:
        """A service's task returned or failed: it is no longer running."""
        reason = f"{type(error).__name__}: {error}" if error is not None else "it returned"
        self._stopped[service] = f"stopped ({reason})"

    async def readiness(self) -> dict[str, str]:
        """Service -> "ready" or why not, for every service."""
        states = {}
        for service in self._services:
            state = await self._evaluate(service)  # its own reason, when it has one, says more
            stopped = self._stopped.get(service)
            states[service] = stopped if stopped is not None and state == READY else state
        return states

    async def _evaluate(self, service: str) -> str:
        for check in self._checks.get(service, ()):
            try:
                state = await asyncio.wait_for(check(), self._timeout)
            except TimeoutError:
                return f"its health check did not answer within {self._timeout:g} s"
            except Exception as error:
                return f"its health check failed: {type(error).__name__}: {error}"
            if state != READY:
                return state
        return READY


def order_wait_state(
    client_order_id: str, state: str, waited_seconds: float, limit_seconds: float
) -> str:
    """Ready while the order the hedger waits on has waited no longer than a healthy one can;
    else which order it is and how long it has waited."""
    if waited_seconds <= limit_seconds:
        return READY
    return (
        f"waiting on order {client_order_id} ({state}) for {waited_seconds:.0f} s, longer "
        f"than the {limit_seconds:g} s a healthy order takes: no new hedge until it is resolved"
    )
