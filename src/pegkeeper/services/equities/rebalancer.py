"""The rebalancer: keeps each asset's inventory split between the chain and the broker inside
its band, so that hedges always have shares and cash where they are sent (specs/equities.md,
"Rebalancing").

A cycle, every `interval_seconds` (a singleton: under the "rebalancer" lease in a cluster):

1. moves on every move in flight, step by step as far as each can go now (rebalance_steps);
   a step past its timeout marks the move stuck and alerts (it still goes on if the late
   answer arrives); a refusal fails it, named, with the operator's action;
2. reads the inventory, the readings stamped before they are taken, moves in flight counted
   where they go, and stores it for the dashboard;
3. assesses every asset (domain.equities.proposals): out of its band, or short of what a
   blocked hedge needs, it proposes a move back to the target;
4. opens a move for each approved proposal, and for a new one where the operator enabled
   execution for the asset and globally. The database keeps one move per asset.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.inventory import CASH_ASSET, InventoryView
from pegkeeper.domain.equities.move_records import (
    IntentStatus,
    MoveCost,
    MoveRecord,
    NewMove,
    ProposalRecord,
    ProposalStatus,
)
from pegkeeper.domain.equities.moves import (
    HALTS,
    Halt,
    MoveInFlight,
    MoveRoute,
    MoveStatus,
    MoveStep,
    StepTimeouts,
    overdue,
)
from pegkeeper.domain.equities.proposals import AssetPolicy, BlockedHedge, Proposal, assess
from pegkeeper.domain.errors import ChainError, ConflictError, VenueError
from pegkeeper.ports import Clock
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.inventory_reader import InventoryReader
from pegkeeper.services.equities.rebalance_looks import Done, Halted, StepCost, Wait
from pegkeeper.services.equities.rebalance_steps import MoveSteps

log = structlog.get_logger("pegkeeper.equities.rebalancer")

SAME_AMOUNT = Decimal("0.05")  # a new proposal replaces an open one differing by more


@dataclass(frozen=True, slots=True)
class RebalancerSettings:
    policies: Mapping[str, AssetPolicy]  # by asset (the symbols and CASH_ASSET)
    wrapped: Mapping[str, bool] = field(default_factory=dict)  # by symbol: vault holds wrapped
    interval_seconds: float = 30.0
    timeouts: StepTimeouts = field(default_factory=StepTimeouts)
    max_steps_per_look: int = 12  # a move's steps run back to back while each is done at once
    bridged: bool = False  # cash crosses the bridge: the broker's wallet is on another chain


class Rebalancer:
    def __init__(
        self,
        repository: RebalanceRepository,
        steps: MoveSteps,
        inventory: InventoryReader,
        clock: Clock,
        settings: RebalancerSettings,
        *,
        alerter: Alerter | None = None,
    ) -> None:
        self._repository = repository
        self._steps = steps
        self._inventory = inventory
        self._clock = clock
        self.settings = settings
        self._alerter = alerter
        self.last_cycle_ms: int | None = None  # the end of the last cycle that went through
        self.last_error = ""
        self.last_view: InventoryView | None = None

    async def run(self) -> None:
        while True:
            try:
                await self.cycle()
            except (ChainError, VenueError) as error:
                self.last_error = str(error)
                log.warning("rebalancing cycle not finished", error=str(error))
            await asyncio.sleep(self.settings.interval_seconds)

    async def cycle(self) -> None:
        await self.advance_moves()
        moves = await self._repository.active_moves()
        view, blocked = await self._inventory.read(moves, self.settings.policies)
        self.last_view = view
        await self._propose(view, blocked, {m.asset for m in moves})
        await self._open_moves()
        await self.advance_moves()
        self.last_cycle_ms = self._clock.now_ms()
        self.last_error = ""

    # moves

    async def advance_moves(self) -> None:
        for move in await self._repository.active_moves():
            await self._advance(move)

    async def _advance(self, move: MoveRecord) -> None:
        for _ in range(self.settings.max_steps_per_look):
            spec = move.plan.next_step(move.step)
            if spec is None:
                return
            late = overdue(
                move.plan, move.step, move.step_at_ms, self._now(), self.settings.timeouts
            )
            try:
                look = await self._steps.look(move, spec.step, await self._signer_busy(move))
            except (ChainError, VenueError) as error:
                look = Wait(f"{spec.step.value}: {error}")
            if isinstance(look, Wait):
                if late is not None and move.status is MoveStatus.ACTIVE:
                    await self._halt(move, Halted(late.stuck_as, look.why))
                return
            if isinstance(look, Halted):
                await self._record_costs(move, spec.step, look.costs, self._now())
                await self._halt(move, look)
                return
            move = await self._done(move, spec.step, look)

    async def _done(self, move: MoveRecord, step: MoveStep, look: Done) -> MoveRecord:
        now_ms = self._now()
        await self._record_costs(move, step, look.costs, now_ms)
        await self._repository.record_step_result(
            move.move_id,
            step,
            IntentStatus.CONFIRMED,
            now_ms,
            request_id=look.request_id,
            tx_hash=look.tx_hash,
            amount_received=look.amount_received,
            detail=look.detail,
        )
        advanced = await self._repository.advance(move.move_id, step, now_ms)
        log.info(
            "rebalancing step done",
            move=move.move_id,
            kind=move.kind.value,
            asset=move.asset,
            step=step.value,
            received=str(look.amount_received),
        )
        if move.status is MoveStatus.STUCK:
            self._cleared(move)
        return advanced

    async def _record_costs(
        self, move: MoveRecord, step: MoveStep, costs: tuple[StepCost, ...], now_ms: int
    ) -> None:
        """Before the step is marked done (or the move halted): a restart between the two
        finds the cost stored (the store keeps one per move, step and kind) and goes on."""
        for cost in costs:
            record = MoveCost(move.move_id, step, cost.kind, cost.amount_usd, now_ms, cost.detail)
            with contextlib.suppress(ConflictError):
                await self._repository.record_cost(record)

    async def _halt(self, move: MoveRecord, halted: Halted) -> None:
        info = HALTS[halted.halt]
        now_ms = self._now()
        if info.status is MoveStatus.FAILED:
            await self._repository.fail(move.move_id, halted.halt, halted.why, now_ms)
        elif move.status is not MoveStatus.STUCK or move.halt is not halted.halt:
            await self._repository.mark_stuck(move.move_id, halted.halt, halted.why, now_ms)
        log.error(
            "rebalancing move halted",
            move=move.move_id,
            halt=halted.halt.value,
            why=halted.why,
            action=info.action,
        )
        self._alert(move, halted.halt, halted.why)

    async def _signer_busy(self, move: MoveRecord) -> bool:
        """Whether a transaction of another step is signed and not final."""
        for other in await self._repository.active_moves():
            for intent in other.steps:
                same = other.move_id == move.move_id
                if intent.tx_hash and not intent.status.is_final and not same:
                    return True
        return False

    # proposals

    async def _propose(
        self, view: InventoryView, blocked: list[BlockedHedge], moving: set[str]
    ) -> None:
        open_ = await self._repository.proposals((ProposalStatus.PROPOSED, ProposalStatus.APPROVED))
        latest = {record.proposal.asset: record for record in reversed(open_)}
        for assessment in assess(view, self.settings.policies, blocked, moving):
            proposal = assessment.proposal
            if proposal is None or _same(latest.get(proposal.asset), proposal):
                continue
            record = await self._repository.add_proposal(_new_id("prop"), proposal, self._now())
            log.info(
                "rebalancing proposed",
                proposal=record.proposal_id,
                asset=proposal.asset,
                direction=proposal.direction.value,
                amount=str(proposal.amount),
                reason=proposal.reason,
            )

    async def _open_moves(self) -> None:
        switches = await self._repository.switches()
        open_ = await self._repository.proposals((ProposalStatus.PROPOSED, ProposalStatus.APPROVED))
        for record in open_:
            asset = record.proposal.asset
            approved = record.status is ProposalStatus.APPROVED
            if approved or switches.allows(asset):
                await self._open(record)

    async def _open(self, record: ProposalRecord) -> None:
        proposal = record.proposal
        wrapped = self.settings.wrapped.get(proposal.asset, False)
        move = NewMove(
            move_id=_new_id("mv"),
            kind=proposal.kind,
            asset=proposal.asset,
            amount=proposal.amount,
            created_at_ms=self._now(),
            route=MoveRoute(
                wrapped=wrapped and proposal.asset != CASH_ASSET,
                bridged=self.settings.bridged and proposal.asset == CASH_ASSET,
            ),
            proposal_id=record.proposal_id,
        )
        try:
            await self._repository.open_move(move)
        except MoveInFlight:
            return
        log.info(
            "rebalancing move opened",
            move=move.move_id,
            kind=move.kind.value,
            asset=move.asset,
            amount=str(move.amount),
            proposal=record.proposal_id,
        )

    # alerts

    def _alert(self, move: MoveRecord, halt: Halt, why: str) -> None:
        if self._alerter is None:
            return
        info = HALTS[halt]
        what = f"{move.kind.value.replace('_', ' ')} of {move.asset}"
        self._alerter.condition(
            AlertKind.REBALANCE_MOVE_HALTED,
            move.move_id,
            f"{what} {info.status.value}: {halt.value}",
            f"{info.what} ({why}). What to do: {info.action}",
            {"move_id": move.move_id, "asset": move.asset, "halt": halt.value},
        )

    def _cleared(self, move: MoveRecord) -> None:
        if self._alerter is not None:
            self._alerter.cleared(
                AlertKind.REBALANCE_MOVE_HALTED,
                move.move_id,
                f"{move.kind.value.replace('_', ' ')} of {move.asset} goes on",
                "",
            )

    def _now(self) -> int:
        return self._clock.now_ms()


def _same(record: ProposalRecord | None, proposal: Proposal) -> bool:
    """An open proposal that says about the same (direction, the hedges it unblocks, amount
    within SAME_AMOUNT): kept rather than replaced every cycle as prices and fills move the
    amount a little. A hedge newly blocked or freed is news for the operator: replaced."""
    if record is None:
        return False
    old = record.proposal
    if old.direction is not proposal.direction or old.unblocks != proposal.unblocks:
        return False
    return abs(old.amount - proposal.amount) <= SAME_AMOUNT * old.amount


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"
