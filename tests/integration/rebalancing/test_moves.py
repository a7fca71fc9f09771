"""Each kind of move end to end on real parts (harness.py): proposed from the inventory,
approved by an operator, executed step by step, and the balances on both sides afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise

import pytest
from eth_typing import HexStr

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


async def test_two_moves_at_once_sign_their_transactions_one_at_a_time(desk: Desk) -> None:
    # AAPL (1 of 10 shares onchain) and cash (1 000 of 10 000 USD) both at 0.1: a mint of 4
    # shares and 4 000 USD to the chain, approved together and in flight together. Their
    # three transactions (the mint's wrap and deposit, the cash's deposit) take the signer's
    # next three nonces, each signed once the one before is mined: none replaced or reused.
    first_nonce, _ = await desk.nonces()
    await desk.rebalancer.cycle()
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    assert sorted(p.proposal.asset for p in proposals) == ["AAPL", CASH_ASSET]
    for proposal in proposals:
        await desk.store.rebalancing.approve_proposal(proposal.proposal_id, "ops", 1)
    await desk.rebalancer.cycle()
    assert len(await desk.store.rebalancing.active_moves()) == 2

    async def both_completed() -> bool:
        return all([await _completed(desk, p.proposal_id) for p in proposals])

    await desk.cycles(both_completed)

    moves = []
    for proposal in proposals:
        record = await desk.store.rebalancing.proposal(proposal.proposal_id)
        assert record is not None
        move = await desk.store.rebalancing.move(record.move_id)
        assert move is not None
        moves.append(move)
    signed = sorted(
        (i for m in moves for i in m.steps if i.nonce is not None),
        key=lambda i: i.nonce or 0,
    )
    assert [i.nonce for i in signed] == [first_nonce, first_nonce + 1, first_nonce + 2]
    assert sorted(i.step for i in signed) == sorted(
        [MoveStep.WRAPPED, MoveStep.DEPOSITED, MoveStep.DEPOSITED]
    )
    assert {i.move_id for i in signed} == {m.move_id for m in moves}
    for earlier, later in pairwise(signed):
        assert later.created_at_ms >= earlier.updated_at_ms  # signed after the earlier's end
    for intent in signed:
        assert intent.replaced_tx_hashes == ()
        receipt = await desk.world.w3.eth.get_transaction_receipt(HexStr(intent.tx_hash))
        assert receipt["status"] == 1
    assert await desk.nonces() == (first_nonce + 3, first_nonce + 3)
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * 10**6
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    assert desk.account.cash_usd == Decimal(5_000)
