"""Crash injection for the rebalancer: wrappers around the repository, signer and broker a
process is given (harness.Tap) that name every write a move makes and every request it sends
out, before and after it; one records the points of a move, another raises `Crash` at one of
them, and the process is then abandoned.

A point is named `<kind>-<before|after>-<what>-<step>[-<n>]`: `what` is the repository write
(open, intent, result-<status>, advance, nonce, bump, stuck, fail) or the outside request
(send, request_mint, convert, withdraw_usdc); `step` the step being looked at; `n` counts a
point met more than once (a step confirmed by its transaction, then by the move).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import MoveRecord, ProposalStatus
from pegkeeper.domain.equities.moves import MoveKind, MoveStatus
from tests.anvil_chain import (
    anvil_path,
    compiled_contracts,
    running_anvil,
    solcjs_path,
)
from tests.integration.rebalancing.harness import (
    LONG_ONCHAIN,
    SHORT_ONCHAIN,
    Desk,
    open_desk,
)

WATCHED = {
    "repository": frozenset(
        {
            "open_move",
            "record_intent",
            "record_step_result",
            "advance",
            "reserve_nonce",
            "record_fee_bump",
            "mark_stuck",
            "fail",
        }
    ),
    "signer": frozenset({"send"}),
    "broker": frozenset({"request_mint", "convert", "withdraw_usdc"}),
}
REQUESTS = WATCHED["signer"] | WATCHED["broker"]
_WRITE_NAMES = {
    "open_move": "open",
    "record_intent": "intent",
    "advance": "advance",
    "reserve_nonce": "nonce",
    "record_fee_bump": "bump",
    "mark_stuck": "stuck",
    "fail": "fail",
}
ASSET = {
    MoveKind.MINT: "AAPL",
    MoveKind.REDEEM: "AAPL",
    MoveKind.CASH_TO_CHAIN: CASH_ASSET,
    MoveKind.CASH_HOME: CASH_ASSET,
}
HOLDINGS = {
    MoveKind.MINT: SHORT_ONCHAIN,
    MoveKind.REDEEM: LONG_ONCHAIN,
    MoveKind.CASH_TO_CHAIN: SHORT_ONCHAIN,
    MoveKind.CASH_HOME: LONG_ONCHAIN,
}


class Crash(Exception):
    """The process dies here: nothing after this point of it happens."""


class Tapper:
    """Names the points a process passes; `crash_at` (a point's name) raises Crash there,
    once. Requests sent out are counted by `what-step` in `requests`, across processes when
    the same tapper taps them."""

    def __init__(self, kind: MoveKind, crash_at: str = "") -> None:
        self.kind = kind
        self.crash_at = crash_at
        self.points: list[str] = []
        self.requests: Counter[str] = Counter()
        self.crashed = False
        self._seen: Counter[str] = Counter()
        self._step = ""

    def tap(self, role: str, real: Any) -> Any:
        if role == "steps":
            return _Steps(real, self)
        if role in WATCHED:
            return _Watched(real, role, self)
        return real

    def fresh(self) -> Tapper:
        """A tapper for the next process: it counts requests with this one, crashes nowhere."""
        after = Tapper(self.kind)
        after.requests = self.requests
        return after

    def looking_at(self, step: str) -> None:
        self._step = step

    def passed(self, phase: str, method: str, args: tuple[Any, ...]) -> None:
        what = self._what(method, args)
        self._seen[(phase, what)] += 1  # type: ignore[index]
        n = self._seen[(phase, what)]  # type: ignore[index]
        point = f"{self.kind.value}-{phase}-{what}" + (f"-{n}" if n > 1 else "")
        self.points.append(point)
        if point == self.crash_at and not self.crashed:
            self.crashed = True
            raise Crash(point)
        if phase == "before" and method in REQUESTS:
            self.requests[what] += 1

    def _what(self, method: str, args: tuple[Any, ...]) -> str:
        if method == "record_step_result":
            return f"result-{args[1]}-{args[2]}"
        if method in ("record_intent", "advance", "record_fee_bump"):
            return f"{_WRITE_NAMES[method]}-{args[1]}"
        if method == "open_move":
            return "open"
        return f"{_WRITE_NAMES.get(method, method)}-{self._step}"


class _Watched:
    def __init__(self, real: Any, role: str, tapper: Tapper) -> None:
        self._real = real
        self._watched = WATCHED[role]
        self._tapper = tapper

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._watched:
            return attr

        async def watched(*args: Any, **kwargs: Any) -> Any:
            self._tapper.passed("before", name, args)
            result = await attr(*args, **kwargs)
            self._tapper.passed("after", name, args)
            return result

        return watched


class _Steps:
    """The move steps, telling the tapper which step is being looked at."""

    def __init__(self, real: Any, tapper: Tapper) -> None:
        self._real = real
        self._tapper = tapper

    async def look(self, move: MoveRecord, step: Any, busy: bool) -> Any:
        self._tapper.looking_at(str(step))
        return await self._real.look(move, step, busy)


async def approve_move(desk: Desk, kind: MoveKind) -> str:
    """One cycle (the proposals), then the operator approves the asset's: its id."""
    await desk.rebalancer.cycle()
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    (record,) = [p for p in proposals if p.proposal.asset == ASSET[kind]]
    assert record.proposal.kind is kind, record.proposal
    await desk.store.rebalancing.approve_proposal(record.proposal_id, "ops", 1)
    return record.proposal_id


async def move_of(desk: Desk, proposal_id: str) -> MoveRecord | None:
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None
    return await desk.store.rebalancing.move(record.move_id) if record.move_id else None


def move_ended(desk: Desk, proposal_id: str) -> Callable[[], Awaitable[bool]]:
    async def ended() -> bool:
        move = await move_of(desk, proposal_id)
        return move is not None and move.status is not MoveStatus.ACTIVE

    return ended


async def record_points(world: RaindexWorld, store: SqlStore, kind: MoveKind) -> list[str]:
    """Every point one move of `kind` passes from its approval to its end."""
    tapper = Tapper(kind)
    desk = await open_desk(world, store, HOLDINGS[kind], tap=tapper.tap)
    try:
        proposal_id = await approve_move(desk, kind)
        await desk.cycles(move_ended(desk, proposal_id))
        move = await move_of(desk, proposal_id)
        assert move is not None and move.status is MoveStatus.COMPLETED, move
    finally:
        await desk.close()
    return tapper.points


async def record_all_points(kinds: tuple[MoveKind, ...]) -> dict[MoveKind, list[str]]:
    """The points of each kind, on an anvil and a SQLite store of their own."""
    anvil, solcjs = anvil_path(), solcjs_path()
    assert anvil is not None and solcjs is not None
    with running_anvil(anvil) as node, tempfile.TemporaryDirectory() as directory:
        world = RaindexWorld(node.url, compiled_contracts(solcjs))
        await world.start()
        points = {}
        try:
            for kind in kinds:
                store = await open_store(f"sqlite+aiosqlite:///{Path(directory) / kind.value}.db")
                try:
                    points[kind] = await record_points(world, store, kind)
                finally:
                    await store.close()
        finally:
            await world.close()
    return points
