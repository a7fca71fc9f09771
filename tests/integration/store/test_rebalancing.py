"""The rebalancer's store on SQLite and PostgreSQL: proposals and the operator's decisions,
one move per asset refused by the database itself, one intent per step, transitions checked
by the domain, nonces never handed out twice, the execution switches, costs and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.adapters.store.rebalance_tables import REBALANCE_TABLES, rebalance_moves
from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.move_records import (
    CostKind,
    IntentStatus,
    InventorySnapshot,
    MoveCost,
    NewMove,
    ProposalStatus,
)
from pegkeeper.domain.equities.moves import (
    Halt,
    InvalidTransition,
    MoveInFlight,
    MoveKind,
    MoveRoute,
    MoveStatus,
    MoveStep,
)
from pegkeeper.domain.equities.proposals import Proposal
from pegkeeper.domain.equities.transfers import SignedTx
from pegkeeper.domain.errors import ConflictError, InvalidInput
from pegkeeper.domain.leases import LeaseLost
from tests.integration.store.fencing_support import HeldLease, as_holder
from tests.integration.store.schema_support import downgrade_and_upgrade, schema_differences
from tests.waiting import until

D = Decimal
S = MoveStep
SIGNER = "0x" + "5a" * 20
DIRECT = MoveRoute()


def _proposal(asset: str = "AAPL", amount: str = "17") -> Proposal:
    return Proposal(
        asset, Direction.TO_BROKER, D(amount), "share 0.67 above 0.55", ("sell 60 AAPL",)
    )


def _move(
    move_id: str,
    asset: str = "AAPL",
    kind: MoveKind = MoveKind.REDEEM,
    proposal_id: str = "",
    route: MoveRoute = DIRECT,
) -> NewMove:
    return NewMove(move_id, kind, asset, D("17"), 1_000, route, proposal_id)


def _tx(n: int, nonce: int = 7, fee: int = 10) -> SignedTx:
    return SignedTx(f"0x{n:064x}", SIGNER, nonce, fee, f"0x{n:04x}f86c")


async def _confirm(store: SqlStore, move_id: str, step: MoveStep, n: int, at_ms: int) -> None:
    repo = store.rebalancing
    await repo.record_intent(move_id, step, at_ms, tx=_tx(n, nonce=n), amount_asked=D("17"))
    await repo.record_step_result(move_id, step, IntentStatus.SENT, at_ms + 1)
    await repo.record_step_result(
        move_id, step, IntentStatus.CONFIRMED, at_ms + 2, amount_received=D("17")
    )
    await repo.advance(move_id, step, at_ms + 3)


# --- the schema ------------------------------------------------------------------------------


async def test_the_migration_creates_the_tables_as_declared_and_downgrades(
    store: SqlStore,
) -> None:
    async with store.engine.begin() as conn:
        assert await conn.run_sync(schema_differences, REBALANCE_TABLES) == []
        without, again = await conn.run_sync(downgrade_and_upgrade, "0016")
    names = {t.name for t in REBALANCE_TABLES}
    assert not names & without and names <= again


# --- proposals -------------------------------------------------------------------------------


async def test_proposals_are_approved_or_dismissed_by_an_operator(store: SqlStore) -> None:
    repo = store.rebalancing
    first = await repo.add_proposal("p1", _proposal(), 100)
    assert (first.status, first.proposal, first.created_at_ms) == (
        ProposalStatus.PROPOSED,
        _proposal(),
        100,
    )
    approved = await repo.approve_proposal("p1", "alice", 110)
    assert (approved.status, approved.decided_by, approved.decided_at_ms) == (
        ProposalStatus.APPROVED,
        "alice",
        110,
    )
    with pytest.raises(ConflictError, match="proposal p1 is approved: it cannot be approved"):
        await repo.approve_proposal("p1", "bob", 120)
    dismissed = await repo.dismiss_proposal("p1", "bob", 130)
    assert (dismissed.status, dismissed.decided_by) == (ProposalStatus.DISMISSED, "bob")
    with pytest.raises(InvalidInput, match="unknown proposal 'p9'"):
        await repo.approve_proposal("p9", "alice", 1)
    with pytest.raises(InvalidInput, match="needs the operator's name"):
        await repo.dismiss_proposal("p1", "", 1)
    with pytest.raises(ConflictError, match="proposal 'p1' is already recorded"):
        await repo.add_proposal("p1", _proposal(), 140)


async def test_a_newer_proposal_supersedes_the_undecided_one_of_its_asset(
    store: SqlStore,
) -> None:
    repo = store.rebalancing
    await repo.add_proposal("p1", _proposal(), 100)
    await repo.add_proposal("c1", _proposal(CASH_ASSET, "1500"), 101)
    await repo.add_proposal("p2", _proposal(amount="18"), 102)
    by_id = {r.proposal_id: r for r in await repo.proposals()}
    assert by_id["p1"].status is ProposalStatus.DISMISSED
    assert by_id["p1"].decided_by == "pegkeeper"
    assert by_id["p2"].status is by_id["c1"].status is ProposalStatus.PROPOSED
    assert [r.proposal_id for r in await repo.proposals([ProposalStatus.PROPOSED])] == ["p2", "c1"]
    assert [r.proposal_id for r in await repo.proposals(limit=1)] == ["p2"]


# --- one move per asset ----------------------------------------------------------------------


async def test_a_second_move_of_an_asset_is_refused_until_the_first_ends(
    store: SqlStore,
) -> None:
    repo = store.rebalancing
    await repo.add_proposal("p1", _proposal(), 100)
    opened = await repo.open_move(_move("m1", proposal_id="p1"))
    assert (opened.step, opened.status) == (S.OPENED, MoveStatus.ACTIVE)
    proposal = await repo.proposal("p1")
    assert proposal is not None
    assert (proposal.status, proposal.move_id) == (ProposalStatus.EXECUTING, "m1")

    with pytest.raises(MoveInFlight, match="move m1 \\(active, opened\\) of AAPL has not ended"):
        await repo.open_move(_move("m2"))
    # another asset, and cash, have slots of their own
    await repo.open_move(_move("m3", asset="MSFT"))
    await repo.open_move(_move("c1", asset=CASH_ASSET, kind=MoveKind.CASH_HOME))
    with pytest.raises(MoveInFlight):
        await repo.open_move(_move("c2", asset=CASH_ASSET, kind=MoveKind.CASH_TO_CHAIN))

    # stuck keeps the slot; failed frees it
    await repo.mark_stuck("m1", Halt.TX_UNCONFIRMED, "no receipt after 15 min", 200)
    with pytest.raises(MoveInFlight, match="move m1 \\(stuck, opened\\)"):
        await repo.open_move(_move("m2"))
    await repo.fail("m1", Halt.TX_REVERTED, "reverted: insufficient balance", 300)
    await repo.open_move(_move("m2"))
    proposal = await repo.proposal("p1")
    assert proposal is not None and proposal.status is ProposalStatus.DONE
    assert [m.move_id for m in await repo.active_moves()] == ["m3", "c1", "m2"]
    with pytest.raises(ConflictError, match="move 'm2' is already recorded"):
        await repo.open_move(_move("m2", asset="TSLA"))


async def test_the_database_itself_refuses_a_second_active_move(store: SqlStore) -> None:
    row = {
        "kind": "mint",
        "asset": "AAPL",
        "amount": D("1"),
        "wrapped": True,
        "bridged": False,
        "step": "opened",
        "proposal_id": "",
        "halt": "",
        "error": "",
        "created_at_ms": 1,
        "updated_at_ms": 1,
        "step_at_ms": 1,
    }
    async with store.engine.begin() as conn:
        await conn.execute(insert(rebalance_moves), row | {"move_id": "a", "status": "active"})
        # ended moves of the asset do not count
        await conn.execute(insert(rebalance_moves), row | {"move_id": "b", "status": "failed"})
        await conn.execute(insert(rebalance_moves), row | {"move_id": "c", "status": "completed"})
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(insert(rebalance_moves), row | {"move_id": "d", "status": "stuck"})


@pytest.mark.postgres
async def test_two_concurrent_inserts_on_postgresql_leave_one_move() -> None:
    """Two transactions insert a move of the same asset; the second waits on the first's
    uncommitted row and is refused when it commits."""
    from tests.integration.conftest import postgres_database

    async with postgres_database() as url:
        first, second = await open_store(url), await open_store(url, migrate=False)
        try:
            async with first.transaction():
                await first.rebalancing.open_move(_move("a1"))
                racing = asyncio.create_task(second.rebalancing.open_move(_move("b1")))
                await _until_a_writer_waits_on_a_lock(first)
                assert not racing.done()
            with pytest.raises(MoveInFlight, match="move another of AAPL has not ended"):
                await racing
            assert [m.move_id for m in await second.rebalancing.active_moves()] == ["a1"]
        finally:
            await first.close()
            await second.close()


async def _until_a_writer_waits_on_a_lock(store: SqlStore) -> None:
    """Returns once another connection of the database waits for a lock (the racing insert
    on the unique index): it has passed its read, which found no move."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def waiting() -> bool:
        async with store.engine.connect() as conn:
            return bool((await conn.execute(query)).scalar_one())

    await until(waiting, "the second insert to wait on the first's row")


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    first = await open_store(database_url)
    second = await open_store(database_url, migrate=False)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_two_stores_racing_for_an_asset_open_one_move(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = (s.rebalancing for s in two_stores)
    for n in range(5):
        asset = f"S{n}"
        outcomes = await asyncio.gather(
            a.open_move(_move(f"a{n}", asset=asset)),
            b.open_move(_move(f"b{n}", asset=asset)),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["MoveInFlight", "MoveRecord"]
    assert sorted(m.asset for m in await a.active_moves()) == [f"S{n}" for n in range(5)]


# --- steps -----------------------------------------------------------------------------------


async def test_a_redeem_runs_through_its_steps_with_an_intent_before_each_request(
    store: SqlStore,
) -> None:
    repo = store.rebalancing
    await repo.open_move(_move("m1"))
    await _confirm(store, "m1", S.WITHDRAWN_FROM_VAULT, 1, 1_100)
    await _confirm(store, "m1", S.UNWRAPPED, 2, 1_200)
    await _confirm(store, "m1", S.SENT_TO_REDEMPTION, 3, 1_300)
    # matching is an observation: its row comes with its result
    matched = await repo.record_step_result(
        "m1", S.MATCHED, IntentStatus.CONFIRMED, 1_400, request_id="tok-9"
    )
    assert (matched.request_id, matched.tx_hash) == ("tok-9", "")
    await repo.advance("m1", S.MATCHED, 1_401)
    done = await repo.advance("m1", S.COMPLETED, 1_500)

    assert (done.step, done.status, done.step_at_ms) == (S.COMPLETED, MoveStatus.COMPLETED, 1_500)
    assert [s.step for s in done.steps] == [
        S.WITHDRAWN_FROM_VAULT,
        S.UNWRAPPED,
        S.SENT_TO_REDEMPTION,
        S.MATCHED,
    ]
    unwrapped = done.intent(S.UNWRAPPED)
    assert unwrapped is not None
    assert (unwrapped.tx_hash, unwrapped.nonce, unwrapped.signer) == (f"0x{2:064x}", 2, SIGNER)
    assert (unwrapped.raw_tx, unwrapped.amount_asked, unwrapped.amount_received) == (
        "0x0002f86c",
        D("17"),
        D("17"),
    )
    events = await repo.move_events("m1")
    assert [(e.step, e.status) for e in events] == [
        (S.OPENED, MoveStatus.ACTIVE),
        (S.WITHDRAWN_FROM_VAULT, MoveStatus.ACTIVE),
        (S.UNWRAPPED, MoveStatus.ACTIVE),
        (S.SENT_TO_REDEMPTION, MoveStatus.ACTIVE),
        (S.MATCHED, MoveStatus.ACTIVE),
        (S.COMPLETED, MoveStatus.COMPLETED),
    ]
    assert await repo.active_moves() == []
    assert [m.move_id for m in await repo.move_history()] == ["m1"]


async def test_one_intent_per_step_and_only_for_the_next_step(store: SqlStore) -> None:
    repo = store.rebalancing
    await repo.open_move(_move("m1", kind=MoveKind.MINT))
    with pytest.raises(InvalidTransition, match="its next step is requested, not wrapped"):
        await repo.record_intent("m1", S.WRAPPED, 10, tx=_tx(1))
    with pytest.raises(InvalidTransition, match="a mint has no step matched"):
        await repo.record_intent("m1", S.MATCHED, 10, request_id="x")
    with pytest.raises(InvalidInput, match="needs its request id or its signed transaction"):
        await repo.record_intent("m1", S.REQUESTED, 10)
    intent = await repo.record_intent("m1", S.REQUESTED, 10, request_id="issuer-m1")
    assert (intent.status, intent.request_id) == (IntentStatus.INTENDED, "issuer-m1")
    with pytest.raises(ConflictError, match="has its intent already: look its request up"):
        await repo.record_intent("m1", S.REQUESTED, 11, request_id="issuer-m1-again")
    # the step is not done until its intent is confirmed
    with pytest.raises(InvalidTransition, match="cannot reach requested with its intent intended"):
        await repo.advance("m1", S.REQUESTED, 12)
    with pytest.raises(InvalidInput, match="the wrapped step of move m1 has no intent"):
        await repo.record_step_result("m1", S.WRAPPED, IntentStatus.SENT, 12)
    with pytest.raises(InvalidTransition, match="its next step is requested, not accepted"):
        await repo.record_step_result("m1", S.ACCEPTED, IntentStatus.CONFIRMED, 12)
    await repo.record_step_result("m1", S.REQUESTED, IntentStatus.CONFIRMED, 13)
    with pytest.raises(InvalidInput, match="the requested step is confirmed already"):
        await repo.record_step_result("m1", S.REQUESTED, IntentStatus.FAILED, 14)
    with pytest.raises(InvalidTransition, match="the next step is requested, accepted would"):
        await repo.advance("m1", S.ACCEPTED, 14)
    moved = await repo.advance("m1", S.REQUESTED, 15)
    assert moved.step is S.REQUESTED
    with pytest.raises(InvalidTransition, match="the mint is at requested already"):
        await repo.advance("m1", S.REQUESTED, 16)


async def test_a_fee_bump_keeps_the_replaced_hash(store: SqlStore) -> None:
    repo = store.rebalancing
    await repo.open_move(_move("m1"))
    await repo.record_intent("m1", S.WITHDRAWN_FROM_VAULT, 10, tx=_tx(1, nonce=7, fee=10))
    await repo.record_step_result("m1", S.WITHDRAWN_FROM_VAULT, IntentStatus.SENT, 11)
    bumped = await repo.record_fee_bump("m1", S.WITHDRAWN_FROM_VAULT, _tx(2, 7, 20), 12)
    assert (bumped.tx_hash, bumped.replaced_tx_hashes) == (f"0x{2:064x}", (f"0x{1:064x}",))
    assert bumped.raw_tx == "0x0002f86c" and bumped.status is IntentStatus.SENT
    with pytest.raises(InvalidInput, match=r"replaces nonce 7 of 0x5a.*, not nonce 8"):
        await repo.record_fee_bump("m1", S.WITHDRAWN_FROM_VAULT, _tx(3, 8, 30), 13)


async def test_a_stuck_move_takes_its_late_answer_and_goes_on(store: SqlStore) -> None:
    repo = store.rebalancing
    await repo.open_move(_move("m1"))
    for n, step in enumerate((S.WITHDRAWN_FROM_VAULT, S.UNWRAPPED, S.SENT_TO_REDEMPTION)):
        await _confirm(store, "m1", step, n + 1, 100 * (n + 1))
    stuck = await repo.mark_stuck("m1", Halt.REDEEM_UNMATCHED, "no redeem after 4 h", 500)
    assert (stuck.status, stuck.halt, stuck.error) == (
        MoveStatus.STUCK,
        Halt.REDEEM_UNMATCHED,
        "no redeem after 4 h",
    )
    with pytest.raises(InvalidInput, match="mint_rejected is a failed state, not a stuck one"):
        await repo.mark_stuck("m1", Halt.MINT_REJECTED, "x", 501)
    await repo.record_step_result("m1", S.MATCHED, IntentStatus.CONFIRMED, 600, request_id="r")
    going = await repo.advance("m1", S.MATCHED, 601)
    assert (going.status, going.halt, going.error) == (MoveStatus.ACTIVE, None, "")
    await repo.advance("m1", S.COMPLETED, 700)
    with pytest.raises(InvalidTransition, match="the move is completed"):
        await repo.fail("m1", Halt.TX_REVERTED, "late", 800)
    events = await repo.move_events("m1")
    assert [(e.status, e.halt) for e in events[-3:]] == [
        (MoveStatus.STUCK, Halt.REDEEM_UNMATCHED),
        (MoveStatus.ACTIVE, None),
        (MoveStatus.COMPLETED, None),
    ]


async def test_a_stuck_move_asks_for_its_next_step_once_the_late_answer_allows(
    store: SqlStore,
) -> None:
    # stuck waiting for the bridge's attestation; once it comes, the mint's intent is stored
    repo = store.rebalancing
    route = MoveRoute(bridged=True)
    await repo.open_move(_move("c1", CASH_ASSET, MoveKind.CASH_HOME, route=route))
    for n, step in enumerate((S.WITHDRAWN_FROM_VAULT, S.BURNED)):
        await _confirm(store, "c1", step, n + 1, 100 * (n + 1))
    await repo.mark_stuck("c1", Halt.ATTESTATION_MISSING, "no attestation after 1 h", 300)
    with pytest.raises(InvalidTransition, match="its next step is bridged, not sent_to_broker"):
        await repo.record_intent("c1", S.SENT_TO_BROKER, 400, tx=_tx(4, nonce=4))
    mint = await repo.record_intent("c1", S.BRIDGED, 400, tx=_tx(3, nonce=3))
    assert mint.status is IntentStatus.INTENDED
    await repo.record_step_result("c1", S.BRIDGED, IntentStatus.CONFIRMED, 401)
    going = await repo.advance("c1", S.BRIDGED, 402)
    assert (going.status, going.step, going.halt) == (MoveStatus.ACTIVE, S.BRIDGED, None)


async def test_a_bridged_cash_move_keeps_its_route(store: SqlStore) -> None:
    repo = store.rebalancing
    route = MoveRoute(bridged=True)
    await repo.open_move(_move("c1", CASH_ASSET, MoveKind.CASH_TO_CHAIN, route=route))
    await repo.record_intent("c1", S.CONVERTED, 10, request_id="coid-1", amount_asked=D("500"))
    await repo.record_step_result(
        "c1", S.CONVERTED, IntentStatus.CONFIRMED, 11, amount_received=D("499.123456")
    )
    await repo.advance("c1", S.CONVERTED, 12)
    await repo.record_intent("c1", S.WITHDRAWN, 13, request_id="pending", amount_asked=D("499"))
    await repo.record_step_result(
        "c1", S.WITHDRAWN, IntentStatus.CONFIRMED, 14, request_id="wt-1", tx_hash="0xABC"
    )
    moved = await repo.advance("c1", S.WITHDRAWN, 15)
    withdrawn = moved.intent(S.WITHDRAWN)
    assert withdrawn is not None and (withdrawn.request_id, withdrawn.tx_hash) == ("wt-1", "0xabc")
    assert moved.route == route and moved.plan.next_step(S.WITHDRAWN) is not None
    with pytest.raises(InvalidTransition, match="its next step is burned, not deposited"):
        await repo.record_intent("c1", S.DEPOSITED, 16, tx=_tx(5))


# --- nonces ----------------------------------------------------------------------------------


async def test_nonces_follow_the_store_or_the_chain_whichever_is_ahead(store: SqlStore) -> None:
    repo = store.rebalancing
    assert await repo.reserve_nonce(SIGNER, 5, 1) == 5  # first use: the chain's pending
    assert await repo.reserve_nonce(SIGNER, 5, 2) == 6  # the node has not seen 5 yet
    assert await repo.reserve_nonce(SIGNER.upper().replace("0X", "0x"), 0, 3) == 7
    assert await repo.reserve_nonce(SIGNER, 12, 4) == 12  # another wallet sent up to 11
    assert await repo.reserve_nonce("0x" + "77" * 20, 0, 5) == 0
    # the same key on the broker wallet's chain counts its own nonces
    assert await repo.reserve_nonce(f"{SIGNER}@domain-0", 0, 5) == 0
    with pytest.raises(InvalidInput, match="pending nonce must be >= 0"):
        await repo.reserve_nonce(SIGNER, -1, 6)


async def test_concurrent_reservations_never_share_a_nonce(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    a, b = (s.rebalancing for s in two_stores)
    got = await asyncio.gather(
        *(repo.reserve_nonce(SIGNER, 3, n) for n in range(10) for repo in (a, b))
    )
    assert sorted(got) == list(range(3, 23))


# --- switches, costs, snapshots ----------------------------------------------------------------


async def test_execution_is_off_until_enabled_globally_and_for_the_asset(store: SqlStore) -> None:
    repo = store.rebalancing
    assert not (await repo.switches()).allows("AAPL")
    await repo.set_switch("AAPL", True, "alice", 1)
    assert not (await repo.switches()).allows("AAPL")
    switches = await repo.set_switch(None, True, "alice", 2)
    assert switches.allows("AAPL") and not switches.allows(CASH_ASSET)
    switches = await repo.set_switch(None, False, "bob", 3)
    assert not switches.allows("AAPL") and switches.by_asset == {"AAPL": True}
    with pytest.raises(InvalidInput, match="pass None for the global switch"):
        await repo.set_switch("*", True, "alice", 4)


async def test_costs_are_kept_once_per_step_and_kind(store: SqlStore) -> None:
    repo = store.rebalancing
    await repo.open_move(_move("m1"))
    gas = MoveCost("m1", S.WITHDRAWN_FROM_VAULT, CostKind.GAS, D("0.42"), 100, "21000 gas")
    fee = MoveCost("m1", S.MATCHED, CostKind.FEE, D("1.50"), 200)
    await repo.record_cost(gas)
    await repo.record_cost(fee)
    with pytest.raises(ConflictError, match="the gas of move m1 at withdrawn_from_vault"):
        await repo.record_cost(gas)
    with pytest.raises(InvalidInput, match="unknown move 'm9'"):
        await repo.record_cost(MoveCost("m9", S.MATCHED, CostKind.FEE, D("1"), 1))
    assert await repo.costs(0, 1_000) == [gas, fee]
    assert await repo.costs(150, 1_000) == [fee]


async def test_the_latest_snapshot_of_each_asset(store: SqlStore) -> None:
    repo = store.rebalancing

    def snap(asset: str, onchain: str, at_ms: int) -> InventorySnapshot:
        share = D(onchain) / 100
        return InventorySnapshot(
            asset, D(onchain), 100 - D(onchain), D(0), share, D("0.5"), D("0.05"), 7, at_ms, at_ms
        )

    await repo.record_inventory([snap("AAPL", "60", 1), snap(CASH_ASSET, "50", 1)])
    await repo.record_inventory([snap("AAPL", "55", 2)])
    assert await repo.latest_inventory() == [snap("AAPL", "55", 2), snap(CASH_ASSET, "50", 1)]


# --- fencing ---------------------------------------------------------------------------------


async def test_writes_under_a_lease_taken_over_are_refused(store: SqlStore) -> None:
    old = await store.leases.acquire("rebalancer", "host-a:1", 1_000)
    assert old is not None
    await as_holder(HeldLease(old), lambda: store.rebalancing.open_move(_move("m1")))
    await asyncio.sleep(1.1)
    new = await store.leases.acquire("rebalancer", "host-b:2", 60_000)
    assert new is not None
    with pytest.raises(LeaseLost):
        await as_holder(
            HeldLease(old),
            lambda: store.rebalancing.record_intent("m1", S.WITHDRAWN_FROM_VAULT, 5, tx=_tx(1)),
        )
    with pytest.raises(LeaseLost):
        await as_holder(HeldLease(old), lambda: store.rebalancing.reserve_nonce(SIGNER, 0, 5))
    move = await store.rebalancing.move("m1")
    assert move is not None and move.steps == ()
    assert (
        await as_holder(HeldLease(new), lambda: store.rebalancing.reserve_nonce(SIGNER, 0, 6)) == 0
    )
