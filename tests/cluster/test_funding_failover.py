"""The funding manager and its standbys as separate processes on PostgreSQL, the OKX simulator
as the venue, a hedger following users who move the liability, so that the collateral the
hedge needs keeps changing: transfers between the funding and trading accounts, withdrawals
home, deposits from the operator's wallet (the simulator's, served as a Bitcoin Core node's).
The active funding manager is killed (kill -9) at points of its money path and at random
moments, again and again; a standby takes over each time. Afterwards: no transfer or
withdrawal reached the venue twice and no deposit was sent twice by the wallet, every one the
venue or the wallet saw is in the store, every deposit the exchange credited is a deposit done
in the store, every operation ended with an explanation, and the funding account and the
wallet hold what the operations recorded as done add up to. A funding manager paused longer
than its lease and then woken sends nothing.

A deposit whose process died before its send is held for an operator once the wallet has
shown no send for the deposit lookup window (never sent again: the node might still make it).
Here the test is that operator: it checks the node never received the send and settles it as
not sent through the web process's operator action (which asks the wallet once more, records
the action and fails the deposit in one transaction)."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.collateral import OperationKind, OperationRecord, OperationState
from pegkeeper.domain.operator import OperatorActionKind, OperatorResult
from tests.cluster.flow import LiabilityFlow
from tests.cluster.sim_exchange import WALLET_START_BTC, start_fast_sim_exchange, wallet_env
from tests.cluster.support import LEASE_TTL_SECONDS, Cluster, Process, cluster_of, tail
from tests.integration.conftest import postgres_database
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

KILLS = int(os.environ.get("PEGKEEPER_FUNDING_KILLS", "3"))
POINTS = ("before-request", "after-request", "anywhere")
LEASE = "funding:BTC"
HOME = "bc1qoperatorcoldwallet0000000000000000000"  # where withdrawals go
FUNDING_START_BTC = Decimal(1)  # the simulator's funding account at start
DEPOSIT_FEE_BTC = Decimal("0.00000705")  # 141 vB at 5 sat/vB, the simulated chain's payment
FUNDING = (
    "[funding]\ncheck_interval_seconds = 0.5\n"
    # lengthened past the lease and the request timeout (2 s, cluster support's [venue])
    "lookup_window_seconds = 1.0\n"
    # the wallet's timeout and a little: the simulated node answers at once
    'deposit_lookup_window_seconds = 3.0\ndeposit_fee_rate_sat_vb = "5"\n'
    f'withdrawal_address = "{HOME}"\n'
    '[funding.wallet]\nkind = "bitcoind"\nbitcoind_wallet = "pegkeeper"\ntimeout_seconds = 2.0\n'
)
EVERY_WAY = {
    OperationKind.TRANSFER_TO_FUNDING,
    OperationKind.TRANSFER_TO_TRADING,
    OperationKind.WITHDRAWAL,
    OperationKind.DEPOSIT,
}
TERMINAL = (OperationState.DONE, OperationState.FAILED, OperationState.LOST, OperationState.REFUSED)
OPERATOR_TOKEN = "treasury-token-0123456789abcdef"
NOTE = "the node never received its send"
OPERATOR = f"not sent, settled by treasury: {NOTE}"  # the message of a deposit it settled


def _funding(cluster: Cluster, point: str, occurrence: int) -> Process:
    env = {} if point == "anywhere" else {"PEGKEEPER_PAUSE_AT": f"{point}:{occurrence}"}
    return cluster.start("funding", env=env)


def _funding_processes(cluster: Cluster) -> list[Process]:
    return [p for p in cluster.processes if p.name.startswith("funding") and p.alive()]


def _cluster_of(
    tmp_path: Path, url: str, trading_btc: str = "2", funding_btc: str = "1"
) -> AbstractContextManager[Cluster]:
    """A cluster on the fast simulator with these balances at start, serving the wallet."""
    start_sim = functools.partial(
        start_fast_sim_exchange, trading_btc=Decimal(trading_btc), funding_btc=Decimal(funding_btc)
    )
    return cluster_of(tmp_path, url, start_sim, FUNDING)


def _start_dealer(cluster: Cluster) -> str:
    """The operator's token and the wallet's address in every process of the cluster, and
    the web process (with the hedger) started; returns its HTTP address."""
    cluster.env = wallet_env(cluster.sim_url) | {
        "PEGKEEPER_WEB__OPERATOR_TOKENS": f"treasury:{OPERATOR_TOKEN}"
    }
    dealer = cluster.start("web", "hedger")
    cluster.wait_http(dealer)
    return dealer.http_url


def _web(cluster: Cluster) -> str:
    return next(p.http_url for p in cluster.processes if p.name.startswith("web"))


async def _release_held(cluster: Cluster, store: SqlStore) -> None:
    """The operator's part: every deposit held because the wallet showed no send is checked
    against what the node received, and settled as not sent through the web process (the
    funding manager then decides anew)."""
    held = [r for r in await store.funding.open_operations() if r.state is OperationState.HELD]
    if not held:
        return
    sends = cluster.wallet_sends()
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with httpx.AsyncClient(base_url=_web(cluster), timeout=10, headers=headers) as client:
        for record in held:
            operation_id = record.operation.operation_id
            assert operation_id not in sends, (record, sends)  # held though the node has it
            answer = await client.post(
                f"/api/v1/funding/operations/{operation_id}/settle",
                json={"outcome": "not-sent", "note": NOTE},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["operation"]["state"] == "failed", answer.text


async def _moved_every_way(cluster: Cluster, store: SqlStore) -> bool:
    """Whether operations of every kind are done; a process paused at its point meanwhile is
    killed there, as the campaign does, so that its standby goes on."""
    for process in _funding_processes(cluster):
        if process.stopped():
            process.kill()
    await _release_held(cluster, store)
    operations = await store.funding.recent_operations(10_000)
    done = {o.operation.kind for o in operations if o.state is OperationState.DONE}
    return done >= EVERY_WAY


async def _holder(store: SqlStore) -> str:
    lease = await store.leases.current(LEASE)
    return "" if lease is None else lease.holder.rpartition(":")[0]


def _holds(store: SqlStore, process: Process):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await _holder(store) == process.name

    return check


async def _started(process: Process) -> None:
    await until(lambda: "venue ready" in process.output(), f"{process.name} started", 90)


async def _ready_standbys(cluster: Cluster, count: int) -> None:
    """Funding processes started beforehand, so that a standby is always up when its holder
    dies (a process takes seconds to start)."""

    def started() -> int:
        return sum("venue ready" in p.output() for p in _funding_processes(cluster))

    await until(lambda: started() >= count, f"{count} funding processes up", 120)


async def _kill_the_holder(
    cluster: Cluster, store: SqlStore, point: str, rng: random.Random
) -> Process:
    """Kills the active funding manager where it paused at its point, or, for "anywhere", at
    a random moment of its activity (one that paused meanwhile is killed where it paused)."""
    running = _funding_processes(cluster)
    if point == "anywhere":
        names = {p.name for p in running}

        async def held() -> bool:
            return await _holder(store) in names

        await until(held, "a funding process holding the lease", 60)
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        name = await _holder(store)
        victim = next((p for p in running if p.stopped()), None)
        victim = victim or next(p for p in running if p.name == name)
    else:

        async def paused() -> bool:
            await _release_held(cluster, store)  # a held deposit keeps money from going out
            return any(p.stopped() for p in running)

        # the new holder first looks up what its predecessor left in doubt, then needs the
        # users' flow to call for money: minutes on a loaded two-core machine
        await until(paused, f"a funding paused at {point}", 240)
        victim = next(p for p in running if p.stopped())
    victim.kill()
    return victim


async def test_kill_9_of_the_active_funding_manager_again_and_again(tmp_path: Path) -> None:
    rng = random.Random(20261208)
    async with postgres_database() as url:
        with _cluster_of(tmp_path, url) as cluster:
            dealer_url = _start_dealer(cluster)
            store = await open_store(url, migrate=False)
            flow = LiabilityFlow(dealer_url, seed=5)
            try:
                for _ in range(3):  # the holder and two standbys
                    _funding(cluster, rng.choice(POINTS[:2]), rng.randint(1, 2))
                await _ready_standbys(cluster, 3)
                flow.start()
                for round_ in range(KILLS):
                    await _ready_standbys(cluster, 2)
                    point = rng.choice(POINTS)
                    victim = await _kill_the_holder(cluster, store, point, rng)
                    _funding(cluster, rng.choice(POINTS[:2]), rng.randint(1, 2))
                    assert not victim.alive(), f"round {round_}"
                # a holder without pause points goes on while the users move the liability,
                # until money has moved both ways between the accounts, and home
                _funding(cluster, "anywhere", 0)
                await until(
                    lambda: _moved_every_way(cluster, store),
                    "transfers both ways, a withdrawal and a deposit",
                    180,
                )
                flow.stop()
                settled = await _check_the_records(cluster, store, FUNDING_START_BTC)
                done = [o for o in settled.operations if o.state is OperationState.DONE]
                assert {o.operation.kind for o in done} >= EVERY_WAY
            finally:
                flow.stop()
                await store.close()
                for process in cluster.processes:
                    process.wake()


def _print_timeline(operations: list[OperationRecord]) -> None:
    """The operations in the order they were made (pytest shows it when a test fails)."""
    ordered = sorted(operations, key=lambda o: o.operation.created_at_ms)
    start_ms = ordered[0].operation.created_at_ms if ordered else 0
    for record in ordered:
        op = record.operation
        made_s = (op.created_at_ms - start_ms) / 1000
        ended_s = (record.updated_at_ms - start_ms) / 1000
        print(f"{made_s:7.1f} s {op.kind.value:<20} {op.amount:>12} -> {ended_s:7.1f} s", end=" ")
        print(f"{record.state.value}: {record.message}")


@dataclass(frozen=True)
class Settled:
    """The store's operations, all ended, and what the venue saw while none began."""

    operations: list[OperationRecord]
    funding_balance: Decimal  # the venue's funding account
    transfers: dict[str, int]  # requests by client id
    withdrawals: dict[str, int]
    sends: dict[str, int]  # the wallet's sendtoaddress requests, by comment (a client id)
    wallet: dict[str, Any]  # the wallet's balance and payments, the exchange's deposits

    @property
    def requests(self) -> dict[str, int]:
        return {**self.transfers, **self.withdrawals, **self.sends}


