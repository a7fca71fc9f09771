"""A transaction step whose send is refused by the node: refused for good when its nonce is
still free (it moved nothing: the move fails, named), but only looked up again when its nonce
is already mined (a node that answered "nonce too low" for a transaction that went through must
not make the step look failed)."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.move_records import IntentStatus, NewMove
from pegkeeper.domain.equities.moves import MoveKind, MoveRoute, MoveStep
from pegkeeper.domain.equities.transfers import (
    ContractCall,
    SignedTx,
    TxOutcome,
    TxStatus,
)
from pegkeeper.domain.errors import TransactionRefused
from pegkeeper.services.equities.rebalance_tx import Reverted, TxSettings, TxSteps, Waiting
from tests.stepping_clock import SteppingClock

SIGNER = "0x" + "5a" * 20
CALL = ContractCall(to="0x" + "6b" * 20, data=b"\x01", purpose="withdraw 17 AAPL")


class RefusingSigner:
    """Signs at the nonce it is given, never has the transaction, refuses every send."""

    address = SIGNER

    def __init__(self, mined_nonce: int) -> None:
        self.mined_nonce = mined_nonce
        self.sends = 0

    async def chain_nonce(self, pending: bool) -> int:
        return self.mined_nonce

    async def next_nonce(self, stored_next: int) -> int:
        return max(stored_next, 3)

    async def sign(
        self, call: ContractCall, nonce: int, max_fee_per_gas_wei: int | None = None
    ) -> SignedTx:
        return SignedTx(f"0x{nonce:064x}", SIGNER, nonce, 10, "0xf86c")

    async def send(self, tx: SignedTx) -> None:
        self.sends += 1
        raise TransactionRefused("nonce too low")

    async def outcome(self, tx_hash: str, nonce: int, confirmations: int) -> TxOutcome:
        return TxOutcome(tx_hash, TxStatus.UNSEEN)

    async def receipt(self, tx_hash: str, confirmations: int) -> TxOutcome:
        return TxOutcome(tx_hash, TxStatus.UNSEEN)

    async def bump(self, tx: SignedTx, call: ContractCall, factor: Decimal) -> SignedTx:
        raise AssertionError("nothing is bumped here")


async def _run(store: SqlStore, signer: RefusingSigner) -> Waiting | Reverted:
    repo = store.rebalancing
    move = NewMove("mv-1", MoveKind.REDEEM, "AAPL", Decimal(17), 1_000, MoveRoute(wrapped=False))
    await repo.open_move(move)
    record = await repo.move("mv-1")
    assert record is not None
    steps = TxSteps(repo, signer, SteppingClock(2_000), TxSettings())

    async def build() -> ContractCall:
        return CALL

    progress = await steps.run(record, MoveStep.WITHDRAWN_FROM_VAULT, build, busy=False)
    assert isinstance(progress, Waiting | Reverted)
    return progress


async def test_a_refusal_with_the_nonce_free_fails_the_step(store: SqlStore) -> None:
    signer = RefusingSigner(mined_nonce=3)  # nonce 3 (the one signed) is not mined
    progress = await _run(store, signer)
    assert isinstance(progress, Reverted)
    assert "nonce too low" in progress.why
    record = await store.rebalancing.move("mv-1")
    assert record is not None
    intent = record.intent(MoveStep.WITHDRAWN_FROM_VAULT)
    assert intent is not None and intent.status is IntentStatus.FAILED
    assert signer.sends == 1


async def test_a_refusal_with_the_nonce_mined_is_looked_up_not_failed(store: SqlStore) -> None:
    signer = RefusingSigner(mined_nonce=4)  # nonce 3 is mined: by this transaction, maybe
    progress = await _run(store, signer)
    assert isinstance(progress, Waiting)
    assert "nonce 3 is mined" in progress.why
    record = await store.rebalancing.move("mv-1")
    assert record is not None
    intent = record.intent(MoveStep.WITHDRAWN_FROM_VAULT)
    assert intent is not None and intent.status is IntentStatus.INTENDED
    assert intent.nonce == 3 and signer.sends == 1
