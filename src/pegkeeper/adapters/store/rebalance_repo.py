"""The rebalancer's store in SQL (`ports.rebalancing.RebalanceRepository`): proposals, moves
and their step intents, signer nonces, execution switches, move costs, inventory snapshots.

Every write is one transaction (`Transactions.write`: the open unit of work's, when there is
one), fenced by the acting lease there. A write to a move takes the move's row first (locked
on PostgreSQL; SQLite holds its write lock), so two writers to one move take turns. The
database itself refuses what a racing writer already wrote: a second active or stuck move of
an asset (the partial unique index), a second intent for a step (unique per move and step).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store import rebalance_rows as rows
from pegkeeper.adapters.store.equity_ledger import dialect_insert
from pegkeeper.adapters.store.rebalance_moves import MoveWrites
from pegkeeper.adapters.store.rebalance_tables import (
    GLOBAL_SWITCH,
    rebalance_inventory_snapshots,
    rebalance_move_costs,
    rebalance_move_events,
    rebalance_moves,
    rebalance_proposals,
    rebalance_signer_nonces,
    rebalance_switches,
)
from pegkeeper.adapters.store.repositories import Transactions
from pegkeeper.domain.equities.move_records import (
    CostKind,
    InventorySnapshot,
    MoveCost,
    MoveEvent,
    MoveRecord,
    ProposalRecord,
    ProposalStatus,
)
from pegkeeper.domain.equities.moves import ExecutionSwitches, Halt, MoveStatus, MoveStep
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.errors import ConflictError, InvalidInput

_P, _M, _E = rebalance_proposals, rebalance_moves, rebalance_move_events
_N, _SW = rebalance_signer_nonces, rebalance_switches
_C, _I = rebalance_move_costs, rebalance_inventory_snapshots
_SUPERSEDED_BY = "pegkeeper"  # `decided_by` of a proposal a newer one replaced


class SqlRebalanceRepository(MoveWrites):
    def __init__(self, tx: Transactions) -> None:
        super().__init__(tx)

    # --- proposals ------------------------------------------------------------------------

    async def add_proposal(
        self, proposal_id: str, proposal: Proposal, now_ms: int
    ) -> ProposalRecord:
        if proposal.amount <= 0:
            raise InvalidInput(f"proposal {proposal_id}: amount must be > 0")
        row = {
            "proposal_id": proposal_id,
            "asset": proposal.asset,
            "direction": proposal.direction.value,
            "amount": proposal.amount,
            "reason": proposal.reason,
            "unblocks": rows.json_list(proposal.unblocks),
            "status": ProposalStatus.PROPOSED.value,
            "created_at_ms": now_ms,
            "decided_by": "",
            "decided_at_ms": None,
            "move_id": "",
        }
        supersede = (
            update(_P)
            .where(_P.c.asset == proposal.asset, _P.c.status == ProposalStatus.PROPOSED.value)
            .values(
                status=ProposalStatus.DISMISSED.value,
                decided_by=_SUPERSEDED_BY,
                decided_at_ms=now_ms,
            )
        )
        async with self._tx.write() as conn:
            if await rows.proposal_row(conn, proposal_id) is not None:
                raise ConflictError(f"proposal {proposal_id!r} is already recorded")
            await conn.execute(supersede)
            await conn.execute(insert(_P), row)
            stored = await rows.proposal_row(conn, proposal_id)
        assert stored is not None
        return rows.proposal_record(stored)

    async def proposal(self, proposal_id: str) -> ProposalRecord | None:
        async with self._tx.read() as conn:
            row = await rows.proposal_row(conn, proposal_id)
        return None if row is None else rows.proposal_record(row)

    async def proposals(
        self, statuses: Collection[ProposalStatus] = (), limit: int = 100
    ) -> list[ProposalRecord]:
        query = select(_P).order_by(_P.c.id.desc()).limit(max(limit, 0))
        if statuses:
            query = query.where(_P.c.status.in_([s.value for s in statuses]))
        async with self._tx.read() as conn:
            found = (await conn.execute(query)).all()
        return [rows.proposal_record(row) for row in found]

    async def approve_proposal(
        self, proposal_id: str, operator: str, now_ms: int
    ) -> ProposalRecord:
        return await self._decide(
            proposal_id, operator, now_ms, ProposalStatus.APPROVED, (ProposalStatus.PROPOSED,)
        )

    async def dismiss_proposal(
        self, proposal_id: str, operator: str, now_ms: int
    ) -> ProposalRecord:
        open_ = (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)
        return await self._decide(proposal_id, operator, now_ms, ProposalStatus.DISMISSED, open_)

    async def _decide(
        self,
        proposal_id: str,
        operator: str,
        now_ms: int,
        to: ProposalStatus,
        allowed_from: Sequence[ProposalStatus],
    ) -> ProposalRecord:
        if not operator:
            raise InvalidInput("an operator's decision needs the operator's name")
        async with self._tx.write() as conn:
            row = await rows.proposal_row(conn, proposal_id, lock=True)
            if row is None:
                raise InvalidInput(f"unknown proposal {proposal_id!r}")
            if ProposalStatus(row.status) not in allowed_from:
                raise ConflictError(
                    f"proposal {proposal_id} is {row.status}: it cannot be {to.value}"
                )
            await conn.execute(
                update(_P)
                .where(_P.c.proposal_id == proposal_id)
                .values(status=to.value, decided_by=operator, decided_at_ms=now_ms)
            )
            stored = await rows.proposal_row(conn, proposal_id)
        assert stored is not None
        return rows.proposal_record(stored)

    # --- reads of moves -------------------------------------------------------------------

    async def active_moves(self) -> list[MoveRecord]:
        holding = [s.value for s in MoveStatus if s.holds_asset]
        query = select(_M).where(_M.c.status.in_(holding)).order_by(_M.c.id)
        async with self._tx.read() as conn:
            return await rows.moves_with_steps(conn, query)

    async def move(self, move_id: str) -> MoveRecord | None:
        async with self._tx.read() as conn:
            found = await rows.moves_with_steps(conn, select(_M).where(_M.c.move_id == move_id))
        return found[0] if found else None

    async def move_history(
        self, limit: int = 100, before_ms: int | None = None
    ) -> list[MoveRecord]:
        query = select(_M).order_by(_M.c.created_at_ms.desc(), _M.c.id.desc())
        query = query.limit(max(limit, 0))
        if before_ms is not None:
            query = query.where(_M.c.created_at_ms < before_ms)
        async with self._tx.read() as conn:
            return await rows.moves_with_steps(conn, query)

    async def move_events(self, move_id: str) -> list[MoveEvent]:
        query = select(_E).where(_E.c.move_id == move_id).order_by(_E.c.id)
        async with self._tx.read() as conn:
            found = (await conn.execute(query)).all()
        return [
            MoveEvent(
                move_id=r.move_id,
                step=MoveStep(r.step),
                status=MoveStatus(r.status),
                message=r.message,
                created_at_ms=r.created_at_ms,
                halt=Halt(r.halt) if r.halt else None,
            )
            for r in found
        ]

    # --- nonces, switches, costs, snapshots -------------------------------------------------

    async def reserve_nonce(self, signer: str, chain_pending: int, now_ms: int) -> int:
        if chain_pending < 0:
            raise InvalidInput(f"the chain's pending nonce must be >= 0, not {chain_pending}")
        if not signer:
            raise InvalidInput("a nonce is reserved for a signer's address, not ''")
        async with self._tx.write() as conn:
            greatest = func.greatest if conn.dialect.name == "postgresql" else func.max
            statement = (
                dialect_insert(conn, _N)
                .values(signer=signer.lower(), next_nonce=chain_pending + 1, updated_at_ms=now_ms)
                .on_conflict_do_update(
                    index_elements=[_N.c.signer],
                    set_={
                        "next_nonce": greatest(_N.c.next_nonce, chain_pending) + 1,
                        "updated_at_ms": now_ms,
                    },
                )
                .returning(_N.c.next_nonce)
            )
            next_nonce = int((await conn.execute(statement)).scalar_one())
        return next_nonce - 1

    async def switches(self) -> ExecutionSwitches:
        async with self._tx.read() as conn:
            found = (await conn.execute(select(_SW.c.scope, _SW.c.enabled))).all()
        by_scope = {scope: bool(enabled) for scope, enabled in found}
        enabled_globally = by_scope.pop(GLOBAL_SWITCH, False)
        return ExecutionSwitches(enabled_globally, by_scope)

    async def set_switch(
        self, asset: str | None, enabled: bool, operator: str, now_ms: int
    ) -> ExecutionSwitches:
        if asset == GLOBAL_SWITCH:
            raise InvalidInput(f"{GLOBAL_SWITCH!r} is no asset: pass None for the global switch")
        if not operator:
            raise InvalidInput("a switch is turned by an operator: name them")
        values = {"enabled": enabled, "updated_by": operator, "updated_at_ms": now_ms}
        async with self._tx.write() as conn:
            statement = (
                dialect_insert(conn, _SW)
                .values(scope=asset or GLOBAL_SWITCH, **values)
                .on_conflict_do_update(index_elements=[_SW.c.scope], set_=values)
            )
            await conn.execute(statement)
        return await self.switches()

    async def record_cost(self, cost: MoveCost) -> None:
        row = asdict(cost) | {"step": cost.step.value, "kind": cost.kind.value}
        try:
            async with self._tx.write() as conn:
                await rows.move_row(conn, cost.move_id)
                await conn.execute(insert(_C), row)
        except IntegrityError:
            raise ConflictError(
                f"the {cost.kind.value} of move {cost.move_id} at {cost.step.value} is "
                "already recorded"
            ) from None

    async def costs(self, since_ms: int, until_ms: int) -> list[MoveCost]:
        query = (
            select(_C)
            .where(_C.c.created_at_ms >= since_ms, _C.c.created_at_ms < until_ms)
            .order_by(_C.c.created_at_ms, _C.c.id)
        )
        async with self._tx.read() as conn:
            found = (await conn.execute(query)).all()
        return [
            MoveCost(
                r.move_id,
                MoveStep(r.step),
                CostKind(r.kind),
                r.amount_usd,
                r.created_at_ms,
                r.detail,
            )
            for r in found
        ]

    async def record_inventory(self, snapshots: Sequence[InventorySnapshot]) -> None:
        if not snapshots:
            return
        async with self._tx.write() as conn:
            await conn.execute(insert(_I), [asdict(s) for s in snapshots])

    async def latest_inventory(self) -> list[InventorySnapshot]:
        newest = select(func.max(_I.c.id)).group_by(_I.c.asset)
        columns = [c for c in _I.c if c.name != "id"]
        query = select(*columns).where(_I.c.id.in_(newest)).order_by(_I.c.asset)
        async with self._tx.read() as conn:
            found = (await conn.execute(query)).all()
        return [InventorySnapshot(**r._asdict()) for r in found]
