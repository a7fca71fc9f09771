"""The rebalancer and its standby as separate processes on PostgreSQL, moving the maker's AAPL
between a local chain (anvil) and the local Alpaca server (its own process, with its
tokenization and wallet endpoints acting on that chain). One share is in the maker's vault and
nine at the broker, outside the band 0.5 +- 0.1: with execution switched on for AAPL and
globally, the holder of the "rebalancer" lease opens a mint of 4 shares itself (the target 0.5
of 10 shares is 5 onchain). It is killed (kill -9) in the middle of the move, just after a
request reached the outside and before it recorded the answer: the mint request at the broker,
or its first transaction (the wrap) at the node. The standby takes the lease and completes the
move without asking for a second mint or sending any transaction twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import Web3

from pegkeeper.adapters.clock import RealClock
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.equities.move_records import IntentStatus, MoveRecord
from pegkeeper.domain.equities.moves import MoveKind, MoveStatus, MoveStep
from tests.cluster.rebalancer_support import LEASE, RebalancerCluster, rebalancer_cluster_of
from tests.cluster.support import Process, tail
from tests.integration.conftest import postgres_database
from tests.integration.rebalancing.harness import (
    AAPL_VAULT_ID,
    USDC_UNITS,
    USDC_VAULT_ID,
    WAD,
    Holdings,
)
from tests.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

# AAPL's onchain share 1 / 10 = 0.1; cash 5 000 / 10 000 = 0.5, inside its band 0.2-0.8
HOLDINGS = Holdings(Decimal(1), Decimal(9), Decimal(5_000), Decimal(5_000))
MINTED_SHARES = Decimal(4)  # to 5 of 10 shares onchain
STARTED = "service started"
PAUSED = "pausing at a test point"
# the move's outside requests, in order: the mint request, the wrap, the deposit
AFTER_THE_MINT_REQUEST = "after-request:1"
AFTER_THE_WRAP_IS_SENT = "after-request:2"
MINT_ENDPOINT = "POST /v1/accounts/{account_id}/tokenization/mint"


async def _started(process: Process) -> None:
    def started() -> bool:
        assert process.alive(), tail(process)
        return STARTED in process.output()

    await until(started, f"{process.name} started", 60)


async def _holder(store: SqlStore) -> str:
    lease = await store.leases.current(LEASE)
    return "" if lease is None else lease.holder.rpartition(":")[0]


def _holds(store: SqlStore, process: Process) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _holder(store) == process.name

    return check


def _lease_state(process: Process) -> str:
    """The "rebalancer" lease as the process's /readyz shows it ("" before it says)."""
    _, body = process.readiness()
    states = {lease["name"]: lease["state"] for lease in body.get("leases", [])}
    return str(states.get(LEASE, ""))


