"""The rebalancer killed at every point of every kind of move (crash_points.py: before and
after each write a move makes to the store and each request it sends out), each point its
own case, enumerated by running each kind once with a recording tap. The abandoned process
is replaced by a new one wired from the store, the chain and the broker server alone, which
runs until the move ends.

After each: one mint request per issuer id, one conversion order per client id, at most one
wallet withdrawal, each transaction step's transaction mined once at consecutive nonces and
no nonce left pending, and the balances on both sides as worked out by hand; the move
COMPLETED, or where the crash left the outcome unknowable (a withdrawal recorded as sent that
the broker never received) STUCK in its named state with an alert, and nothing sent twice.

One anvil serves the module (each case deploys its own tokens for its own maker); the matrix
runs on SQLite, a handful of points again on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
import pytest_asyncio
from eth_typing import HexStr

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.collateral import AlertKind
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import ProposalStatus
from pegkeeper.domain.equities.moves import Halt, MoveKind, MoveStatus
from pegkeeper.sim.brokers.alpaca_wallets import USDC_POSITION
from pegkeeper.sim.raindex.artifacts import Artifact
from tests.anvil_chain import anvil_path, running_anvil, solcjs_path
from tests.integration.conftest import postgres_database
from tests.integration.rebalancing.crash_points import (
    HOLDINGS,
    Crash,
    Tapper,
    approve_move,
    move_ended,
    move_of,
    record_all_points,
)
from tests.integration.rebalancing.harness import (
    AAPL_VAULT_ID,
    DEPOSIT_ADDRESS,
    REDEMPTION_WALLET,
    USDC_UNITS,
    USDC_VAULT_ID,
    WAD,
    Desk,
    Maker,
    new_maker,
    open_desk,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A withdrawal recorded as sent whose request never reached the broker: the broker does not
# list it, and asking again could withdraw twice, so the move stops for an operator.
UNKNOWABLE = {
    "cash_to_chain-after-result-withdrawn-sent": Halt.WALLET_TRANSFER_PENDING,
    "cash_to_chain-before-withdraw_usdc-withdrawn": Halt.WALLET_TRANSFER_PENDING,
}
ON_POSTGRES = (
    "mint-before-request_mint-requested",
    "mint-after-nonce-wrapped",
    "redeem-after-send-sent_to_redemption",
    "cash_to_chain-before-withdraw_usdc-withdrawn",
    "cash_home-after-convert-converted",
)
# the transactions each kind signs (wrap + deposit; withdraw + unwrap + send; deposit;
# withdraw + send home)
TX_STEPS = {MoveKind.MINT: 2, MoveKind.REDEEM: 3, MoveKind.CASH_TO_CHAIN: 1, MoveKind.CASH_HOME: 2}


@cache
def recorded_points() -> tuple[str, ...] | str:
    """Every point of every kind, or why they cannot be recorded here."""
    if anvil_path() is None or solcjs_path() is None:
        return "anvil or solcjs is not installed: make tools"
    points = asyncio.run(record_all_points(tuple(MoveKind)))
    return tuple(point for kind in MoveKind for point in points[kind])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "point" not in metafunc.fixturenames:
        return
    points = recorded_points()
    if isinstance(points, str):
        metafunc.parametrize("point", [pytest.param("", marks=pytest.mark.skip(reason=points))])
        return
    if metafunc.function.__name__.endswith("on_postgres"):
        missing = set(ON_POSTGRES) - set(points)
        assert not missing, f"points no move passes any more: {sorted(missing)}"
        points = ON_POSTGRES
    metafunc.parametrize("point", points, ids=points)


@dataclass
class Chain:
    """One anvil for the module: a maker for each kind's holdings, then a snapshot every
    case starts from (and leaves as it found it)."""

    world: RaindexWorld
    makers: dict[MoveKind, Maker]
    snapshot: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chain(anvil_binary: Path, contracts: dict[str, Artifact]) -> AsyncIterator[Chain]:
    with running_anvil(anvil_binary) as node:
        world = RaindexWorld(node.url, contracts)
        await world.start()
        try:
            by_holdings = {h: await new_maker(world, h) for h in set(HOLDINGS.values())}
            makers = {kind: by_holdings[h] for kind, h in HOLDINGS.items()}
            yield Chain(world, makers, await world.snapshot())
        finally:
            await world.close()


@pytest_asyncio.fixture(loop_scope="module")
async def fresh_chain(chain: Chain) -> AsyncIterator[Chain]:
    try:
        yield chain
    finally:
        await chain.world.revert(chain.snapshot)
        chain.snapshot = await chain.world.snapshot()


@pytest_asyncio.fixture(loop_scope="module")
async def postgres_store() -> AsyncIterator[SqlStore]:
    async with postgres_database() as url:
        store = await open_store(url)
        try:
            yield store
        finally:
            await store.close()


@pytest.mark.timeout(300)
async def test_a_crash_at_each_point_sends_nothing_twice(
    point: str, fresh_chain: Chain, sqlite_store: SqlStore
) -> None:
    await crash_and_resume(fresh_chain, sqlite_store, point)


@pytest.mark.postgres
async def test_a_crash_resumes_the_same_on_postgres(
    point: str, fresh_chain: Chain, postgres_store: SqlStore
) -> None:
    await crash_and_resume(fresh_chain, postgres_store, point)


async def crash_and_resume(chain: Chain, store: SqlStore, point: str) -> None:
    kind = MoveKind(point.split("-", 1)[0])
    tapper = Tapper(kind, crash_at=point)
    desk = await open_desk(chain.world, store, maker=chain.makers[kind], tap=tapper.tap)
    try:
        first_nonce, _ = await desk.nonces()
        proposal_id = await approve_move(desk, kind)
        await _until_crash(desk, tapper)
        await desk.restart(tapper.fresh().tap)
        await desk.cycles(move_ended(desk, proposal_id))
        move = await move_of(desk, proposal_id)
        assert move is not None
        if point in UNKNOWABLE:
            await _stopped_for_an_operator(desk, move.move_id, UNKNOWABLE[point])
            assert (await desk.nonces()) == (first_nonce, first_nonce)
            assert desk.sim.wallets.withdrawal_posts == 0
            return
        assert move.status is MoveStatus.COMPLETED, (move.status, move.halt, move.error)
        assert not await desk.alerted()
        await _sent_once(desk, tapper, kind, move.move_id, first_nonce)
        await CHECKS[kind](desk)
        await _read_back_at_target(desk, move.asset)
    finally:
        await desk.close()


async def _until_crash(desk: Desk, tapper: Tapper) -> None:
    for _ in range(60):
        try:
            await desk.rebalancer.cycle()
        except Crash:
            return
    raise AssertionError(f"the move never passed {tapper.crash_at}")


async def _stopped_for_an_operator(desk: Desk, move_id: str, halt: Halt) -> None:
    move = await desk.store.rebalancing.move(move_id)
    assert move is not None
    assert (move.status, move.halt) == (MoveStatus.STUCK, halt)
    (alert,) = await desk.alerted()
    assert alert.kind is AlertKind.REBALANCE_MOVE_HALTED
    assert alert.details["halt"] == halt.value
    assert "What to do:" in alert.message
    # the conversion went through (one order), the USDC waits at the broker: 4 000 of the
    # 9 000 USD bought 4 000 USDC at 1.00; nothing left the broker
    assert _conversions(desk) == Counter({f"cv-{move_id}": 1})
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == Decimal(4_000)
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 1_000 * USDC_UNITS


async def _sent_once(
    desk: Desk, tapper: Tapper, kind: MoveKind, move_id: str, first_nonce: int
) -> None:
    """Each transaction step's transaction mined once, at the next nonces, none left
    pending; each broker request made once."""
    move = await desk.store.rebalancing.move(move_id)
    assert move is not None
    signed = [intent for intent in move.steps if intent.nonce is not None]
    nonces = sorted(n for intent in signed if (n := intent.nonce) is not None)
    assert len(signed) == TX_STEPS[kind]
    assert nonces == list(range(first_nonce, first_nonce + len(signed)))
    for intent in signed:
        receipt = await desk.world.w3.eth.get_transaction_receipt(HexStr(intent.tx_hash))
        assert receipt["status"] == 1, intent
    assert await desk.nonces() == (first_nonce + len(signed),) * 2
    mints = desk.sim.tokenization.mint_posts
    assert mints == (Counter({f"mint-{move_id}": 1}) if kind is MoveKind.MINT else Counter())
    converts = Counter({f"cv-{move_id}": 1}) if kind.is_cash else Counter()
    assert _conversions(desk) == converts
    withdrawals = 1 if kind is MoveKind.CASH_TO_CHAIN else 0
    assert desk.sim.wallets.withdrawal_posts == withdrawals
    broker_requests = {k: n for k, n in tapper.requests.items() if not k.startswith("send-")}
    assert all(n == 1 for n in broker_requests.values()), broker_requests


async def _read_back_at_target(desk: Desk, asset: str) -> None:
    """The rebalancer's next reading: the asset at its target on both sides (5 shares,
    5 000 USD each), nothing in flight, nothing proposed."""
    await desk.rebalancer.cycle()
    assert desk.rebalancer.last_view is not None
    inventory = desk.rebalancer.last_view[asset]
    half = Decimal(5_000) if asset == CASH_ASSET else Decimal(5)
    assert (inventory.onchain, inventory.broker) == (half, half)
    assert not inventory.has_move_in_flight
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    assert [p for p in proposals if p.proposal.asset == asset] == []


def _conversions(desk: Desk) -> Counter[str]:
    orders = desk.server.book.orders.values()
    return Counter(o.client_order_id for o in orders if o.symbol == USDC_POSITION)


async def _minted(desk: Desk) -> None:
    # 1 share onchain, 9 at the broker: 4 minted, wrapped at 1 and deposited
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    assert (await desk.wallet(desk.aapl), await desk.wallet(desk.wrapper)) == (0, 0)
    assert len(desk.sim.tokenization.requests) == 1


async def _redeemed(desk: Desk) -> None:
    # 9 shares onchain, 1 at the broker: 4 withdrawn, unwrapped, sent and credited
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert await desk.wallet(desk.aapl, REDEMPTION_WALLET) == 4 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    assert (await desk.wallet(desk.aapl), await desk.wallet(desk.wrapper)) == (0, 0)
    (redeem,) = desk.sim.tokenization.requests.values()
    assert (redeem.kind, redeem.qty, redeem.status) == ("redeem", Decimal(4), "completed")


async def _cash_on_chain(desk: Desk) -> None:
    # 1 000 USDC onchain, 9 000 USD at the broker: 4 000 USD bought 4 000 USDC at 1.00,
    # withdrawn to the maker and deposited
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == 0
    assert await desk.wallet(desk.usdc) == 0


async def _cash_at_home(desk: Desk) -> None:
    # 9 000 USDC onchain, 1 000 USD at the broker: 4 000 USDC withdrawn, sent to the
    # deposit address and sold at 1.00
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert await desk.wallet(desk.usdc, DEPOSIT_ADDRESS) == 4_000 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == 0
    assert await desk.wallet(desk.usdc) == 0


CHECKS = {
    MoveKind.MINT: _minted,
    MoveKind.REDEEM: _redeemed,
    MoveKind.CASH_TO_CHAIN: _cash_on_chain,
    MoveKind.CASH_HOME: _cash_at_home,
}
