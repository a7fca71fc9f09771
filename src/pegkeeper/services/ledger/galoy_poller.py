"""The Galoy ledger poller: the dealer account's transactions -> user trades -> liability events.

Each poll, as stablesats' user-trades job does (specs/galoy.md):
1. read the page after the newest stored cursor and store each transaction once;
2. re-check one unpaired transaction not checked for a day: read its neighbourhood again, and
   pair its `createdAt` afresh; a stored trade found wrong is reversed by a correction;
3. pair the unpaired transactions;
4. post every trade and correction not yet in the liability ledger (idempotent on the event id).
While Galoy says newer pages wait, the next poll starts at once; otherwise after the interval.
Credentials refused stop the poller; every other failure is retried after a growing pause.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    wait_exponential,
)

from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.galoy import (
    PendingEntry,
    RejectedTransaction,
    pair_transactions,
    repair_group,
)
from pegkeeper.domain.ledger_sync import LedgerAuthError, LedgerUnavailable
from pegkeeper.ports import Clock, GaloyApi, GaloyRepository, LedgerStateRepository
from pegkeeper.services.ledger.liability import LiabilityService

log = structlog.get_logger("pegkeeper.ledger.galoy")

SOURCE = "galoy"


@dataclass(frozen=True, slots=True)
class GaloyPollerSettings:
    poll_interval_seconds: float = 10.0  # stablesats: 10 s
    page_size: int = 100  # transactions(last: 100, ...)
    recheck_interval_seconds: float = 86_400.0  # unpaired transactions are re-checked daily
    max_backoff_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class PollReport:
    stored: int  # transactions new to the store
    rejected: int  # of them, unreadable ones
    has_more: bool  # newer pages are waiting
    trades: int  # trades paired
    corrections: int  # trades reversed
    posted: int  # ledger events posted
    rechecked: str | None  # the transaction re-checked, if one was due


class GaloyPoller:
    def __init__(
        self,
        api: GaloyApi,
        repository: GaloyRepository,
        state: LedgerStateRepository,
        liability: LiabilityService,
        clock: Clock,
        settings: GaloyPollerSettings,
    ) -> None:
        self._api = api
        self._repository = repository
        self._state = state
        self._liability = liability
        self._clock = clock
        self._settings = settings
        self.polls = 0

    async def run(self) -> None:
        """Poll until cancelled, or until Galoy refuses the credentials (then it stops)."""
        await self._state.record_start(SOURCE, self._clock.now_ms())
        settings = self._settings
        # Galoy down, a bad answer, the store busy: retried after a pause that doubles
        # from twice the interval; every poll starts again from the first pause
        retrying = AsyncRetrying(
            sleep=self._clock.sleep,
            wait=wait_exponential(
                multiplier=2 * settings.poll_interval_seconds,
                max=settings.max_backoff_seconds,
            ),
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(LedgerAuthError),
            before_sleep=self._record_failure,
        )
        while True:
            try:
                report: PollReport = await retrying(self.poll_once)
            except LedgerAuthError as error:
                await self._state.record_failure(
                    SOURCE, self._clock.now_ms(), str(error), stopped=True
                )
                log.error("the galoy ledger source stopped", error=str(error))
                return
            if not report.has_more:
                await self._clock.sleep(settings.poll_interval_seconds)

    async def poll_once(self) -> PollReport:
        now_ms = self._clock.now_ms()
        page = await self._api.transactions(
            await self._repository.latest_cursor(), self._settings.page_size
        )
        new = await self._repository.store_page(page.transactions, page.newest_cursor, now_ms)
        rejected = [tx for tx in new if isinstance(tx, RejectedTransaction)]
        for tx in rejected:
            log.warning("a galoy transaction cannot be read", tx_id=tx.tx_id, reason=tx.reason)
        rechecked, corrections, repaired = await self._recheck_one(now_ms)
        trades = repaired + await self._pair(now_ms)
        posted = await self._post()
        # an empty page that claims more would make a loop without progress: wait instead
        has_more = page.has_previous_page and bool(page.transactions)
        await self._state.record_success(SOURCE, self._clock.now_ms(), has_more=has_more)
        self.polls += 1
        return PollReport(
            stored=len(new),
            rejected=len(rejected),
            has_more=has_more,
            trades=trades,
            corrections=corrections,
            posted=posted,
            rechecked=rechecked,
        )

    async def _recheck_one(self, now_ms: int) -> tuple[str | None, int, int]:
        """(transaction re-checked, trades reversed, trades paired) for the one due, if any."""
        recheck_ms = int(self._settings.recheck_interval_seconds * 1000)
        due = await self._repository.due_for_recheck(now_ms - recheck_ms)
        if due is None:
            return None, 0, 0
        before = await self._repository.cursor_before(due)
        try:
            page = await self._api.transactions(before, self._settings.page_size)
        except LedgerUnavailable as error:
            # the forward import must not wait on this: the re-check is tried again tomorrow
            log.warning("a galoy re-check could not read", tx_id=due.tx_id, error=str(error))
            await self._repository.mark_checked(due.tx_id, now_ms)
            return None, 0, 0
        await self._repository.store_page(page.transactions, None, now_ms)
        group, standing = await self._repository.group(due.created_at_ms)
        repair = repair_group(group, standing)
        if repair.wrong or repair.new:
            await self._repository.record_pairing(repair.new, repair.wrong, now_ms)
        for stored in repair.wrong:
            log.warning("a galoy pairing was found wrong and is reversed", trade=stored.trade_id)
        await self._repository.mark_checked(due.tx_id, now_ms)
        return due.tx_id, len(repair.wrong), len(repair.new)

    async def _pair(self, now_ms: int) -> int:
        trades, _ = pair_transactions(await self._repository.unpaired())
        if trades:
            await self._repository.record_pairing(trades, [], now_ms)
        return len(trades)

    async def _post(self) -> int:
        """Post pending entries oldest first. One the ledger refuses (it would take the
        liability below 0 before an earlier trade is in) is tried again after the others."""
        pending = await self._repository.unposted()
        posted = 0
        while pending:
            refused: list[tuple[PendingEntry, Exception]] = []
            for entry in pending:
                try:
                    await self._liability.post(
                        entry.event_id, entry.delta_cents, entry.memo, source=SOURCE
                    )
                except (ConflictError, InvalidInput) as error:
                    refused.append((entry, error))
                    continue
                await self._repository.mark_posted(entry.event_id)
                posted += 1
            if len(refused) == len(pending):
                for entry, refusal in refused:
                    log.warning(
                        "a galoy trade waits to be posted",
                        event_id=entry.event_id,
                        error=str(refusal),
                    )
                break
            pending = [entry for entry, _ in refused]
        return posted

    async def _record_failure(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        message = str(error) if isinstance(error, LedgerUnavailable) else repr(error)
        if isinstance(error, LedgerUnavailable):
            log.warning("reading the galoy ledger failed; trying again later", error=message)
        else:
            log.error("a galoy poll failed; trying again later", exc_info=error)
        try:
            await self._state.record_failure(SOURCE, self._clock.now_ms(), message, stopped=False)
        except Exception:
            log.exception("cannot record the galoy source's failure")