def _completed(store: SqlStore, move_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        move = await store.rebalancing.move(move_id)
        assert move is not None
        assert move.status in (MoveStatus.ACTIVE, MoveStatus.COMPLETED), (move.halt, move.error)
        return move.status is MoveStatus.COMPLETED

    return check


async def _nonces(cluster: RebalancerCluster) -> tuple[int, int]:
    """The maker's transaction count: mined, and with the node's pending pool."""
    maker = Web3.to_checksum_address(cluster.maker.address)
    eth = cluster.world.w3.eth
    return int(await eth.get_transaction_count(maker, "latest")), int(
        await eth.get_transaction_count(maker, "pending")
    )


@pytest.mark.parametrize("point", [AFTER_THE_MINT_REQUEST, AFTER_THE_WRAP_IS_SENT])
async def test_a_standby_completes_the_mint_of_a_rebalancer_killed_in_its_middle(
    tmp_path: Path, point: str
) -> None:
    async with (
        postgres_database() as url,
        rebalancer_cluster_of(tmp_path, url, HOLDINGS) as cluster,
    ):
        first_nonce, _ = await _nonces(cluster)  # after the maker's own setup
        first = cluster.start(env={"PEGKEEPER_PAUSE_AT": point})
        await _started(first)
        store = await open_store(url, migrate=False)
        try:
            await until(_holds(store, first), "the first rebalancer holding the lease", 30)
            standby = cluster.start()
            await _started(standby)
            # one holder, one standby, and each says so on its ops port
            await until(lambda: _lease_state(standby) == "waiting", "the standby waiting", 30)
            assert _lease_state(first) == "held"
            assert not await store.rebalancing.active_moves()

            now_ms = RealClock().now_ms()
            await store.rebalancing.set_switch("AAPL", True, "ops", now_ms)
            await store.rebalancing.set_switch(None, True, "ops", now_ms)
            await until(first.stopped, f"the holder paused at {point}", 60)
            assert PAUSED in first.output(), tail(first)
            (move,) = await store.rebalancing.active_moves()
            assert (move.kind, move.asset, move.amount) == (MoveKind.MINT, "AAPL", MINTED_SHARES)
            wrap_hash = await _sent_not_recorded(cluster, move, point)
            first.kill()

            await until(_holds(store, standby), "the standby taking the lease", 30)
            await until(_completed(store, move.move_id), "the standby completing the move", 60)
            done = await store.rebalancing.move(move.move_id)
            assert done is not None
            await _check_the_chain(cluster, done, first_nonce, wrap_hash)
            _check_the_broker(cluster, done)
            standby.stop()
            assert cluster.alpaca.stop()[MINT_ENDPOINT] == 1  # one mint request, ever
            assert "Traceback" not in standby.output(), tail(standby)
        finally:
            await store.close()


async def _sent_not_recorded(cluster: RebalancerCluster, move: MoveRecord, point: str) -> str:
    """Where the killed holder stopped: its request reached the broker or the node, its
    answer is not in the store. The wrap's hash when the wrap was sent ("" otherwise)."""
    if point == AFTER_THE_MINT_REQUEST:
        requested = move.intent(MoveStep.REQUESTED)
        assert requested is not None and requested.status is IntentStatus.INTENDED, requested
        assert [r["issuer_request_id"] for r in cluster.mint_requests()] == [f"mint-{move.move_id}"]
        assert move.intent(MoveStep.WRAPPED) is None
        return ""
    wrap = move.intent(MoveStep.WRAPPED)
    # the wrap is on the chain (anvil mines as it arrives), the store does not know yet
    assert wrap is not None and wrap.status is IntentStatus.INTENDED, wrap
    receipt = await cluster.world.w3.eth.get_transaction_receipt(wrap.tx_hash)
    assert receipt["status"] == 1
    return wrap.tx_hash


async def _check_the_chain(
    cluster: RebalancerCluster, move: MoveRecord, first_nonce: int, wrap_hash: str
) -> None:
    """Two transactions of the maker, each mined once at its own nonce: the wrap (when the
    killed holder had sent it, that one, taken as mined by the standby and not signed again)
    and the deposit; the 4 minted shares are in the vault, none left in the wallet."""
    wrap, deposit = move.intent(MoveStep.WRAPPED), move.intent(MoveStep.DEPOSITED)
    assert wrap is not None and deposit is not None
    assert (wrap.nonce, wrap.replaced_tx_hashes) == (first_nonce, ())
    assert wrap.tx_hash == (wrap_hash or wrap.tx_hash)
    assert (deposit.nonce, deposit.replaced_tx_hashes) == (first_nonce + 1, ())
    assert await _nonces(cluster) == (first_nonce + 2, first_nonce + 2)
    eth = cluster.world.w3.eth
    for intent in (wrap, deposit):
        assert intent.status is IntentStatus.CONFIRMED, intent
        receipt = await eth.get_transaction_receipt(intent.tx_hash)
        transaction = await eth.get_transaction(intent.tx_hash)
        assert (receipt["status"], transaction["nonce"]) == (1, intent.nonce)
    maker = cluster.maker
    owner = Web3.to_checksum_address(maker.address)
    book = cluster.world.orderbook.functions
    # 1 share wrapped at the start + 4 minted, wrapped 1:1 and deposited
    assert await book.vaultBalance(owner, maker.wrapper.address, AAPL_VAULT_ID).call() == 5 * WAD
    usdc_vault = await book.vaultBalance(owner, maker.usdc.address, USDC_VAULT_ID).call()
    assert usdc_vault == 5_000 * USDC_UNITS  # cash was inside its band: untouched
    assert await maker.aapl.functions.balanceOf(owner).call() == 0
    assert await maker.wrapper.functions.balanceOf(owner).call() == 0
    received = move.intent(MoveStep.TOKENS_RECEIVED)
    assert received is not None and received.amount_received == MINTED_SHARES


def _check_the_broker(cluster: RebalancerCluster, move: MoveRecord) -> None:
    """One mint request, the move's, completed: 9 - 4 = 5 shares left at the broker."""
    (request,) = cluster.mint_requests()
    assert request["issuer_request_id"] == f"mint-{move.move_id}"
    assert (request["status"], Decimal(request["qty"])) == ("completed", MINTED_SHARES)
    assert request["wallet_address"] == cluster.maker.address
    assert cluster.positions() == {"AAPL": Decimal(5)}