async def _settled(cluster: Cluster, store: SqlStore) -> Settled:
    """Read the venue between two identical readings of the store with no operation open: an
    operation is committed before its request is sent, so none can have moved meanwhile."""
    found: Settled | None = None

    async def quiet() -> bool:
        nonlocal found
        await _release_held(cluster, store)
        before = await store.funding.recent_operations(10_000)
        if any(o.state not in TERMINAL for o in before):
            return False
        funding = Decimal(cluster.venue_state()["balances"]["BTC"]["funding"])
        transfers, withdrawals = cluster.transfer_requests(), cluster.withdrawal_requests()
        found = Settled(
            before, funding, transfers, withdrawals, cluster.wallet_sends(), cluster.wallet()
        )
        after = await store.funding.recent_operations(10_000)
        return _states(after) == _states(before)

    await until(quiet, "every funding operation ended", 120)
    assert found is not None
    return found


def _states(operations: list[OperationRecord]) -> list[tuple[str, OperationState]]:
    return [(o.operation.operation_id, o.state) for o in operations]


async def _check_the_records(cluster: Cluster, store: SqlStore, funding_start: Decimal) -> Settled:
    settled = await _settled(cluster, store)
    _print_timeline(settled.operations)
    by_id = {o.operation.operation_id: o for o in settled.operations}
    requests = settled.requests
    # no client id reached the venue twice, and no deposit was sent twice by the wallet: a
    # request in doubt was looked up, not repeated
    assert all(count == 1 for count in requests.values()), requests
    # every request the venue or the wallet saw is an operation in the store, of its kind
    for client_id in settled.transfers:
        assert by_id[client_id].operation.kind.is_transfer, client_id
    for client_id in settled.withdrawals:
        assert by_id[client_id].operation.kind is OperationKind.WITHDRAWAL, client_id
    for client_id in settled.sends:
        assert by_id[client_id].operation.kind is OperationKind.DEPOSIT, client_id
    # each ended with an explanation; one done reached the venue or the wallet; one given up
    # (lost, or a held deposit the operator failed) never did
    for record in settled.operations:
        assert record.state in TERMINAL and record.message, record
        if record.state is OperationState.DONE:
            assert record.operation.operation_id in requests, record
        if record.state is OperationState.LOST or record.message == OPERATOR:
            assert record.operation.operation_id not in requests, record
    # each deposit the operator settled is in the operator actions, by the operator's name
    settled_ids = sorted(
        o.operation.operation_id for o in settled.operations if o.message == OPERATOR
    )
    actions = await store.operator_actions.recent(1_000)
    settling = [a for a in actions if a.action is OperatorActionKind.SETTLE_DEPOSIT]
    assert sorted(a.target for a in settling) == settled_ids
    assert all(
        (a.operator, a.result, a.note) == ("treasury", OperatorResult.DONE, NOTE) for a in settling
    )
    done = [o for o in settled.operations if o.state is OperationState.DONE]
    deposits = [o for o in done if o.operation.kind is OperationKind.DEPOSIT]
    # every deposit the exchange credited is a deposit done in the store, with its payment's
    # transaction and exact amount, and the other way round; each payment of the wallet is one
    credited = [(d["txId"], Decimal(d["amt"]), d["state"]) for d in settled.wallet["deposits"]]
    assert sorted(credited) == sorted((o.tx_id, o.operation.amount, "2") for o in deposits)
    paid = [(p["txid"], p["comment"], p["replaced_by"]) for p in settled.wallet["sent"]]
    assert sorted(paid) == sorted((o.tx_id, o.operation.operation_id, "") for o in deposits)
    # the funding account holds what the operations done add up to: transfers in and out,
    # withdrawals with their fee, deposits; the wallet paid each deposit and its fee
    expected = funding_start + sum((_funding_change(o) for o in done), Decimal(0))
    assert settled.funding_balance == expected
    spent = sum((o.operation.amount + DEPOSIT_FEE_BTC for o in deposits), Decimal(0))
    assert Decimal(settled.wallet["balance"]) == WALLET_START_BTC - spent
    return settled


