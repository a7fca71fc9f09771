"""What operators see of inventory rebalancing (specs/equities.md, "Rebalancing"): each asset's
inventory on both sides against its target band, the open proposals, the moves in flight and
stuck with their steps (a halted one with what happened and what to do), the move history with
each move's costs, the execution switches, and every chain transaction and broker request of
the moves for the transfers page.

Everything is read from the rebalancer's store (ports.rebalancing.RebalanceRepository), the
truth, so the view is the same in any process that shares the database; who turned a switch
comes from the operator actions' audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import (
    InventorySnapshot,
    MoveCost,
    MoveEvent,
    MoveRecord,
    ProposalRecord,
    ProposalStatus,
    StepIntent,
)
from pegkeeper.domain.equities.moves import (
    HALTS,
    ExecutionSwitches,
    MoveStatus,
    MoveStep,
    StepTimeouts,
)
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind
from pegkeeper.ports import Clock, OperatorActionRepository, RebalanceRepository

EVERY_ASSET = "all"  # the audit target of the global execution switch
MAX_HISTORY = 500
OPEN_PROPOSALS = (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)
DECISIONS = (OperatorActionKind.APPROVE_REBALANCE, OperatorActionKind.DISMISS_REBALANCE)
_COSTS_UNTIL_MS = 2**62  # costs are read from a move's start on, with no upper bound
ZERO = Decimal(0)


class UnknownMove(LookupError):
    def __init__(self, move_id: str) -> None:
        super().__init__(f"no rebalancing move {move_id!r}")


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One asset's newest snapshot with its band: shares for a stock, USD for cash."""

    snapshot: InventorySnapshot

    @property
    def asset(self) -> str:
        return self.snapshot.asset

    @property
    def band_low(self) -> Decimal:
        return self.snapshot.target - self.snapshot.deviation

    @property
    def band_high(self) -> Decimal:
        return self.snapshot.target + self.snapshot.deviation

    @property
    def outside_band(self) -> bool | None:
        """None with nothing on either side (no share to compare)."""
        share = self.snapshot.onchain_share
        if share is None:
            return None
        return not self.band_low <= share <= self.band_high

    @property
    def off_target(self) -> Decimal | None:
        """onchain share - target: positive with too much onchain."""
        share = self.snapshot.onchain_share
        return None if share is None else share - self.snapshot.target


@dataclass(frozen=True, slots=True)
class MoveRow:
    """A move with what an operator needs beside its record: the halt explained, the step
    it waits for and until when, its costs."""

    record: MoveRecord
    costs: tuple[MoveCost, ...] = ()
    waiting_for: MoveStep | None = None  # the next step (None once the move ended)
    deadline_ms: int | None = None  # when that step overruns its timeout
    overdue: bool = False

    @property
    def halt_what(self) -> str:
        halt = self.record.halt
        return HALTS[halt].what if halt is not None else ""

    @property
    def halt_action(self) -> str:
        halt = self.record.halt
        return HALTS[halt].action if halt is not None else ""

    @property
    def cost_usd(self) -> Decimal:
        return sum((c.amount_usd for c in self.costs), ZERO)


@dataclass(frozen=True, slots=True)
class SwitchRow:
    """One execution switch: the global one (asset EVERY_ASSET) or an asset's."""

    asset: str
    enabled: bool
    executes: bool  # whether pegkeeper executes this asset's proposals by itself
    by: str = ""  # the operator who last turned it, from the audit trail
    since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A chain transaction or a broker request of a move: one step's intent and result."""

    move: MoveRecord
    intent: StepIntent


@dataclass(frozen=True, slots=True)
class RebalancingOverview:
    now_ms: int
    inventory: list[InventoryRow]
    proposals: list[ProposalRecord]
    active: list[MoveRow]
    stuck: list[MoveRow]
    history: list[MoveRow]
    next_before_ms: int | None  # the next history page: moves created before this
    switches: list[SwitchRow]


@dataclass(frozen=True, slots=True)
class MoveDetail:
    row: MoveRow
    events: list[MoveEvent]
    decisions: list[OperatorAction]  # operators' approvals and dismissals of its proposal


