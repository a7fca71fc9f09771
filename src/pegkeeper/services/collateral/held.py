"""An operator settles a deposit the funding manager holds (its send had no answer and the
wallet showed none): not sent, and it fails, so deposits resume; or sent in a transaction the
operator names, and it is pending again, followed to its arrival as any deposit.

The settlement is written by the process the operator asks (the web process), not handed to
the funding manager's lease holder as a close of the position is: a held deposit is one the
holder only looks up, never sends, so settling it is a change of records, not of money. It is
made safe by the store instead: the new state is appended only if the deposit is still held,
in one transaction with the operator action that records it (a change meanwhile rolls both
back: ConflictError), and a lookup of the holder that finds the send after the settlement
ended the deposit is refused, never written after its final state (adapters/store). Before a
deposit is failed the wallet is asked once more: one it shows sent is refused, and the holder
picks that send up.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from pegkeeper.domain.collateral import (
    DepositSettlement,
    OperationKind,
    OperationRecord,
    OperationState,
    OperationUpdate,
)
from pegkeeper.domain.errors import BusUnavailable, VenueError
from pegkeeper.domain.events import TOPIC_OPERATOR, encode_event
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind, OperatorResult
from pegkeeper.domain.orders import CLIENT_ID_PATTERN
from pegkeeper.ports import Bus, Clock, OperatorActionRepository, Store, Wallet
from pegkeeper.services.hedging.operator import Requester, acted
from pegkeeper.services.ids import new_correlation_id

log = structlog.get_logger("pegkeeper.operator")

SETTLE = OperatorActionKind.SETTLE_DEPOSIT


class UnknownOperation(LookupError):
    """No funding operation has that id (nothing is recorded)."""


@dataclass(frozen=True, slots=True)
class Settled:
    """The action as recorded and the operation as it is after it. `wallet_unavailable`: the
    wallet could not be asked, so a deposit was not failed (try again)."""

    action: OperatorAction
    operation: OperationRecord
    wallet_unavailable: bool = False


@dataclass(frozen=True, slots=True)
class _Refusal:
    detail: str
    wallet_unavailable: bool = False


class HeldDeposits:
    def __init__(
        self,
        store: Store,
        actions: OperatorActionRepository,
        wallet: Wallet | None,
        clock: Clock,
        bus: Bus | None = None,
    ) -> None:
        """`actions` share the store's unit of work; `wallet` is the one deposits are sent
        from (None: not configured in this process, a deposit is failed on the operator's
        word alone); `bus` announces the action, as the other operator actions are."""
        self._store = store
        self._actions = actions
        self._wallet = wallet
        self._clock = clock
        self._bus = bus

    async def settle(
        self,
        who: Requester,
        operation_id: str,
        settlement: DepositSettlement,
        tx_id: str = "",
        note: str = "",
    ) -> Settled:
        """Records the operator's settlement (a refused one too, as failed) with the change it
        makes. Raises UnknownOperation, and ConflictError when the deposit changed between
        the check and the write (nothing recorded)."""
        funding = self._store.funding
        record = await self._operation(operation_id)
        refusal = _not_held(record)
        if refusal is None and settlement is DepositSettlement.NOT_SENT:
            refusal = await self._sent_after_all(record)
        async with self._store.transaction():
            record = await self._operation(operation_id)  # within the transaction
            refusal = refusal or _not_held(record)
            if refusal is None:
                update = _update(who, settlement, tx_id, note)
                detail = self._done(record, settlement, tx_id)
                action = self._action(who, record, note, OperatorResult.DONE, detail)
                await funding.record_operation_state(
                    operation_id, update, action.created_at_ms, expected=OperationState.HELD
                )
            else:
                action = self._action(who, record, note, OperatorResult.FAILED, refusal.detail)
            await self._actions.record(action)
        _log(action)
        await self._announce(action)
        after = await self._operation(operation_id)
        return Settled(action, after, refusal is not None and refusal.wallet_unavailable)

    async def _operation(self, operation_id: str) -> OperationRecord:
        found = None
        if CLIENT_ID_PATTERN.match(operation_id):
            found = await self._store.funding.get_operation(operation_id)
        if found is None:
            raise UnknownOperation(f"no funding operation {operation_id[:64]!r}")
        return found

    async def _sent_after_all(self, record: OperationRecord) -> _Refusal | None:
        """Whether the wallet shows the deposit sent after all (a refusal naming the
        transaction), or cannot be asked."""
        if self._wallet is None:
            return None
        op = record.operation
        try:
            sent = await self._wallet.find_sent(op.operation_id, op.created_at_ms)
        except (VenueError, OSError, TimeoutError) as error:
            return _Refusal(
                f"the wallet could not be asked whether deposit {op.operation_id} was sent "
                f"({error}): it is still held; try again",
                wallet_unavailable=True,
            )
        live = [t for t in sent if not t.replaced_by_tx_id]
        if not live:
            return None
        return _Refusal(
            f"the wallet shows deposit {op.operation_id} sent in transaction {live[0].tx_id}: "
            "it is not failed; the funding manager follows that payment"
        )

    def _done(self, record: OperationRecord, settlement: DepositSettlement, tx_id: str) -> str:
        op = record.operation
        what = f"deposit {op.operation_id} of {op.amount} {op.currency}"
        if settlement is DepositSettlement.SENT:
            return (
                f"{what} is pending with transaction {tx_id}: followed until the exchange "
                "credits it"
            )
        unchecked = "" if self._wallet is not None else " (no wallet here to look it up again)"
        return f"{what} failed, never sent{unchecked}: deposits resume"

    def _action(
        self,
        who: Requester,
        record: OperationRecord,
        note: str,
        result: OperatorResult,
        detail: str,
    ) -> OperatorAction:
        return OperatorAction(
            action_id=new_correlation_id(),
            created_at_ms=self._clock.now_ms(),
            operator=who.operator,
            action=SETTLE,
            target=record.operation.operation_id,
            note=note,
            result=result,
            detail=detail,
            correlation_id=record.operation.correlation_id,  # in the deposit's audit trail
            client_address=who.client_address[:128],
        )

    async def _announce(self, action: OperatorAction) -> None:
        """After the commit, as the other operator actions are (to the dashboard's pages;
        the funding manager reads the deposit's new state at its next cycle)."""
        if self._bus is None:
            return
        try:
            await self._bus.publish(TOPIC_OPERATOR, encode_event(acted(action, paused=False)))
        except BusUnavailable as error:
            log.warning("operator action not announced: the bus is down", error=str(error))


def _not_held(record: OperationRecord) -> _Refusal | None:
    if record.state is OperationState.HELD:
        return None
    op = record.operation
    kind = "deposit" if op.kind is OperationKind.DEPOSIT else op.kind.value.replace("_", " ")
    tx = f" (transaction {record.tx_id})" if record.tx_id else ""
    return _Refusal(
        f"{kind} {op.operation_id} is {record.state.value}{tx}: only a held deposit can be settled"
    )


def _update(
    who: Requester, settlement: DepositSettlement, tx_id: str, note: str
) -> OperationUpdate:
    said = f": {note}" if note else ""
    if settlement is DepositSettlement.SENT:
        message = f"sent in {tx_id}, settled by {who.operator}{said}"
        return OperationUpdate(OperationState.PENDING, tx_id=tx_id, message=message)
    return OperationUpdate(
        OperationState.FAILED, message=f"not sent, settled by {who.operator}{said}"
    )


def _log(action: OperatorAction) -> None:
    log.info(
        "operator action",
        operator=action.operator,
        action=action.action.value,
        target=action.target,
        result=action.result.value,
        detail=action.detail,
        correlation_id=action.correlation_id,
    )
