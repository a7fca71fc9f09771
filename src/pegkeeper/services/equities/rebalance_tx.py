"""The transaction steps of rebalancing moves: signed here, stored, then sent.

One transaction of a signer is in flight at a time: a step's transaction is signed only when
no other step of the signer is waiting for its own, so the next nonce is the chain's and a
nonce left reserved by a process that died before storing its transaction is taken again
rather than left as a gap every later transaction would wait behind.

Every transaction is stored with its hash, nonce and signed bytes before it is sent; on the
next look its outcome decides: unseen -> sent again, the same bytes (one transaction, however
many sends); pending past the bump delay -> replaced at the same nonce with a higher fee;
mined -> the step's result, read from the receipt's transfers (what the step actually got);
reverted -> the move fails, named, with the gas the reverted transaction still paid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import structlog

from pegkeeper.domain.equities.move_records import IntentStatus, MoveRecord, StepIntent
from pegkeeper.domain.equities.moves import MoveStep
from pegkeeper.domain.equities.transfers import ContractCall, SignedTx, TxOutcome, TxStatus
from pegkeeper.domain.errors import TransactionRefused
from pegkeeper.domain.leases import check_still_acting
from pegkeeper.ports import Clock
from pegkeeper.ports.inventory import ChainSigner
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.pause_points import pause_point

log = structlog.get_logger("pegkeeper.equities.rebalancer")


@dataclass(frozen=True, slots=True)
class TxSettings:
    confirmations: int = 1
    bump_after_ms: int = 120_000  # pending this long: replaced at the same nonce
    bump_factor: Decimal = Decimal("1.25")


@dataclass(frozen=True, slots=True)
class Waiting:
    why: str


@dataclass(frozen=True, slots=True)
class Mined:
    outcome: TxOutcome


@dataclass(frozen=True, slots=True)
class Reverted:
    why: str
    outcome: TxOutcome | None = None  # the mined transaction (its gas); None: never mined


TxProgress = Waiting | Mined | Reverted
BuildCall = Callable[[], Awaitable[ContractCall]]
T = TypeVar("T")


async def outside_request(send: Callable[[], Awaitable[T]]) -> T:
    """A request that moves something (a transaction, a broker request), sent only while the
    task may rely on its lease (LeaseLost otherwise), between the test points of
    services/pause_points."""
    pause_point("before-request")
    check_still_acting()
    try:
        return await send()
    finally:
        pause_point("after-request")


class TxSteps:
    """Runs the transaction of one step of one move, a look at a time."""

    def __init__(
        self,
        repository: RebalanceRepository,
        signer: ChainSigner,
        clock: Clock,
        settings: TxSettings,
        *,
        signer_key: str = "",
    ) -> None:
        """`signer_key` names the signer's nonces in the store (default: its address); a
        signer on a second chain needs its own."""
        self._repository = repository
        self._signer = signer
        self._clock = clock
        self.settings = settings
        self._signer_key = signer_key or signer.address

    @property
    def address(self) -> str:
        return self._signer.address

    async def run(
        self, move: MoveRecord, step: MoveStep, build: BuildCall, *, busy: bool
    ) -> TxProgress:
        """Where `step`'s transaction stands after one look. `build` makes the call when the
        step has no transaction yet; `busy`: another step of this signer is in flight (no
        new transaction is signed then)."""
        intent = move.intent(step)
        if intent is None:
            if busy:
                return Waiting("another transaction of the signer is in flight")
            intent = await self._sign_and_store(move, step, await build())
        if intent.status is IntentStatus.FAILED:
            why = intent.detail or "the transaction failed"
            return Reverted(why, await self._mined_revert(intent))
        return await self._look(move, intent, build)

    async def _mined_revert(self, intent: StepIntent) -> TxOutcome | None:
        """The reverted transaction of a step found failed earlier (a process may have died
        before its gas was counted); None when the node refused it and nothing was mined."""
        if intent.nonce is None or not intent.tx_hash:
            return None
        confirmations = self.settings.confirmations
        outcome = await self._signer.outcome(intent.tx_hash, intent.nonce, confirmations)
        if outcome.status is TxStatus.REPLACED:
            outcome = await self._replaced(intent, confirmations)
        return outcome if outcome.status is TxStatus.REVERTED else None

    async def _sign_and_store(
        self, move: MoveRecord, step: MoveStep, call: ContractCall
    ) -> StepIntent:
        chain_pending = await self._signer.next_nonce(0)
        nonce = await self._repository.reserve_nonce(
            self._signer_key, chain_pending, self._clock.now_ms()
        )
        if nonce != chain_pending:
            # nothing of this signer is in flight (the caller checked): a nonce above the
            # chain's was reserved by a process that stopped before storing its transaction
            nonce = chain_pending
        tx = await self._signer.sign(call, nonce)
        log.info(
            "rebalancing transaction signed",
            move=move.move_id,
            step=step.value,
            tx_hash=tx.tx_hash,
            nonce=nonce,
            purpose=call.purpose,
        )
        return await self._repository.record_intent(
            move.move_id, step, self._clock.now_ms(), tx=tx, detail=call.purpose
        )

    async def _look(self, move: MoveRecord, intent: StepIntent, build: BuildCall) -> TxProgress:
        assert intent.nonce is not None
        confirmations = self.settings.confirmations
        outcome = await self._signer.outcome(intent.tx_hash, intent.nonce, confirmations)
        if outcome.status is TxStatus.REPLACED:
            outcome = await self._replaced(intent, confirmations)
        if outcome.status is TxStatus.SUCCEEDED:
            await self._repository.record_step_result(
                move.move_id,
                intent.step,
                IntentStatus.CONFIRMED,
                self._clock.now_ms(),
                tx_hash=outcome.tx_hash,
            )
            return Mined(outcome)
        if outcome.status is TxStatus.REVERTED:
            why = f"transaction {outcome.tx_hash} reverted in block {outcome.block_number}"
            await self._failed(move, intent, why)
            return Reverted(why, outcome)
        if outcome.status is TxStatus.REPLACED:
            why = (
                f"nonce {intent.nonce} of {intent.signer} was used by a transaction that is "
                f"not this step's ({intent.tx_hash})"
            )
            return Waiting(why)
        if outcome.status is TxStatus.UNSEEN:
            return await self._send(move, intent)
        return await self._pending(move, intent, build)

    async def _replaced(self, intent: StepIntent, confirmations: int) -> TxOutcome:
        """The outcome of whichever of the step's transactions (fee bumps) was mined."""
        assert intent.nonce is not None
        for tx_hash in intent.replaced_tx_hashes:
            outcome = await self._signer.outcome(tx_hash, intent.nonce, confirmations)
            if outcome.status in (TxStatus.SUCCEEDED, TxStatus.REVERTED, TxStatus.PENDING):
                return outcome
        return TxOutcome(intent.tx_hash, TxStatus.REPLACED)

    async def _send(self, move: MoveRecord, intent: StepIntent) -> TxProgress:
        try:
            await outside_request(lambda: self._signer.send(_signed(intent)))
        except TransactionRefused as refused:
            assert intent.nonce is not None
            if await self._signer.chain_nonce(pending=False) > intent.nonce:
                # its nonce is mined: this transaction or another of the step's (a fee bump),
                # which the next look tells apart; it is not a refusal of what was asked
                return Waiting(f"nonce {intent.nonce} is mined: looking {intent.tx_hash} up")
            why = f"the node refused transaction {intent.tx_hash}: {refused}"
            await self._failed(move, intent, why)
            return Reverted(why)
        if intent.status is IntentStatus.INTENDED:
            await self._repository.record_step_result(
                move.move_id, intent.step, IntentStatus.SENT, self._clock.now_ms()
            )
        return Waiting(f"transaction {intent.tx_hash} sent")

    async def _pending(self, move: MoveRecord, intent: StepIntent, build: BuildCall) -> TxProgress:
        pending_ms = self._clock.now_ms() - intent.updated_at_ms
        if pending_ms < self.settings.bump_after_ms:
            return Waiting(f"transaction {intent.tx_hash} pending")
        bumped = await self._signer.bump(_signed(intent), await build(), self.settings.bump_factor)
        await self._repository.record_fee_bump(
            move.move_id, intent.step, bumped, self._clock.now_ms()
        )
        await outside_request(lambda: self._signer.send(bumped))
        log.warning(
            "rebalancing transaction replaced with a higher fee",
            move=move.move_id,
            step=intent.step.value,
            old=intent.tx_hash,
            new=bumped.tx_hash,
        )
        return Waiting(f"transaction {bumped.tx_hash} replaced {intent.tx_hash} (fee bump)")

    async def _failed(self, move: MoveRecord, intent: StepIntent, why: str) -> None:
        await self._repository.record_step_result(
            move.move_id, intent.step, IntentStatus.FAILED, self._clock.now_ms(), detail=why
        )


def _signed(intent: StepIntent) -> SignedTx:
    assert intent.nonce is not None
    return SignedTx(
        tx_hash=intent.tx_hash,
        sender=intent.signer,
        nonce=intent.nonce,
        max_fee_per_gas_wei=0,  # not needed to send the stored bytes again
        raw_hex=intent.raw_tx,
    )