@dataclass
class RebalancingView:
    repository: RebalanceRepository
    clock: Clock
    actions: OperatorActionRepository | None = None  # who turned the switches
    configured: Sequence[str] = ()  # the assets rebalanced (symbols and CASH_ASSET)
    timeouts: StepTimeouts = field(default_factory=StepTimeouts)

    async def known_assets(self) -> list[str]:
        """The configured assets and those with a snapshot, stocks by name, cash last."""
        seen = {s.asset for s in await self.repository.latest_inventory()}
        return sorted(set(self.configured) | seen, key=_asset_order)

    async def inventory(self) -> list[InventoryRow]:
        snapshots = await self.repository.latest_inventory()
        return [InventoryRow(s) for s in sorted(snapshots, key=lambda s: _asset_order(s.asset))]

    async def open_proposals(self, limit: int = 100) -> list[ProposalRecord]:
        return await self.repository.proposals(OPEN_PROPOSALS, limit)

    async def overview(
        self, history_limit: int = 20, before_ms: int | None = None
    ) -> RebalancingOverview:
        _check_limit(history_limit)
        now_ms = self.clock.now_ms()
        holding = await self.repository.active_moves()
        history = await self.repository.move_history(history_limit, before_ms)
        rows = await self._rows([*holding, *history], now_ms)
        by_id = {row.record.move_id: row for row in rows}
        next_before = history[-1].created_at_ms if len(history) == history_limit else None
        return RebalancingOverview(
            now_ms=now_ms,
            inventory=await self.inventory(),
            proposals=await self.open_proposals(),
            active=[by_id[m.move_id] for m in holding if m.status is MoveStatus.ACTIVE],
            stuck=[by_id[m.move_id] for m in holding if m.status is MoveStatus.STUCK],
            history=[by_id[m.move_id] for m in history],
            next_before_ms=next_before,
            switches=await self.switches(),
        )

    async def move(self, move_id: str) -> MoveDetail:
        record = await self.repository.move(move_id)
        if record is None:
            raise UnknownMove(move_id)
        (row,) = await self._rows([record], self.clock.now_ms())
        decisions: list[OperatorAction] = []
        if self.actions is not None and record.proposal_id:
            for kind in DECISIONS:
                decisions += await self.actions.on_targets(kind, [record.proposal_id])
        decisions.sort(key=lambda a: a.created_at_ms)
        return MoveDetail(row, await self.repository.move_events(move_id), decisions)

    async def transfers(self, moves_limit: int = 50) -> list[Transfer]:
        """Every step of the newest moves that sent a transaction or a request, newest
        first: what left or reached the chain and the broker, with hashes and amounts."""
        _check_limit(moves_limit)
        found = [
            Transfer(move, intent)
            for move in await self.repository.move_history(moves_limit)
            for intent in move.steps
            if intent.tx_hash or intent.request_id
        ]
        return sorted(found, key=lambda t: t.intent.created_at_ms, reverse=True)

    async def switches(self) -> list[SwitchRow]:
        state = await self.repository.switches()
        assets = sorted(set(await self.known_assets()) | set(state.by_asset), key=_asset_order)
        last = await self._last_turned([EVERY_ASSET, *assets])
        rows = [_switch(EVERY_ASSET, state.enabled_globally, state.enabled_globally, last)]
        rows += [
            _switch(asset, state.by_asset.get(asset, False), state.allows(asset), last)
            for asset in assets
        ]
        return rows

    async def execution_state(self) -> ExecutionSwitches:
        return await self.repository.switches()

    async def _last_turned(self, targets: list[str]) -> dict[str, OperatorAction]:
        if self.actions is None:
            return {}
        kind = OperatorActionKind.SET_REBALANCE_EXECUTION
        actions = await self.actions.on_targets(kind, targets)  # oldest first: the last wins
        return {a.target: a for a in actions}

    async def _rows(self, records: Sequence[MoveRecord], now_ms: int) -> list[MoveRow]:
        unique = {r.move_id: r for r in records}
        costs = await self._costs_of(list(unique.values()))
        return [self._row(r, tuple(costs.get(r.move_id, ())), now_ms) for r in unique.values()]

    async def _costs_of(self, records: Sequence[MoveRecord]) -> dict[str, list[MoveCost]]:
        if not records:
            return {}
        since_ms = min(r.created_at_ms for r in records)
        wanted = {r.move_id for r in records}
        by_move: dict[str, list[MoveCost]] = {}
        for cost in await self.repository.costs(since_ms, _COSTS_UNTIL_MS):
            if cost.move_id in wanted:
                by_move.setdefault(cost.move_id, []).append(cost)
        return by_move

    def _row(self, record: MoveRecord, costs: tuple[MoveCost, ...], now_ms: int) -> MoveRow:
        if record.status.is_final:
            return MoveRow(record, costs)
        following = record.plan.next_step(record.step)
        if following is None:
            return MoveRow(record, costs)
        deadline_ms = record.step_at_ms + self.timeouts.of(following)
        return MoveRow(record, costs, following.step, deadline_ms, now_ms > deadline_ms)


def _switch(
    asset: str, enabled: bool, executes: bool, last: dict[str, OperatorAction]
) -> SwitchRow:
    action = last.get(asset)
    if action is None:
        return SwitchRow(asset, enabled, executes)
    return SwitchRow(asset, enabled, executes, action.operator, action.created_at_ms)


def _asset_order(asset: str) -> tuple[bool, str]:
    return (asset == CASH_ASSET, asset)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput(f"limit must be 1 to {MAX_HISTORY}, got {limit}")
