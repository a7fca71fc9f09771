"""Cash moves across the bridge end to end, on two anvils (bridge_chains.py): the orderbook's
chain and the broker wallet's chain, the CCTP v2 stand-in on each and a local attestation
service. USD at the broker becomes USDC on the wallet's chain, is burned there and minted on
the orderbook's chain with the attestation, then deposited; and back home the other way. An
attestation that never arrives stops the move for an operator; a crash around the burn and
the mint burns once and mints once; every transaction's gas is counted on its own chain; a
mint's fee bump waits for the message it signs again."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import (
    CostKind,
    MoveRecord,
    ProposalStatus,
)
from pegkeeper.domain.equities.moves import (
    HALTS,
    Halt,
    MoveKind,
    MoveStatus,
    MoveStep,
    StepTimeouts,
)
from pegkeeper.sim.brokers.alpaca_wallets import USDC_POSITION
from pegkeeper.sim.raindex.artifacts import Artifact
from tests.anvil_chain import AnvilNode, rpc, running_anvil
from tests.integration.rebalancing.bridge_chains import (
    BRIDGED,
    WALLET_DOMAIN,
    at_step,
    cash_held,
    nonce_of,
    on_both_chains,
    open_bridged_desk,
    sender_of,
    step_sent,
    until_crash,
)
from tests.integration.rebalancing.crash_points import (
    Tapper,
    approve_move,
    move_ended,
    move_of,
)
from tests.integration.rebalancing.harness import (
    DEPOSIT_ADDRESS,
    ETHER_WEI,
    LONG_ONCHAIN,
    USDC_UNITS,
    USDC_VAULT_ID,
    Desk,
)

MINUTE_MS = 60_000
MOVED_UNITS = 4_000 * USDC_UNITS
ETHER_USD = Decimal("3000.5")  # the configured price of the gas token
OpenDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
def wallet_anvil(anvil_binary: Path) -> Iterator[AnvilNode]:
    with running_anvil(anvil_binary) as node:
        yield node


@pytest.fixture
async def wallet_world(
    wallet_anvil: AnvilNode, contracts: dict[str, Artifact]
) -> AsyncIterator[RaindexWorld]:
    """The broker wallet's chain (its orderbook stand-in goes unused)."""
    deployed = RaindexWorld(wallet_anvil.url, contracts)
    await deployed.start()
    try:
        yield deployed
    finally:
        await deployed.close()


@pytest.fixture
async def desks() -> AsyncIterator[list[Desk]]:
    opened: list[Desk] = []
    try:
        yield opened
    finally:
        for desk in opened:
            await desk.close()


@pytest.fixture
def bridged_desk(
    desks: list[Desk], world: RaindexWorld, wallet_world: RaindexWorld, store: SqlStore
) -> OpenDesk:
    """Opens a bridged desk (bridge_chains.open_bridged_desk's options), closed after."""

    async def opened(**options: Any) -> Desk:
        desk = await open_bridged_desk(world, wallet_world, store, **options)
        desks.append(desk)
        return desk

    return opened


async def test_cash_to_chain_crosses_the_bridge(bridged_desk: OpenDesk) -> None:
    # 1 000 USDC in the vault, 9 000 USD at the broker: share 0.1, band 0.4-0.6; the target
    # 0.5 of 10 000 is 5 000 onchain, so 4 000 USD buy 4 000 USDC (at 1.00), withdrawn to the
    # maker on the wallet's chain, burned there, minted on the orderbook's chain, deposited.
    desk = await bridged_desk()
    move = await _moved(desk, MoveKind.CASH_TO_CHAIN)
    bridge = desk.bridge
    assert bridge is not None

    assert move.route.bridged
    assert [s.step for s in move.steps] == [
        MoveStep.CONVERTED,
        MoveStep.WITHDRAWN,
        MoveStep.BURNED,
        MoveStep.BRIDGED,
        MoveStep.DEPOSITED,
        MoveStep.COMPLETED,
    ]
    # each step got the 4 000 (USDC at par, no bridge fee), as its receipt or the broker says
    received = {s.step: s.amount_received for s in move.steps if s.step is not MoveStep.COMPLETED}
    assert set(received.values()) == {Decimal(4_000)}
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == 0
    assert await bridge.wallet_balance(desk.maker.address) == 0
    assert await desk.wallet(desk.usdc) == 0
    # one burn of 4 000 on the wallet's chain, one mint of 4 000 on the orderbook's
    assert await bridge.wallet.burns() == [MOVED_UNITS]
    assert await bridge.orderbook.mints() == [MOVED_UNITS]
    assert (await bridge.orderbook.burns(), await bridge.wallet.mints()) == ([], [])
    # the broker minted 4 000 USDC on the wallet's chain and the bridge burned them: none left
    assert await bridge.wallet_usdc.functions.totalSupply().call() == 0
    # the burn is the maker's on the wallet's chain, the mint and deposit on the orderbook's
    assert await sender_of(bridge.wallet.world, move, MoveStep.BURNED) == desk.maker.address
    for step in (MoveStep.BRIDGED, MoveStep.DEPOSITED):
        assert await sender_of(desk.world, move, step) == desk.maker.address
    await _read_back_at_target(desk)


