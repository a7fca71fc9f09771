"""What the store keeps of rebalancing: proposals and the operator's decisions on them, moves
with their steps' intents and results, every change of a move (the audit trail and the
transfers page), signer nonces, the execution switches, each move's costs in USD (the equities
P&L), and inventory snapshots (the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.moves import (
    Halt,
    MoveKind,
    MovePlan,
    MoveRoute,
    MoveStatus,
    MoveStep,
)
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.errors import InvalidInput


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for an operator (or for execution, where enabled)
    APPROVED = "approved"  # an operator said go
    EXECUTING = "executing"  # its move is open
    DONE = "done"  # its move ended (the move says how)
    DISMISSED = "dismissed"  # by an operator, or superseded by a newer proposal

    @property
    def is_open(self) -> bool:
        return self in (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    proposal_id: str
    proposal: Proposal
    status: ProposalStatus
    created_at_ms: int
    decided_by: str = ""  # the operator who approved or dismissed it
    decided_at_ms: int | None = None
    move_id: str = ""  # the move that executes it, once opened


@dataclass(frozen=True, slots=True)
class NewMove:
    move_id: str  # chosen by pegkeeper before anything is sent
    kind: MoveKind
    asset: str  # the symbol, or CASH_ASSET
    amount: Decimal  # shares or USD, > 0
    created_at_ms: int
    route: MoveRoute = field(default_factory=MoveRoute)
    proposal_id: str = ""  # "" for a move no proposal asked for

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise InvalidInput(f"move {self.move_id}: amount must be > 0, not {self.amount}")
        if (self.asset == CASH_ASSET) != self.kind.is_cash:
            raise InvalidInput(
                f"move {self.move_id}: a {self.kind.value} moves "
                f"{'cash (USD)' if self.kind.is_cash else 'a stock'}, not {self.asset}"
            )

    @property
    def direction(self) -> Direction:
        return self.kind.direction


class IntentStatus(StrEnum):
    INTENDED = "intended"  # stored; the request may or may not have gone out
    SENT = "sent"  # the request went out; its outcome is not known yet
    CONFIRMED = "confirmed"  # done, as the chain or the broker says
    FAILED = "failed"  # refused or reverted: it moved nothing

    @property
    def is_final(self) -> bool:
        return self in (IntentStatus.CONFIRMED, IntentStatus.FAILED)


def check_intent_status(step: MoveStep, old: IntentStatus, new: IntentStatus) -> None:
    """An intent goes forward: intended -> sent -> confirmed | failed (sent may be skipped);
    a final one stays as it is, or is set to the same status again."""
    order = (IntentStatus.INTENDED, IntentStatus.SENT)
    if old.is_final and new is not old:
        raise InvalidInput(f"the {step.value} step is {old.value} already; it stays so")
    if not old.is_final and not new.is_final and order.index(new) < order.index(old):
        raise InvalidInput(f"the {step.value} step cannot go from {old.value} to {new.value}")


@dataclass(frozen=True, slots=True)
class StepIntent:
    """One step of a move: the intent stored before its request, then its result."""

    move_id: str
    step: MoveStep
    status: IntentStatus
    created_at_ms: int
    updated_at_ms: int
    request_id: str = ""  # issuer request id, client order id, wallet transfer id, ...
    tx_hash: str = ""  # lower case, 0x-prefixed
    signer: str = ""
    nonce: int | None = None
    raw_tx: str = ""  # the signed transaction, to send again unchanged
    amount_asked: Decimal | None = None
    amount_received: Decimal | None = None  # what the step actually got
    detail: str = ""  # the step's own data (an attestation), or why it failed
    replaced_tx_hashes: tuple[str, ...] = ()  # earlier hashes at the same nonce (fee bumps)


@dataclass(frozen=True, slots=True)
class MoveRecord:
    move_id: str
    kind: MoveKind
    asset: str
    amount: Decimal
    route: MoveRoute
    step: MoveStep
    status: MoveStatus
    created_at_ms: int
    updated_at_ms: int
    step_at_ms: int  # when `step` was reached: the next step's timeout runs from here
    proposal_id: str = ""
    halt: Halt | None = None  # the named state it stopped in
    error: str = ""
    steps: tuple[StepIntent, ...] = ()

    @property
    def plan(self) -> MovePlan:
        return MovePlan(self.kind, self.route)

    def intent(self, step: MoveStep) -> StepIntent | None:
        return next((s for s in self.steps if s.step is step), None)


@dataclass(frozen=True, slots=True)
class MoveEvent:
    """One change of a move, as the audit trail and the transfers page show it."""

    move_id: str
    step: MoveStep
    status: MoveStatus
    message: str
    created_at_ms: int
    halt: Halt | None = None


class CostKind(StrEnum):
    GAS = "gas"  # a transaction's gas, in USD at the time
    FEE = "fee"  # a broker or bridge fee
    CONVERSION = "conversion"  # USD lost to the USDC conversion's spread


@dataclass(frozen=True, slots=True)
class MoveCost:
    move_id: str
    step: MoveStep
    kind: CostKind
    amount_usd: Decimal
    created_at_ms: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    """One asset's inventory as the rebalancer saw it, for the dashboard."""

    asset: str
    onchain: Decimal
    broker: Decimal
    in_flight: Decimal
    onchain_share: Decimal | None
    target: Decimal
    deviation: Decimal
    block_number: int
    broker_stamp_ms: int
    created_at_ms: int
