"""The rebalancer killed at every point of the bridge's two steps (crash_points.py: before and
after each write and each transaction sent), for cash to the chain and cash home across the
bridge (bridge_chains.py), each point its own case: the burn on the source chain and the
attested mint on the destination, where a crash could burn twice or mint twice.

After each: one burn and one mint of the 4 000 USDC, every transaction of the move mined once
at the next nonces of its chain and none pending, one conversion, the move COMPLETED without
an alert, and the balances at the target on both sides.

Two anvils serve the module, with one bridge and one maker for each kind (a bridge links one
USDC on each side); each case starts from their snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from eth_typing import HexStr

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.moves import MoveKind, MoveStatus, MoveStep
from pegkeeper.sim.brokers.alpaca_wallets import USDC_POSITION
from pegkeeper.sim.raindex.artifacts import Artifact
from tests.anvil_chain import rpc, running_anvil
from tests.integration.rebalancing.bridge_chains import (
    BRIDGED,
    BridgeChains,
    on_both_chains,
    open_bridge,
    until_crash,
)
from tests.integration.rebalancing.crash_points import (
    HOLDINGS,
    Tapper,
    approve_move,
    move_ended,
    move_of,
)
from tests.integration.rebalancing.harness import (
    DEPOSIT_ADDRESS,
    ETHER_WEI,
    USDC_UNITS,
    USDC_VAULT_ID,
    Desk,
    Maker,
    new_maker,
    open_desk,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

KINDS = (MoveKind.CASH_TO_CHAIN, MoveKind.CASH_HOME)
MOVED_UNITS = 4_000 * USDC_UNITS
# what each step's look writes and sends, in order; `-2`: the step confirmed by its
# transaction, then by the move
_WHATS = ("nonce", "intent", "send", "result-{}-sent", "result-{}-confirmed")
POINTS = tuple(
    f"{kind.value}-{phase}-{what}"
    for kind in KINDS
    for step in (MoveStep.BURNED, MoveStep.BRIDGED)
    for what in (
        *(w.format(step.value) if "{}" in w else f"{w}-{step.value}" for w in _WHATS),
        f"result-{step.value}-confirmed-2",
        f"advance-{step.value}",
    )
    for phase in ("before", "after")
)
# the transactions of each kind on (the orderbook's chain, the wallet's chain)
TXS = {
    MoveKind.CASH_TO_CHAIN: (2, 1),  # the mint, the deposit; the burn
    MoveKind.CASH_HOME: (2, 2),  # the vault withdrawal, the burn; the mint, the send home
}
WALLET_CHAIN_STEPS = {
    MoveKind.CASH_TO_CHAIN: {MoveStep.BURNED},
    MoveKind.CASH_HOME: {MoveStep.BRIDGED, MoveStep.SENT_TO_BROKER},
}


@dataclass
class Chains:
    orderbook: RaindexWorld
    wallet: RaindexWorld
    routes: dict[MoveKind, tuple[BridgeChains, Maker]]
    snapshots: tuple[str, str] = ("", "")

    async def snapshot(self) -> None:
        self.snapshots = (await self.orderbook.snapshot(), await self.wallet.snapshot())

    async def revert(self) -> None:
        await self.orderbook.revert(self.snapshots[0])
        await self.wallet.revert(self.snapshots[1])
        for bridge, _ in self.routes.values():
            for server in bridge.attesters.values():
                server.forget()
        await self.snapshot()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chains(anvil_binary: Path, contracts: dict[str, Artifact]) -> AsyncIterator[Chains]:
    with running_anvil(anvil_binary) as first, running_anvil(anvil_binary) as second:
        orderbook, wallet = RaindexWorld(first.url, contracts), RaindexWorld(second.url, contracts)
        await orderbook.start()
        await wallet.start()
        routes: dict[MoveKind, tuple[BridgeChains, Maker]] = {}
        try:
            for kind in KINDS:
                bridge = await open_bridge(orderbook, wallet)
                messenger = bridge.orderbook.messenger.address.lower()
                maker = await new_maker(orderbook, HOLDINGS[kind], token_messenger=messenger)
                rpc(wallet.url, "anvil_setBalance", [maker.address, hex(10 * ETHER_WEI)])
                await bridge.link(maker.usdc.address)
                routes[kind] = (bridge, maker)
            found = Chains(orderbook, wallet, routes)
            await found.snapshot()
            yield found
        finally:
            for bridge, _ in routes.values():
                await bridge.close()
            await wallet.close()
            await orderbook.close()


@pytest_asyncio.fixture(loop_scope="module")
async def fresh_chains(chains: Chains) -> AsyncIterator[Chains]:
    try:
        yield chains
    finally:
        await chains.revert()


async def test_the_points_are_those_a_bridged_move_passes(
    fresh_chains: Chains, sqlite_store: SqlStore
) -> None:
    recorded = []
    for kind in KINDS:
        tapper = Tapper(kind)
        desk = await _open(fresh_chains, sqlite_store, kind, tapper)
        try:
            proposal_id = await approve_move(desk, kind)
            await desk.cycles(move_ended(desk, proposal_id))
        finally:
            await desk.close()
        recorded += [p for p in tapper.points if "-burned" in p or "-bridged" in p]
        await fresh_chains.revert()
    assert recorded == list(POINTS)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.timeout(300)
async def test_a_crash_at_each_point_of_the_bridge_burns_once_and_mints_once(
    point: str, fresh_chains: Chains, sqlite_store: SqlStore
) -> None:
    kind = MoveKind(point.split("-", 1)[0])
    bridge, maker = fresh_chains.routes[kind]
    tapper = Tapper(kind, crash_at=point)
    desk = await _open(fresh_chains, sqlite_store, kind, tapper)
    try:
        # after the process's start, which gave the messenger its allowance on the wallet's chain
        first = (
            await _nonces(desk, fresh_chains.orderbook),
            await _nonces(desk, bridge.wallet.world),
        )
        proposal_id = await approve_move(desk, kind)
        await until_crash(desk, tapper)
        await desk.restart(on_both_chains(tapper.fresh()))
        await desk.cycles(move_ended(desk, proposal_id))

        move = await move_of(desk, proposal_id)
        assert move is not None
        assert move.status is MoveStatus.COMPLETED, (move.status, move.halt, move.error)
        assert not await desk.alerted()
        source, destination = (
            (bridge.wallet, bridge.orderbook)
            if kind is MoveKind.CASH_TO_CHAIN
            else (bridge.orderbook, bridge.wallet)
        )
        assert await source.burns() == [MOVED_UNITS]
        assert await destination.mints() == [MOVED_UNITS]
        assert (await destination.burns(), await source.mints()) == ([], [])
        on_orderbook, on_wallet = TXS[kind]
        assert await _nonces(desk, fresh_chains.orderbook) == (first[0][0] + on_orderbook,) * 2
        assert await _nonces(desk, bridge.wallet.world) == (first[1][0] + on_wallet,) * 2
        signed = {i.step: i for i in move.steps if i.nonce is not None}
        on_wallet_chain = WALLET_CHAIN_STEPS[kind]
        assert len(signed) == on_orderbook + on_wallet
        for step, intent in signed.items():
            world = bridge.wallet.world if step in on_wallet_chain else fresh_chains.orderbook
            receipt = await world.w3.eth.get_transaction_receipt(HexStr(intent.tx_hash))
            assert receipt["status"] == 1, intent
        orders = desk.server.book.orders.values()
        conversions = Counter(o.client_order_id for o in orders if o.symbol == USDC_POSITION)
        assert conversions == Counter({f"cv-{move.move_id}": 1})
        withdrawals = 1 if kind is MoveKind.CASH_TO_CHAIN else 0
        assert desk.sim.wallets.withdrawal_posts == withdrawals
        assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
        assert desk.account.cash_usd == Decimal(5_000)
        assert desk.account.positions[USDC_POSITION].qty == 0
        assert await desk.wallet(desk.usdc) == 0
        assert await bridge.wallet_balance(maker.address) == 0
        home = MOVED_UNITS if kind is MoveKind.CASH_HOME else 0
        assert await bridge.wallet_balance(DEPOSIT_ADDRESS) == home
    finally:
        await desk.close()


async def _open(chains: Chains, store: SqlStore, kind: MoveKind, tapper: Tapper) -> Desk:
    bridge, maker = chains.routes[kind]
    return await open_desk(
        chains.orderbook,
        store,
        maker=maker,
        bridge=bridge,
        settings=BRIDGED,
        tap=on_both_chains(tapper),
    )


async def _nonces(desk: Desk, world: RaindexWorld) -> tuple[int, int]:
    """The maker's transaction count on `world`'s chain: mined, and with the pending pool."""
    maker = world.w3.to_checksum_address(desk.maker.address)
    mined = await world.w3.eth.get_transaction_count(maker, "latest")
    pending = await world.w3.eth.get_transaction_count(maker, "pending")
    return int(mined), int(pending)
