"""The port of the rebalancer's store (domain.equities.move_records): proposals, moves and
their steps, signer nonces, execution switches, costs and inventory snapshots.

Every write is one transaction (inside an open unit of work: the unit's), fenced by the
lease the calling task acts under (domain.leases.act_under), as every store write is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.equities.move_records import (
    IntentStatus,
    InventorySnapshot,
    MoveCost,
    MoveEvent,
    MoveRecord,
    NewMove,
    ProposalRecord,
    ProposalStatus,
    StepIntent,
)
from pegkeeper.domain.equities.moves import ExecutionSwitches, Halt, MoveStep
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.equities.transfers import SignedTx


class RebalanceRepository(Protocol):
    # --- proposals ------------------------------------------------------------------------

    async def add_proposal(
        self, proposal_id: str, proposal: Proposal, now_ms: int
    ) -> ProposalRecord:
        """Stores a proposal as PROPOSED and dismisses the asset's earlier PROPOSED ones
        (superseded; approved ones stay). ConflictError when the id is taken."""
        ...

    async def proposal(self, proposal_id: str) -> ProposalRecord | None: ...

    async def proposals(
        self, statuses: Collection[ProposalStatus] = (), limit: int = 100
    ) -> list[ProposalRecord]:
        """Newest first; only those in `statuses` when given."""
        ...

    async def approve_proposal(
        self, proposal_id: str, operator: str, now_ms: int
    ) -> ProposalRecord:
        """PROPOSED -> APPROVED by `operator`; InvalidInput for an unknown id, ConflictError
        when it is not PROPOSED any more."""
        ...

    async def dismiss_proposal(
        self, proposal_id: str, operator: str, now_ms: int
    ) -> ProposalRecord:
        """PROPOSED or APPROVED -> DISMISSED by `operator`; errors as approve_proposal."""
        ...

    # --- moves ----------------------------------------------------------------------------

    async def open_move(self, move: NewMove) -> MoveRecord:
        """Stores the move at OPENED, ACTIVE (and its proposal, when named, as EXECUTING).
        MoveInFlight when a move of the asset is active or stuck: the database refuses a
        second one. ConflictError when the move id is taken or the proposal is not open."""
        ...

    async def record_intent(
        self,
        move_id: str,
        step: MoveStep,
        now_ms: int,
        *,
        request_id: str = "",
        tx: SignedTx | None = None,
        amount_asked: Decimal | None = None,
        detail: str = "",
    ) -> StepIntent:
        """Stores the intent of the move's next step (INTENDED) before its request is sent.
        ConflictError when the step has one already (one per step, refused by the
        database); InvalidTransition when `step` is not the move's next step or the move
        has ended."""
        ...

    async def record_step_result(
        self,
        move_id: str,
        step: MoveStep,
        status: IntentStatus,
        now_ms: int,
        *,
        request_id: str | None = None,
        tx_hash: str | None = None,
        amount_received: Decimal | None = None,
        detail: str | None = None,
    ) -> StepIntent:
        """Sets a step's status and what it learnt (None: unchanged). A step that needs no
        request (an observation: accepted, matched, received, ...) gets its row here; an
        irreversible one must have its intent first (InvalidInput)."""
        ...

    async def record_fee_bump(
        self, move_id: str, step: MoveStep, tx: SignedTx, now_ms: int
    ) -> StepIntent:
        """The step's transaction replaced at the same nonce: the new hash and signed bytes
        are kept, the old hash joins `replaced_tx_hashes` (it may still be mined)."""
        ...

    async def advance(self, move_id: str, to_step: MoveStep, now_ms: int) -> MoveRecord:
        """Moves to the very next step (InvalidTransition otherwise); an irreversible step
        needs its intent CONFIRMED first. COMPLETED ends the move and its proposal."""
        ...

    async def fail(self, move_id: str, halt: Halt, reason: str, now_ms: int) -> MoveRecord:
        """Stops the move FAILED in `halt` (a failed halt); its asset's slot is free again."""
        ...

    async def mark_stuck(self, move_id: str, halt: Halt, reason: str, now_ms: int) -> MoveRecord:
        """Stops the move STUCK in `halt` (a stuck halt); it keeps its asset's slot."""
        ...

    async def active_moves(self) -> list[MoveRecord]:
        """The moves holding their asset's slot (ACTIVE and STUCK), with their steps, oldest
        first: what a restart resumes."""
        ...

    async def move(self, move_id: str) -> MoveRecord | None: ...

    async def move_history(
        self, limit: int = 100, before_ms: int | None = None
    ) -> list[MoveRecord]:
        """Moves newest first (created before `before_ms` when given), with their steps."""
        ...

    async def move_events(self, move_id: str) -> list[MoveEvent]:
        """Every change of the move, oldest first."""
        ...

    # --- nonces, switches, costs, snapshots -------------------------------------------------

    async def reserve_nonce(self, signer: str, chain_pending: int, now_ms: int) -> int:
        """The nonce the signer's next transaction uses: max(stored next, `chain_pending`,
        the node's pending count); the stored next becomes that + 1 in the same
        transaction, so two reservations never get the same nonce."""
        ...

    async def switches(self) -> ExecutionSwitches: ...

    async def set_switch(
        self, asset: str | None, enabled: bool, operator: str, now_ms: int
    ) -> ExecutionSwitches:
        """Turns execution on or off for `asset`, or globally when `asset` is None."""
        ...

    async def record_cost(self, cost: MoveCost) -> None:
        """One cost per (move, step, kind); ConflictError when it is recorded already."""
        ...

    async def costs(self, since_ms: int, until_ms: int) -> list[MoveCost]:
        """Costs recorded in [since_ms, until_ms), oldest first."""
        ...

    async def record_inventory(self, snapshots: Sequence[InventorySnapshot]) -> None: ...

    async def latest_inventory(self) -> list[InventorySnapshot]:
        """The newest snapshot of each asset, by asset."""
        ...
