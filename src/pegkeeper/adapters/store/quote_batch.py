"""Group commit of new quotes: concurrent creates share one transaction.

A quote is stored by its own transaction on an idle server. Under load, the quotes asked for
while one batch is being committed wait for that commit and then go together, in one
transaction, so the cost of a commit (round trips and, on PostgreSQL, a WAL flush) is paid
once per batch instead of once per quote. Every caller returns only after the transaction
holding its quote committed; when it fails, every caller in the batch gets the error and none
of its quotes is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from pegkeeper.domain.quotes import Quote

# Stores the given quotes (and their `created` events) in one transaction, committed on return.
StoreQuotes = Callable[[Sequence[Quote]], Awaitable[None]]

MAX_BATCH = 512  # quotes in one transaction at most

_Waiting = tuple[Quote, asyncio.Future[None]]


class QuoteBatcher:
    def __init__(self, store: StoreQuotes, *, max_batch: int = MAX_BATCH):
        self._store = store
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions begun, committed or not (read by the tests)

    async def create(self, quote: Quote) -> None:
        """Returns once the quote is committed; raises what its batch's transaction raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((quote, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="quote-group-commit")
        # A cancelled caller leaves its quote in the batch: a stored quote nobody accepts is
        # harmless, a half-cancelled transaction is not.
        await done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._commit(batch)
        except BaseException:
            _settle(self._waiting, asyncio.CancelledError())
            self._waiting = []
            raise
        finally:
            self._flusher = None

    async def _commit(self, batch: list[_Waiting]) -> None:
        self.batches += 1
        try:
            await self._store([quote for quote, _ in batch])
        except Exception as error:
            _settle(batch, error)
            return
        except BaseException as error:
            _settle(batch, error)
            raise
        _settle(batch, None)


def _settle(batch: list[_Waiting], error: BaseException | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            done.cancel()
        else:
            done.set_exception(error)