async def test_cash_home_crosses_the_bridge(bridged_desk: OpenDesk) -> None:
    # 9 000 USDC in the vault, 1 000 USD at the broker: share 0.9; 4 000 USDC are withdrawn
    # from the vault, burned on the orderbook's chain, minted on the wallet's chain, sent to
    # the broker's deposit address there and sold at 1.00: 5 000 USD at the broker.
    desk = await bridged_desk(holdings=LONG_ONCHAIN)
    move = await _moved(desk, MoveKind.CASH_HOME)
    bridge = desk.bridge
    assert bridge is not None

    assert [s.step for s in move.steps] == [
        MoveStep.WITHDRAWN_FROM_VAULT,
        MoveStep.BURNED,
        MoveStep.BRIDGED,
        MoveStep.SENT_TO_BROKER,
        MoveStep.RECEIVED,
        MoveStep.CONVERTED,
        MoveStep.COMPLETED,
    ]
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert await bridge.wallet_balance(DEPOSIT_ADDRESS) == MOVED_UNITS
    assert await desk.wallet(desk.usdc, DEPOSIT_ADDRESS) == 0  # nothing sent on the wrong chain
    assert desk.account.cash_usd == Decimal(5_000)
    assert desk.account.positions[USDC_POSITION].qty == 0
    assert (await desk.wallet(desk.usdc), await bridge.wallet_balance(desk.maker.address)) == (
        0,
        0,
    )
    assert await bridge.orderbook.burns() == [MOVED_UNITS]
    assert await bridge.wallet.mints() == [MOVED_UNITS]
    assert (await bridge.wallet.burns(), await bridge.orderbook.mints()) == ([], [])
    # the orderbook's chain had the 9 000 of the vault and burned 4 000 of them
    assert await desk.usdc.functions.totalSupply().call() == 5_000 * USDC_UNITS
    assert await sender_of(desk.world, move, MoveStep.BURNED) == desk.maker.address
    for step in (MoveStep.BRIDGED, MoveStep.SENT_TO_BROKER):
        assert await sender_of(bridge.wallet.world, move, step) == desk.maker.address
    (incoming,) = [t for t in desk.sim.wallets.transfers.values() if t.direction == "INCOMING"]
    sent = move.intent(MoveStep.SENT_TO_BROKER)
    assert sent is not None and incoming.tx_hash == sent.tx_hash
    await _read_back_at_target(desk)


async def test_an_attestation_that_never_arrives_stops_the_move_until_it_does(
    bridged_desk: OpenDesk,
) -> None:
    # the attestation is expected within a minute of the burn; the service withholds it
    clock = ManualClock(1_700_000_000_000)
    settings = replace(BRIDGED, timeouts=StepTimeouts({MoveStep.BRIDGED: MINUTE_MS}))
    desk = await bridged_desk(clock=clock, settings=settings)
    bridge = desk.bridge
    assert bridge is not None
    bridge.attesters[WALLET_DOMAIN].faults.withhold = True
    proposal_id = await approve_move(desk, MoveKind.CASH_TO_CHAIN)
    await desk.cycles(lambda: at_step(desk, proposal_id, MoveStep.BURNED))
    await desk.rebalancer.cycle()
    move = await move_of(desk, proposal_id)
    assert move is not None and (move.status, move.step) == (MoveStatus.ACTIVE, MoveStep.BURNED)

    clock.advance(61)
    await desk.rebalancer.cycle()
    move = await move_of(desk, proposal_id)
    assert move is not None
    assert (move.status, move.halt, move.step) == (
        MoveStatus.STUCK,
        Halt.ATTESTATION_MISSING,
        MoveStep.BURNED,
    )
    burn = move.intent(MoveStep.BURNED)
    assert burn is not None and burn.tx_hash in (move.error or "")
    (alert,) = await desk.alerted()
    assert alert.kind is AlertKind.REBALANCE_MOVE_HALTED
    assert alert.details == {
        "move_id": move.move_id,
        "asset": CASH_ASSET,
        "halt": "attestation_missing",
    }
    assert f"What to do: {HALTS[Halt.ATTESTATION_MISSING].action}" in alert.message
    # 4 000 left the broker (5 000 USD there), burned and not minted: in flight, not lost
    await desk.rebalancer.cycle()
    await desk.rebalancer.cycle()
    assert cash_held(desk) == (Decimal(1_000), Decimal(5_000), Decimal(4_000))
    assert await bridge.wallet.burns() == [MOVED_UNITS]  # never burned again
    assert await bridge.orderbook.mints() == []
    assert len(await desk.alerted()) == 1  # once, not at every cycle

    bridge.attesters[WALLET_DOMAIN].faults.withhold = False
    await desk.cycles(move_ended(desk, proposal_id))
    move = await move_of(desk, proposal_id)
    assert move is not None and move.status is MoveStatus.COMPLETED, move
    _, cleared = await desk.alerted()
    assert cleared.severity is Severity.RESOLVED and cleared.details["subject"] == move.move_id
    assert await bridge.wallet.burns() == [MOVED_UNITS]
    assert await bridge.orderbook.mints() == [MOVED_UNITS]
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_000)
    await _read_back_at_target(desk)


