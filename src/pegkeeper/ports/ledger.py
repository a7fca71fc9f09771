"""Where the liability comes from: a Galoy (Blink) dealer account or a query of the wallet's own
database, and how far each polled source has read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pegkeeper.domain.galoy import (
    GaloyPage,
    GaloyTransaction,
    ParsedTransaction,
    PendingEntry,
    StoredTrade,
    UserTrade,
)
from pegkeeper.domain.ledger_sync import Backlog, SourceState


class LedgerStateRepository(Protocol):
    """How far each polled ledger source has read, and whether it is healthy."""

    async def get(self, source: str) -> SourceState | None: ...

    async def record_start(self, source: str, now_ms: int) -> None:
        """The source (re)starts: it is no longer stopped; what it read before is kept."""
        ...

    async def record_success(self, source: str, now_ms: int, *, has_more: bool = False) -> None:
        """A complete read: `last_poll_ms` is now, the last error is cleared."""
        ...

    async def record_failure(
        self, source: str, now_ms: int, error: str, *, stopped: bool
    ) -> None: ...


class LedgerBacklogReader(Protocol):
    async def backlog(self, unpaired_since_ms: int) -> Backlog:
        """Unpaired transactions created at or after `unpaired_since_ms`, entries not posted,
        and transactions rejected."""
        ...


class GaloyApi(Protocol):
    """The dealer account of a Galoy (Blink) wallet backend, over its GraphQL API.

    Raises LedgerAuthError when the credentials are refused (after one new login when a token
    expired), LedgerUnavailable for anything that may pass (network, 5xx, a malformed answer).
    """

    async def transactions(self, before: str | None, last: int) -> GaloyPage:
        """Up to `last` transactions newer than the one at cursor `before` (with None: the
        oldest `last`), newest first."""
        ...

    async def close(self) -> None: ...


class GaloyRepository(LedgerBacklogReader, Protocol):
    async def latest_cursor(self) -> str | None:
        """The cursor of the newest transaction read by the forward import."""
        ...

    async def store_page(
        self, transactions: Sequence[ParsedTransaction], newest_cursor: str | None, now_ms: int
    ) -> list[ParsedTransaction]:
        """Store the transactions not stored before (the id decides) in one transaction, with
        `newest_cursor` as the new latest cursor when given; returns the ones that were new."""
        ...

    async def unpaired(self) -> list[GaloyTransaction]: ...

    async def due_for_recheck(self, checked_before_ms: int) -> GaloyTransaction | None:
        """The oldest unpaired transaction last checked before `checked_before_ms`."""
        ...

    async def cursor_before(self, tx: GaloyTransaction) -> str | None:
        """The cursor of the newest stored transaction created before `tx` (None: none is)."""
        ...

    async def mark_checked(self, tx_id: str, now_ms: int) -> None: ...

    async def group(self, created_at_ms: int) -> tuple[list[GaloyTransaction], list[StoredTrade]]:
        """The readable transactions created at that time, and the trades (not reversed) that
        pair any of them."""
        ...

    async def record_pairing(
        self, new: Sequence[UserTrade], wrong: Sequence[StoredTrade], now_ms: int
    ) -> list[StoredTrade]:
        """In one transaction: store the new trades with their pending ledger entries, and
        reverse the wrong ones (a correction each, its legs waiting again). Returns the new
        trades with their ids."""
        ...

    async def unposted(self) -> list[PendingEntry]:
        """Entries not yet in the liability ledger, oldest trade first."""
        ...

    async def mark_posted(self, event_id: str) -> None: ...

    async def trades(self) -> list[tuple[StoredTrade, str | None]]:
        """Every trade with the id of the correction that reversed it (None: it stands)."""
        ...


class LiabilityQuery(Protocol):
    """A wallet's own reckoning of the whole liability (a SQL query on its ledger)."""

    async def liability_cents(self) -> int:
        """Raises LedgerUnavailable, naming what was wrong with the answer or the connection."""
        ...

    async def close(self) -> None: ...
