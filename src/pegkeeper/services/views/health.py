"""Health of every service: whether it runs, and whether it is ready to be relied on.

Each service may register a check: an async callable answering "ready" or the reason it is not
(a stale book, a venue that does not answer, a ledger still importing). Checks are evaluated
when asked, each within a time limit, so the answer is as fresh as the question.

A process is ready when every service is, and it is trying to hold each of its leases: a
standby, its leases all held by others, is doing its job (waiting) and is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from pegkeeper.domain.leases import LeaseState, LeaseStatus

READY = "ready"
Check = Callable[[], Awaitable[str]]
Readiness = Callable[[], Awaitable[dict[str, str]]]  # service -> "ready" or the reason not
LeaseSource = Callable[[], list[LeaseStatus]]  # the process's leases, as it last saw them


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
                async with asyncio.timeout(self._timeout):
                    state = await check()
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


@dataclass(frozen=True, slots=True)
class ProcessReadiness:
    ready: bool
    services: dict[str, str]
    leases: list[LeaseStatus]
    detail: str  # what it does for its singletons: holds them, stands by, or not trying


async def process_readiness(readiness: Readiness, leases: LeaseSource) -> ProcessReadiness:
    """The one rule of /readyz, on the web port and the ops port alike."""
    services = await readiness()
    statuses = leases()
    trying = all(lease.state != LeaseState.STOPPED for lease in statuses)
    unreachable = [lease.store_error for lease in statuses if lease.store_error]
    ready = trying and not unreachable and all(state == READY for state in services.values())
    detail = lease_detail(statuses)
    if unreachable:
        detail = f"the store is unreachable, trading paused: {unreachable[0]}; {detail}"
    return ProcessReadiness(ready, services, statuses, detail)


def lease_detail(leases: list[LeaseStatus]) -> str:
    if not leases:
        return "no leases"
    held = [f"{s.name} (epoch {s.epoch})" for s in leases if s.state == LeaseState.HELD]
    waiting = [s.name for s in leases if s.state == LeaseState.WAITING]
    stopped = [s.name for s in leases if s.state == LeaseState.STOPPED]
    if len(waiting) == len(leases):
        return f"standby: waiting for {', '.join(waiting)}"
    parts = [f"holds {', '.join(held)}"] if held else []
    if waiting:
        parts.append(f"standby for {', '.join(waiting)}")
    if stopped:
        parts.append(f"not trying to hold {', '.join(stopped)}")
    return "; ".join(parts)