async def test_crashes_at_the_burn_and_the_mint_burn_once_and_mint_once(
    bridged_desk: OpenDesk,
) -> None:
    # the first process dies right after storing the burn's transaction (before sending
    # it), the second right after sending the mint; the third finishes the move
    first = Tapper(MoveKind.CASH_TO_CHAIN, crash_at="cash_to_chain-after-intent-burned")
    desk = await bridged_desk(tap=on_both_chains(first))
    bridge = desk.bridge
    assert bridge is not None
    orderbook_nonce, _ = await desk.nonces()
    wallet_nonce = await nonce_of(bridge.wallet.world, desk.maker.address)
    assert wallet_nonce == 1  # the messenger's allowance on the wallet's chain, at start
    proposal_id = await approve_move(desk, MoveKind.CASH_TO_CHAIN)

    await until_crash(desk, first)
    assert await bridge.wallet.burns() == []  # stored, never sent
    second = Tapper(MoveKind.CASH_TO_CHAIN, crash_at="cash_to_chain-after-send-bridged")
    second.requests = first.requests
    await desk.restart(on_both_chains(second))
    await until_crash(desk, second)
    assert await bridge.orderbook.mints() == [MOVED_UNITS]  # sent and mined, not recorded
    third = second.fresh()
    await desk.restart(on_both_chains(third))
    await desk.cycles(move_ended(desk, proposal_id))

    move = await move_of(desk, proposal_id)
    assert move is not None and move.status is MoveStatus.COMPLETED, move
    assert not await desk.alerted()
    assert await bridge.wallet.burns() == [MOVED_UNITS]
    assert await bridge.orderbook.mints() == [MOVED_UNITS]
    # each request once: the conversion, the withdrawal, the burn, the mint, the deposit
    assert first.requests == Counter(
        {
            "convert-converted": 1,
            "withdraw_usdc-withdrawn": 1,
            "send-": 1,  # the wallet chain's allowance, by the first process only
            "send-burned": 1,
            "send-bridged": 1,
            "send-deposited": 1,
        }
    )
    # the burn is the maker's second transaction on the wallet's chain; the mint and the
    # deposit its next two on the orderbook's; none pending
    assert await nonce_of(bridge.wallet.world, desk.maker.address) == wallet_nonce + 1
    assert await desk.nonces() == (orderbook_nonce + 2, orderbook_nonce + 2)
    burn, mint = move.intent(MoveStep.BURNED), move.intent(MoveStep.BRIDGED)
    assert burn is not None and mint is not None
    assert (burn.nonce, mint.nonce) == (wallet_nonce, orderbook_nonce)
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_000)
    assert await bridge.wallet_balance(desk.maker.address) == 0
    assert await desk.wallet(desk.usdc) == 0
    assert desk.sim.wallets.withdrawal_posts == 1


async def test_the_gas_of_each_transaction_is_counted_on_its_own_chain(
    bridged_desk: OpenDesk,
) -> None:
    # the move of the first test; gas at 3 000.5 USD an ether on both chains. The burn ran on
    # the wallet's chain, the mint and the deposit on the orderbook's; the conversion was at
    # par (no cost) and the withdrawal's transaction is the broker's (its gas is not ours).
    desk = await bridged_desk(gas_token_price_usd=ETHER_USD)
    move = await _moved(desk, MoveKind.CASH_TO_CHAIN)
    bridge = desk.bridge
    assert bridge is not None

    costs = [c for c in await desk.store.rebalancing.costs(0, 2**62) if c.move_id == move.move_id]
    by_step = {c.step: c for c in costs}
    assert sorted(by_step) == sorted([MoveStep.BURNED, MoveStep.BRIDGED, MoveStep.DEPOSITED])
    assert len(costs) == 3 and all(c.kind is CostKind.GAS for c in costs)
    chains = {
        MoveStep.BURNED: bridge.wallet.world,
        MoveStep.BRIDGED: desk.world,
        MoveStep.DEPOSITED: desk.world,
    }
    for step, world in chains.items():
        intent = move.intent(step)
        assert intent is not None
        receipt = await world.w3.eth.get_transaction_receipt(HexStr(intent.tx_hash))
        wei = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        assert wei > 0
        assert by_step[step].amount_usd == Decimal(wei) / Decimal(ETHER_WEI) * ETHER_USD, step