def _funding_change(record: OperationRecord) -> Decimal:
    op = record.operation
    if op.kind is OperationKind.TRANSFER_TO_FUNDING:
        return op.amount
    if op.kind is OperationKind.TRANSFER_TO_TRADING:
        return -op.amount
    if op.kind is OperationKind.DEPOSIT:
        return op.amount
    assert op.kind is OperationKind.WITHDRAWAL, op
    return -(op.amount + op.fee)


# (trading, funding) BTC at start: the first request is a transfer out of the trading account
# (the hedge needs less than it holds), or, with nothing on the exchange, the first deposit
FIRST_REQUEST = {"transfer": ("2", "1"), "deposit": ("0", "0")}


@pytest.mark.parametrize("first_request", sorted(FIRST_REQUEST))
async def test_a_funding_manager_woken_after_its_lease_sends_nothing(
    tmp_path: Path, first_request: str
) -> None:
    trading_btc, funding_btc = FIRST_REQUEST[first_request]
    async with postgres_database() as url:
        with _cluster_of(tmp_path, url, trading_btc, funding_btc) as cluster:
            dealer_url = _start_dealer(cluster)
            store = await open_store(url, migrate=False)
            flow = LiabilityFlow(dealer_url, seed=13)
            try:
                first = _funding(cluster, "before-request", 1)
                await _started(first)
                await until(_holds(store, first), "the first funding process holding it", 30)
                standby = cluster.start("funding")
                await _started(standby)
                flow.start()
                await until(first.stopped, "the holder paused before a request", 120)
                (pending,) = await store.funding.open_operations()  # committed, not sent
                is_deposit = pending.operation.kind is OperationKind.DEPOSIT
                assert is_deposit == (first_request == "deposit"), pending
                pending_id = pending.operation.operation_id
                paused_at = time.monotonic()
                await until(_holds(store, standby), "the standby taking over", 30)
                await asyncio.sleep(
                    max(0.0, LEASE_TTL_SECONDS * 2 - (time.monotonic() - paused_at))
                )
                first.wake()
                await until(lambda: "lease lost" in first.output(), "the woken one giving up", 30)
                await until(_done_after(cluster, store, pending_id), "the standby moving money", 90)
                flow.stop()
                settled = await _check_the_records(cluster, store, Decimal(funding_btc))
                # the woken process sent nothing (its pending operation never reached the
                # venue or the wallet; the standby gave it up): what they saw is the standby's
                assert pending_id not in settled.requests, tail(first)
                (given_up,) = [
                    o for o in settled.operations if o.operation.operation_id == pending_id
                ]
                if is_deposit:  # held for the operator, who failed it
                    assert (given_up.state, given_up.message) == (OperationState.FAILED, OPERATOR)
                else:
                    assert given_up.state is OperationState.LOST, given_up
                assert first.alive() and not first.stopped()
            finally:
                flow.stop()
                await store.close()


def _done_after(cluster: Cluster, store: SqlStore, pending: str):  # type: ignore[no-untyped-def]
    """Whether an operation other than `pending` was done."""

    async def check() -> bool:
        await _release_held(cluster, store)
        operations = await store.funding.recent_operations(10_000)
        return any(
            o.state is OperationState.DONE and o.operation.operation_id != pending
            for o in operations
        )

    return check
