"""The execution core's path for money moved between accounts and chains: transfers between
the venue's funding and trading accounts, withdrawals, and onchain deposits sent by a wallet.

The same rules as orders (services.execution.core): the operation is committed with its
decision before any request, and the database refuses a second open operation of the same
account and class (SlotTaken); the answer is sorted (accepted, refused, not processed,
uncertain); an uncertain one is recorded `unknown` and looked up by its client id before
anything new is sent; what the venue never saw after the lookup window is `lost`.
"""

from __future__ import annotations

from collections.abc import Awaitable

import structlog

from pegkeeper.domain.collateral import (
    CollateralDecisionRecord,
    CollateralOperation,
    OperationState,
    OperationUpdate,
)
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.execution import Outcome
from pegkeeper.ports import Clock, CollateralRepository
from pegkeeper.services.execution.core import Found, Waits, attempt, look_up

log = structlog.get_logger("pegkeeper.funding")

_STATE_OF = {
    Outcome.REFUSED: OperationState.REFUSED,
    Outcome.NOT_PROCESSED: OperationState.FAILED,
    Outcome.UNCERTAIN: OperationState.UNKNOWN,
}


class OperationExecution:
    def __init__(
        self, repository: CollateralRepository, clock: Clock, *, lookup_window_seconds: float
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._lookup_window_seconds = lookup_window_seconds
        self._waits = Waits(clock)  # how long each operation not final has been waited on

    async def open(
        self, decision: CollateralDecisionRecord, operation: CollateralOperation | None = None
    ) -> None:
        """Commits the decision and its operation (raises SlotTaken, writing nothing, while
        another operation of the same account and class is open)."""
        await self._repository.record_decision(decision, operation)
        if operation is not None:
            self._waits.started_ms(operation.operation_id)

    async def send(
        self, operation: CollateralOperation, request: Awaitable[OperationUpdate]
    ) -> OperationUpdate:
        """Sends an operation already committed and records what became of it."""
        result = await attempt(request)
        if result.answer is not None:
            update = result.answer
        else:
            error = result.error
            if result.outcome is Outcome.UNCERTAIN:
                log.warning("funding request outcome unknown", operation=operation.operation_id)
            prefix = {Outcome.NOT_PROCESSED: "not processed: ", Outcome.UNCERTAIN: "uncertain: "}
            message = f"{prefix.get(result.outcome, '')}{error}"
            update = OperationUpdate(_STATE_OF[result.outcome], message=message)
        await self.record(operation.operation_id, update)
        return update

    async def look_up(
        self, operation: CollateralOperation, request: Awaitable[OperationUpdate]
    ) -> OperationUpdate | None:
        """The venue's answer for an operation by its client id, `lost` once the venue still
        does not know it after the lookup window, None meanwhile (or when the lookup got no
        answer). Not recorded: the caller records what changed."""
        found = await look_up(request, self.window_passed(operation))
        if found.found is Found.LOST:
            return OperationUpdate(OperationState.LOST, message="not found at the venue")
        if found.found is Found.FAILED:
            log.warning(
                "funding lookup failed", operation=operation.operation_id, error=found.error
            )
        return found.answer

    def waited_seconds(self, operation: CollateralOperation) -> float:
        """How long this process has waited on the operation, on the monotonic clock."""
        return self._waits.seconds(operation.operation_id)

    def window_passed(self, operation: CollateralOperation) -> bool:
        """Whether an operation nothing has seen is old enough to be given up."""
        return self._waits.window_passed(operation.operation_id, self._lookup_window_seconds)

    async def record(self, operation_id: str, update: OperationUpdate) -> None:
        """The one place an operation's new state is written. ConflictError (nothing written)
        when the operation ended meanwhile: an operator settled it through another process."""
        try:
            await self._repository.record_operation_state(
                operation_id, update, self._clock.now_ms()
            )
        except ConflictError:
            self._waits.forget(operation_id)
            raise
        if update.state.is_terminal:
            self._waits.forget(operation_id)

    def restart_wait(self, operation: CollateralOperation) -> None:
        """Waits on the operation from now on, as on one just sent."""
        self._waits.forget(operation.operation_id)
        self._waits.started_ms(operation.operation_id)
