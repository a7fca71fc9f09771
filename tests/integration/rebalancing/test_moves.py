"""Each kind of move end to end on real parts (harness.py): proposed from the inventory,
approved by an operator, executed step by step, and the balances on both sides afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.move_records import IntentStatus, ProposalStatus
from pegkeeper.domain.equities.moves import MoveStatus, MoveStep
from tests.integration.rebalancing.harness import (
    AAPL_VAULT_ID,
    LONG_ONCHAIN,
    REDEMPTION_WALLET,
    USDC_VAULT_ID,
    WAD,
    Desk,
    open_desk,
)


@pytest.fixture
async def desk(world: RaindexWorld, store: SqlStore) -> AsyncIterator[Desk]:
    opened = await open_desk(world, store)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def long_desk(world: RaindexWorld, store: SqlStore) -> AsyncIterator[Desk]:
    opened = await open_desk(world, store, LONG_ONCHAIN)
    try:
        yield opened
    finally:
        await opened.close()


async def _approve(desk: Desk, asset: str) -> str:
    await desk.rebalancer.cycle()
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    (record,) = [p for p in proposals if p.proposal.asset == asset]
    await desk.store.rebalancing.approve_proposal(record.proposal_id, "ops", 1)
    return record.proposal_id


async def _completed(desk: Desk, proposal_id: str) -> bool:
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None
    if not record.move_id:
        return False
    move = await desk.store.rebalancing.move(record.move_id)
    assert move is not None
    assert move.status not in (MoveStatus.FAILED, MoveStatus.STUCK), move.error
    return move.status is MoveStatus.COMPLETED


async def test_a_mint_brings_the_onchain_share_of_a_stock_back_to_its_target(desk: Desk) -> None:
    # 1 share onchain, 9 at the broker: share 0.1, band 0.4-0.6; the target 0.5 of 10 shares
    # is 5 onchain, so 4 shares are minted, wrapped (ratio 1) and deposited.
    proposal_id = await _approve(desk, "AAPL")
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None
    assert record.proposal.direction is Direction.TO_CHAIN
    assert record.proposal.amount == Decimal(4)

    await desk.cycles(lambda: _completed(desk, proposal_id))

    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    assert await desk.wallet(desk.aapl) == 0  # everything minted went into the vault
    assert await desk.wallet(desk.wrapper) == 0
    assert sum(desk.sim.tokenization.mint_posts.values()) == 1
    move_id = (await desk.store.rebalancing.proposal(proposal_id)).move_id  # type: ignore[union-attr]
    move = await desk.store.rebalancing.move(move_id)
    assert move is not None
    steps = {s.step: s for s in move.steps}
    assert steps[MoveStep.TOKENS_RECEIVED].amount_received == Decimal(4)
    for step in (MoveStep.WRAPPED, MoveStep.DEPOSITED):
        assert steps[step].status is IntentStatus.CONFIRMED
        assert steps[step].tx_hash.startswith("0x") and len(steps[step].tx_hash) == 66
    assert steps[MoveStep.WRAPPED].nonce is not None
    assert steps[MoveStep.DEPOSITED].nonce == steps[MoveStep.WRAPPED].nonce + 1  # type: ignore[operator]


async def test_cash_to_chain_converts_withdraws_and_deposits_usdc(desk: Desk) -> None:
    # 1 000 USDC onchain, 9 000 USD at the broker: share 0.1, band 0.4-0.6; the target is
    # 5 000 onchain, so 4 000 USD go to the chain.
    proposal_id = await _approve(desk, CASH_ASSET)
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None
    assert record.proposal.direction is Direction.TO_CHAIN
    assert record.proposal.amount == Decimal(4_000)

    await desk.cycles(lambda: _completed(desk, proposal_id))

    # 4 000 USD bought USDC at 1.00 (the sim's price): 4 000 USDC withdrawn and deposited
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * 10**6
    assert desk.account.cash_usd == Decimal(5_000)


async def test_a_redeem_brings_shares_back_to_the_broker(long_desk: Desk) -> None:
    # 9 shares onchain, 1 at the broker: share 0.9; 4 shares are withdrawn from the vault,
    # unwrapped, sent to the redemption wallet and credited at the broker.
    desk = long_desk
    proposal_id = await _approve(desk, "AAPL")
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None
    assert record.proposal.direction is Direction.TO_BROKER
    assert record.proposal.amount == Decimal(4)

    await desk.cycles(lambda: _completed(desk, proposal_id))

    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert await desk.wallet(desk.aapl, REDEMPTION_WALLET) == 4 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    redeems = [r for r in desk.sim.tokenization.requests.values() if r.kind == "redeem"]
    assert len(redeems) == 1


async def test_cash_home_withdraws_usdc_and_sells_it_at_the_broker(long_desk: Desk) -> None:
    # 9 000 USDC onchain, 1 000 USD at the broker: 4 000 USDC go home and are sold at 1.00.
    desk = long_desk
    proposal_id = await _approve(desk, CASH_ASSET)
    await desk.cycles(lambda: _completed(desk, proposal_id))

    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * 10**6
    assert desk.account.cash_usd == Decimal(5_000)