async def test_a_fast_transfers_bridge_fee_is_a_cost_and_the_rest_is_deposited(
    bridged_desk: OpenDesk,
) -> None:
    # the move of the first test as a fast transfer whose attested fee is 1.5 USDC: 4 000
    # burned on the wallet's chain, 3 998.5 minted on the orderbook's and deposited, and the
    # 1.5 counted among the move's costs (USDC at par)
    fee_units = 1_500_000
    desk = await bridged_desk(fee_units=fee_units)
    move = await _moved(desk, MoveKind.CASH_TO_CHAIN)
    bridge = desk.bridge
    assert bridge is not None

    assert await bridge.wallet.burns() == [MOVED_UNITS]
    assert await bridge.orderbook.mints() == [MOVED_UNITS - fee_units]
    bridged, deposited = move.intent(MoveStep.BRIDGED), move.intent(MoveStep.DEPOSITED)
    assert bridged is not None and deposited is not None
    assert bridged.amount_received == Decimal("3998.5")
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 1_000 * USDC_UNITS + 3_998_500_000
    assert await desk.wallet(desk.usdc) == 0
    costs = [c for c in await desk.store.rebalancing.costs(0, 2**62) if c.move_id == move.move_id]
    (fee,) = [c for c in costs if c.kind is CostKind.FEE]
    assert (fee.step, fee.amount_usd) == (MoveStep.BRIDGED, Decimal("1.5"))
    assert desk.account.cash_usd == Decimal(5_000)


async def test_a_mint_pending_past_its_bump_waits_for_the_message_to_sign_again(
    bridged_desk: OpenDesk,
) -> None:
    # the orderbook's node stops mining as the mint is sent; 121 s later (the bump is due
    # after 120 s) the attestation service withholds the message the new fee needs
    clock = ManualClock(1_700_000_000_000)
    desk = await bridged_desk(clock=clock)
    bridge = desk.bridge
    assert bridge is not None
    rpc(desk.world.url, "evm_setAutomine", [False])
    proposal_id = await approve_move(desk, MoveKind.CASH_TO_CHAIN)
    await desk.cycles(lambda: step_sent(desk, proposal_id, MoveStep.BRIDGED))
    bridge.attesters[WALLET_DOMAIN].faults.withhold = True
    clock.advance(121)

    await desk.rebalancer.cycle()  # the bump cannot be signed yet: the move waits
    move = await move_of(desk, proposal_id)
    assert move is not None and (move.status, move.step) == (MoveStatus.ACTIVE, MoveStep.BURNED)
    mint = move.intent(MoveStep.BRIDGED)
    assert mint is not None and mint.replaced_tx_hashes == ()

    bridge.attesters[WALLET_DOMAIN].faults.withhold = False
    await desk.rebalancer.cycle()  # the same call, the same nonce, a higher fee
    move = await move_of(desk, proposal_id)
    assert move is not None
    bumped = move.intent(MoveStep.BRIDGED)
    assert bumped is not None and bumped.replaced_tx_hashes == (mint.tx_hash,)
    assert bumped.nonce == mint.nonce
    rpc(desk.world.url, "evm_setAutomine", [True])
    rpc(desk.world.url, "evm_mine", [])
    await desk.cycles(move_ended(desk, proposal_id))
    move = await move_of(desk, proposal_id)
    assert move is not None and move.status is MoveStatus.COMPLETED, move
    assert await bridge.orderbook.mints() == [MOVED_UNITS]  # one of the two was mined
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_000 * USDC_UNITS


# helpers


async def _moved(desk: Desk, kind: MoveKind) -> MoveRecord:
    """The proposal of `kind` approved (4 000 USD of cash) and its move run to its end."""
    proposal_id = await approve_move(desk, kind)
    record = await desk.store.rebalancing.proposal(proposal_id)
    assert record is not None and record.proposal.amount == Decimal(4_000)
    await desk.cycles(move_ended(desk, proposal_id))
    move = await move_of(desk, proposal_id)
    assert move is not None
    assert move.status is MoveStatus.COMPLETED, (move.status, move.halt, move.error)
    return move


async def _read_back_at_target(desk: Desk) -> None:
    """The next reading: 5 000 on each side, nothing in flight, nothing proposed."""
    await desk.rebalancer.cycle()
    assert cash_held(desk) == (Decimal(5_000), Decimal(5_000), Decimal(0))
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    assert [p for p in proposals if p.proposal.asset == CASH_ASSET] == []
