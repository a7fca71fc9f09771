"""Faults of a move on real parts (harness.py): the broker rejects a mint or a redeem, a wallet
withdrawal FAILS, a transaction reverts while the node answers from behind it, a step overruns
its timeout. Each move stops in its named state with an alert that says what to do, nothing is
asked for twice, and the inventory the rebalancer reads afterwards is what is really held."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest
from eth_typing import HexStr
from web3.exceptions import TransactionNotFound

from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import erc20_approve
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.collateral import Alert, AlertKind, Severity
from pegkeeper.domain.equities.inventory import CASH_ASSET, AssetInventory
from pegkeeper.domain.equities.move_records import CostKind, IntentStatus, MoveRecord
from pegkeeper.domain.equities.moves import (
    HALTS,
    Halt,
    MoveKind,
    MoveStatus,
    MoveStep,
    StepTimeouts,
)
from pegkeeper.sim.brokers.alpaca_wallets import USDC_POSITION
from tests.chain_rpc_proxy import RpcProxy
from tests.integration.rebalancing.crash_points import (
    HOLDINGS,
    Crash,
    Tapper,
    approve_move,
    move_ended,
    move_of,
)
from tests.integration.rebalancing.harness import (
    AAPL_VAULT_ID,
    REDEMPTION_WALLET,
    SETTINGS,
    USDC_UNITS,
    USDC_VAULT_ID,
    WAD,
    Desk,
    Maker,
    new_maker,
    open_desk,
)
from tests.waiting import until

MINUTE_MS = 60_000
ETHER_USD = Decimal("3000.5")


@pytest.fixture
async def desks(world: RaindexWorld, store: SqlStore) -> AsyncIterator[list[Desk]]:
    opened: list[Desk] = []
    try:
        yield opened
    finally:
        for desk in opened:
            await desk.close()


async def _desk(
    desks: list[Desk], world: RaindexWorld, store: SqlStore, kind: MoveKind, **kw: object
) -> Desk:
    desk = await open_desk(world, store, HOLDINGS[kind], **kw)  # type: ignore[arg-type]
    desks.append(desk)
    return desk


async def _stopped(desk: Desk, proposal_id: str, halt: Halt) -> MoveRecord:
    """The move ended in `halt`, with one alert naming it and what to do."""
    await desk.cycles(move_ended(desk, proposal_id))
    move = await move_of(desk, proposal_id)
    assert move is not None
    assert (move.status, move.halt) == (HALTS[halt].status, halt), move.error
    (alert,) = await desk.alerted()
    _names(alert, move, halt)
    return move


def _names(alert: Alert, move: MoveRecord, halt: Halt) -> None:
    assert alert.kind is AlertKind.REBALANCE_MOVE_HALTED
    assert alert.details == {"move_id": move.move_id, "asset": move.asset, "halt": halt.value}
    assert halt.value in alert.title
    assert f"What to do: {HALTS[halt].action}" in alert.message


async def _inventory(desk: Desk, asset: str) -> AssetInventory:
    """The asset as the rebalancer reads it at its next cycle."""
    await desk.rebalancer.cycle()
    view = desk.rebalancer.last_view
    assert view is not None
    return view[asset]


def _held(inventory: AssetInventory) -> tuple[Decimal, Decimal, Decimal]:
    return (
        inventory.onchain,
        inventory.broker,
        inventory.in_flight_to_chain + inventory.in_flight_to_broker,
    )


async def test_a_rejected_mint_fails_named_with_the_shares_back_at_the_broker(
    desks: list[Desk], world: RaindexWorld, store: SqlStore
) -> None:
    desk = await _desk(desks, world, store, MoveKind.MINT)
    desk.sim.tokenization.reject_next_mint()
    proposal_id = await approve_move(desk, MoveKind.MINT)

    move = await _stopped(desk, proposal_id, Halt.MINT_REJECTED)

    # 1 share in the vault, 9 at the broker: the 4 journaled out for the mint came back
    assert desk.sim.tokenization.mint_posts == {f"mint-{move.move_id}": 1}
    assert desk.account.positions["AAPL"].qty == Decimal(9)
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 1 * WAD
    assert await desk.wallet(desk.aapl) == 0
    assert _held(await _inventory(desk, "AAPL")) == (Decimal(1), Decimal(9), Decimal(0))
    assert "approve a new proposal" in HALTS[Halt.MINT_REJECTED].action


async def test_a_rejected_redeem_fails_named_and_nothing_is_sent_again(
    desks: list[Desk], world: RaindexWorld, store: SqlStore
) -> None:
    desk = await _desk(desks, world, store, MoveKind.REDEEM)
    desk.sim.tokenization.reject_next_redeem()
    first_nonce, _ = await desk.nonces()
    proposal_id = await approve_move(desk, MoveKind.REDEEM)

    await _stopped(desk, proposal_id, Halt.REDEEM_REJECTED)

    # 9 shares in the vault, 1 at the broker: 4 withdrawn, unwrapped and sent to the
    # redemption wallet, where the broker keeps them; no share was credited
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert await desk.wallet(desk.aapl, REDEMPTION_WALLET) == 4 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(1)
    (redeem,) = desk.sim.tokenization.requests.values()
    assert (redeem.qty, redeem.status) == (Decimal(4), "rejected")
    assert await desk.nonces() == (first_nonce + 3, first_nonce + 3)  # withdraw, unwrap, send
    # what the maker holds now: 5 onchain, 1 at the broker (the 4 are the broker's to return)
    assert _held(await _inventory(desk, "AAPL")) == (Decimal(5), Decimal(1), Decimal(0))
    assert await desk.nonces() == (first_nonce + 3, first_nonce + 3)


async def test_a_failed_withdrawal_leaves_the_usdc_at_the_broker(
    desks: list[Desk], world: RaindexWorld, store: SqlStore
) -> None:
    desk = await _desk(desks, world, store, MoveKind.CASH_TO_CHAIN)
    desk.sim.wallets.fail_next_withdrawal()
    first_nonce, _ = await desk.nonces()
    proposal_id = await approve_move(desk, MoveKind.CASH_TO_CHAIN)

    await _stopped(desk, proposal_id, Halt.WALLET_TRANSFER_FAILED)

    # 9 000 USD at the broker: 4 000 bought 4 000 USDC at 1.00, whose withdrawal FAILED and
    # came back to the broker's wallet; nothing reached the chain
    assert desk.sim.wallets.withdrawal_posts == 1
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == Decimal(4_000)
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 1_000 * USDC_UNITS
    assert await desk.wallet(desk.usdc) == 0
    assert await desk.nonces() == (first_nonce, first_nonce)
    # the broker's cash is its dollars and its USDC (1 USDC counted as 1 USD, as onchain)
    assert _held(await _inventory(desk, CASH_ASSET)) == (
        Decimal(1_000),
        Decimal(9_000),
        Decimal(0),
    )
    # of which 4 000 USDC, which a conversion to the chain cannot spend
    assert desk.rebalancer.last_view is not None
    assert desk.rebalancer.last_view.broker_usdc == Decimal(4_000)
    assert desk.sim.wallets.withdrawal_posts == 1


async def test_a_reverted_transaction_is_not_taken_as_done_from_a_node_behind_it(
    world: RaindexWorld, store: SqlStore, proxy: RpcProxy, desks: list[Desk]
) -> None:
    maker = await new_maker(world, HOLDINGS[MoveKind.MINT])
    await _revoke_wrapper_allowance(world, maker)
    desk = await _desk(desks, world, store, MoveKind.MINT, maker=maker, node_url=proxy.url)
    first_nonce, _ = await desk.nonces()
    proposal_id = await approve_move(desk, MoveKind.MINT)
    await desk.cycles(lambda: _wrap_sent(desk, proposal_id))
    proxy.misbehave.head_lag_blocks = 2  # the node answers from before the wrap's block

    for _ in range(5):
        await desk.rebalancer.cycle()
    move = await move_of(desk, proposal_id)
    assert move is not None
    wrap = move.intent(MoveStep.WRAPPED)
    assert wrap is not None
    assert (move.status, move.step, wrap.status) == (
        MoveStatus.ACTIVE,
        MoveStep.TOKENS_RECEIVED,
        IntentStatus.SENT,
    )
    receipt = await world.w3.eth.get_transaction_receipt(HexStr(wrap.tx_hash))
    assert receipt["status"] == 0  # mined and reverted: the allowance was taken back
    assert await desk.nonces() == (first_nonce + 1, first_nonce + 1)  # sent once, no other

    proxy.misbehave.head_lag_blocks = 0
    move = await _stopped(desk, proposal_id, Halt.TX_REVERTED)

    assert await desk.nonces() == (first_nonce + 1, first_nonce + 1)
    assert move.intent(MoveStep.DEPOSITED) is None
    # the 4 minted tokens stayed in the maker's wallet, where the operator moves them on
    assert await desk.wallet(desk.aapl) == 4 * WAD
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 1 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(5)
    assert _held(await _inventory(desk, "AAPL")) == (Decimal(1), Decimal(5), Decimal(0))


@pytest.mark.parametrize("crash_at", ["", "mint-after-result-wrapped-failed"])
async def test_the_gas_of_a_reverted_transaction_is_counted_once(
    crash_at: str, world: RaindexWorld, store: SqlStore, desks: list[Desk]
) -> None:
    # the wrap reverts (its allowance taken back) and pays its gas all the same; with a
    # crash between the step marked failed and the move, the next process counts it
    maker = await new_maker(world, HOLDINGS[MoveKind.MINT])
    await _revoke_wrapper_allowance(world, maker)
    tapper = Tapper(MoveKind.MINT, crash_at=crash_at)
    desk = await _desk(
        desks,
        world,
        store,
        MoveKind.MINT,
        maker=maker,
        tap=tapper.tap,
        gas_token_price_usd=ETHER_USD,
    )
    proposal_id = await approve_move(desk, MoveKind.MINT)
    if crash_at:
        for _ in range(20):
            try:
                await desk.rebalancer.cycle()
            except Crash:
                break
        assert tapper.crashed
        await desk.restart(tapper.fresh().tap)

    move = await _stopped(desk, proposal_id, Halt.TX_REVERTED)

    wrap = move.intent(MoveStep.WRAPPED)
    assert wrap is not None and wrap.status is IntentStatus.FAILED
    receipt = await world.w3.eth.get_transaction_receipt(HexStr(wrap.tx_hash))
    assert receipt["status"] == 0
    wei = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    assert wei > 0
    (cost,) = [c for c in await desk.store.rebalancing.costs(0, 2**62) if c.move_id == move.move_id]
    assert (cost.step, cost.kind) == (MoveStep.WRAPPED, CostKind.GAS)
    assert cost.amount_usd == Decimal(wei) / Decimal(10**18) * ETHER_USD


async def test_a_step_past_its_timeout_is_stuck_and_goes_on_when_the_answer_arrives(
    desks: list[Desk], world: RaindexWorld, store: SqlStore
) -> None:
    # the mint takes 10 minutes at the broker; its tokens are expected within 1
    clock = ManualClock(1_700_000_000_000)
    timeouts = StepTimeouts({MoveStep.TOKENS_RECEIVED: MINUTE_MS})
    settings = replace(SETTINGS, timeouts=timeouts)
    desk = await _desk(
        desks, world, store, MoveKind.MINT, clock=clock, settings=settings, delay_ms=10 * MINUTE_MS
    )
    proposal_id = await approve_move(desk, MoveKind.MINT)
    await desk.rebalancer.cycle()
    move = await move_of(desk, proposal_id)
    assert move is not None and move.step is MoveStep.ACCEPTED

    clock.advance(61)
    await desk.rebalancer.cycle()
    move = await move_of(desk, proposal_id)
    assert move is not None
    assert (move.status, move.halt) == (MoveStatus.STUCK, Halt.TOKENIZATION_PENDING)
    (alert,) = await desk.alerted()
    _names(alert, move, Halt.TOKENIZATION_PENDING)
    # 4 shares left the broker and are on their way: 1 in the vault, 5 at the broker
    assert _held(await _inventory(desk, "AAPL")) == (Decimal(1), Decimal(5), Decimal(4))
    assert len(await desk.alerted()) == 1  # once, not at every cycle

    clock.advance(10 * 60)
    await desk.cycles(move_ended(desk, proposal_id))
    move = await move_of(desk, proposal_id)
    assert move is not None and move.status is MoveStatus.COMPLETED
    _, cleared = await desk.alerted()
    assert cleared.severity is Severity.RESOLVED and cleared.details["subject"] == move.move_id
    assert desk.sim.tokenization.mint_posts == {f"mint-{move.move_id}": 1}
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 5 * WAD
    assert _held(await _inventory(desk, "AAPL")) == (Decimal(5), Decimal(5), Decimal(0))


async def _wrap_sent(desk: Desk, proposal_id: str) -> bool:
    move = await move_of(desk, proposal_id)
    wrap = move.intent(MoveStep.WRAPPED) if move is not None else None
    return wrap is not None and wrap.status is IntentStatus.SENT


async def _revoke_wrapper_allowance(world: RaindexWorld, maker: Maker) -> None:
    """The maker takes back the wrapper's allowance on its stock (as a second tool on the same
    key could): the mint's wrap then reverts."""
    node = Rpc(world.url, timeout_s=5.0)
    try:
        signer = ChainSigner(node, maker.key)
        stock = maker.accounts.stocks["AAPL"]
        tx = await signer.sign(
            erc20_approve(stock.token, stock.wrapper, 0), await signer.next_nonce(0)
        )
        await signer.send(tx)

        async def mined() -> bool:
            try:
                receipt = await world.w3.eth.get_transaction_receipt(HexStr(tx.tx_hash))
            except TransactionNotFound:  # not in a block yet
                return False
            return int(receipt["status"]) == 1

        await until(mined, "the allowance taken back", 10)
    finally:
        await node.close()
