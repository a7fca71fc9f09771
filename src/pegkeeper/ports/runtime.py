"""The process's own moving parts: the clock, the message bus, the gate that says whether trading
may go on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from pegkeeper.domain.ledger_sync import LedgerReadiness


class Clock(Protocol):
    def now_ms(self) -> int:
        """The time of day (unix ms) to record and to show; it may jump, also back."""
        ...

    def monotonic_ms(self) -> int:
        """Milliseconds on a reading that never goes back and means nothing across processes:
        waits and windows are measured on it, never on `now_ms`."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this clock's time (a simulated clock may run faster)."""
        ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    """Carries prices and notifications between services, never money state (which is in the
    store): a consumer woken by a message reads the state it acts on from the store."""

    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, pattern: str, *, group: str | None = None) -> Subscription:
        """Messages on topics matching `pattern` ("liability", "bbo.*") from now on. With a
        `group`, the subscriptions of that name share the messages (each goes to one of them)
        and a message counts as handled when its consumer asks for the next one; on a bus
        that outlives the process, the group goes on where it stopped."""
        ...

    async def latest(self, topic: str) -> bytes | None:
        """The newest message on `topic` (a price, a book), or None before the first."""
        ...


class ReadinessGate(Protocol):
    """Whether trading may go on now. The hedger and the funding service ask before they act
    and wait, saying why, while the gate is closed (a half-imported ledger, a stopped source)."""

    async def readiness(self) -> LedgerReadiness: ...
