"""The drift of "Done when" (issue 18): one symbol traded onchain all day the same way.

Sold onchain: each sale takes AAPL out of the maker's vault and puts USDC in (the orderbook
stand-in's settleFill, as a taker's fill settles), and the equity hedger buys the shares back
at the broker with its cash, until the cash runs out and a buy is blocked. The rebalancer
proposes bringing cash home, naming the blocked buy; executed, it leaves the broker the cash
for the buy, and hedging resumes.

Bought onchain (takers selling AAPL to the maker): each fill puts AAPL into the vault, and the
hedger sells the shares at the broker until it has none left and a sell is blocked. The
rebalancer proposes a redeem naming the blocked sell; executed, it brings the shares to the
broker, and the sell goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from web3 import Web3

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.equities.inventory import CASH_ASSET, Direction
from pegkeeper.domain.equities.move_records import ProposalRecord, ProposalStatus
from pegkeeper.domain.equities.moves import MoveKind, MoveStatus
from pegkeeper.services.equities.hedger import EquityHedger, EquityHedgerSettings
from tests.integration.rebalancing.crash_points import move_ended, move_of
from tests.integration.rebalancing.harness import (
    AAPL_PRICE,
    AAPL_VAULT_ID,
    USDC_UNITS,
    USDC_VAULT_ID,
    WAD,
    Desk,
    Holdings,
    open_desk,
)
from tests.integration.store.equity_records import bought, ingest, sold

SHARES_PER_SALE = 2
SALE_USD = SHARES_PER_SALE * AAPL_PRICE  # 380 USDC a sale, 380 USD a hedge
# both assets in the middle of their band at the start of the day
START = Holdings(Decimal(30), Decimal(30), Decimal(5_000), Decimal(5_000))


@pytest.fixture
async def desk(world: RaindexWorld, store: SqlStore) -> AsyncIterator[Desk]:
    opened = await open_desk(world, store, START)
    try:
        yield opened
    finally:
        await opened.close()


def _hedger(desk: Desk) -> EquityHedger:
    assert desk.process is not None
    return EquityHedger(
        desk.store.equities,
        desk.process.broker,
        desk.clock,
        EquityHedgerSettings(),
        symbols=("AAPL",),
    )


async def test_a_day_of_onchain_sales_ends_with_cash_home_and_the_buy_hedged(desk: Desk) -> None:
    hedger = _hedger(desk)
    # sales hedged while the broker's 5 000 USD last: 13 buys of 380 leave 60 USD, and the
    # 14th sale's buy (380, 381.90 with the 50 bps margin preflight adds) is refused
    for sale in range(1, 15):
        await _sell_onchain(desk, sale)
        await hedger.cycle("onchain fill")
        await desk.rebalancer.cycle()
    assert desk.account.cash_usd == Decimal(60)
    assert desk.account.positions["AAPL"].qty == Decimal(30 + 26)
    exposure = (await desk.store.equities.exposures())["AAPL"]
    assert exposure.exposure == -SHARES_PER_SALE  # the 14th sale is not hedged

    # onchain 5 000 + 14 x 380 = 10 320 USDC, 60 USD at the broker: the target 0.5 of
    # 10 380 is 5 190 onchain, so 5 130 go home (more than the 321.90 the buy lacks)
    proposal = await _open_cash_proposal(desk)
    assert proposal.proposal.unblocks == (f"buy {SHARES_PER_SALE} AAPL",)
    assert proposal.proposal.direction is Direction.TO_BROKER
    assert proposal.proposal.amount == Decimal(5_130)

    await desk.store.rebalancing.set_switch(CASH_ASSET, True, "ops", 1)
    await desk.store.rebalancing.set_switch(None, True, "ops", 1)
    await desk.cycles(move_ended(desk, proposal.proposal_id))
    move = await move_of(desk, proposal.proposal_id)
    assert move is not None
    assert (move.kind, move.status) == (MoveKind.CASH_HOME, MoveStatus.COMPLETED)
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == 5_190 * USDC_UNITS
    assert desk.account.cash_usd == Decimal(5_190)

    moves = await desk.store.rebalancing.active_moves()
    _, blocked = await desk.process.reader.read(moves, desk.settings.policies)  # type: ignore[union-attr]
    assert blocked == []
    for _ in range(5):  # the buy is sent, then found filled
        await hedger.cycle("recheck")
        if (await desk.store.equities.exposures())["AAPL"].exposure == 0:
            break
    assert (await desk.store.equities.exposures())["AAPL"].exposure == 0
    assert desk.account.cash_usd == Decimal(5_190) - SALE_USD
    assert desk.account.positions["AAPL"].qty == Decimal(30 + 28)
    # the AAPL sold onchain left the vault: 30 - 28 shares
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 2 * WAD


async def _sell_onchain(desk: Desk, sale: int) -> None:
    """A taker buys SHARES_PER_SALE AAPL from the maker's vault for SALE_USD USDC, settled on
    the chain and recorded as the onchain fill chain ingestion would record."""
    world, book = desk.world, desk.world.orderbook
    usdc_units = int(SALE_USD * USDC_UNITS)
    await world.send(desk.usdc.functions.mint(book.address, usdc_units))
    owner = world.w3.to_checksum_address(desk.maker.address)
    await world.send(
        book.functions.settleFill(
            owner,
            desk.usdc.address,
            USDC_VAULT_ID,
            usdc_units,
            desk.wrapper.address,
            AAPL_VAULT_ID,
            SHARES_PER_SALE * WAD,
        )
    )
    fill = sold(sale, 0, str(SHARES_PER_SALE), str(SALE_USD))
    await ingest(desk.store.equities, sale, fill)


async def _open_cash_proposal(desk: Desk) -> ProposalRecord:
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    (cash,) = [p for p in proposals if p.proposal.asset == CASH_ASSET]
    return cash


@pytest.fixture
async def cash_heavy_desk(world: RaindexWorld, store: SqlStore) -> AsyncIterator[Desk]:
    opened = await open_desk(
        world, store, Holdings(Decimal(30), Decimal(30), Decimal(9_700), Decimal(300))
    )
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_buy_blocked_after_a_like_sized_proposal_is_named_in_a_new_one(
    cash_heavy_desk: Desk,
) -> None:
    desk = cash_heavy_desk
    # 9 700 USDC onchain, 300 USD at the broker: share 0.97, 4 700 home to the target 5 000
    await desk.rebalancer.cycle()
    first = await _open_cash_proposal(desk)
    assert (first.proposal.amount, first.proposal.unblocks) == (Decimal(4_700), ())

    # a sale the broker cannot hedge: 381.90 needed, 300 there. 4 890 home now (the target
    # of 10 380 is 5 190), within 5 % of the open 4 700, but this one frees the buy
    await _sell_onchain(desk, 1)
    await desk.rebalancer.cycle()
    second = await _open_cash_proposal(desk)
    assert second.proposal_id != first.proposal_id
    assert second.proposal.amount == Decimal(4_890)
    assert second.proposal.unblocks == (f"buy {SHARES_PER_SALE} AAPL",)


# AAPL in the middle of its band; more USDC than a day of onchain buys spends
STOCK_START = Holdings(Decimal(10), Decimal(10), Decimal(5_000), Decimal(5_000))


@pytest.fixture
async def stock_desk(world: RaindexWorld, store: SqlStore) -> AsyncIterator[Desk]:
    opened = await open_desk(world, store, STOCK_START)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_day_of_onchain_buys_ends_with_a_redeem_and_the_sell_hedged(
    stock_desk: Desk,
) -> None:
    desk, hedger = stock_desk, _hedger(stock_desk)
    # buys hedged while the broker's 10 shares last: 5 sells of 2 leave none, and the 6th
    # buy's sell (2 shares, 0 there) is refused
    for buy in range(1, 7):
        await _buy_onchain(desk, buy)
        await hedger.cycle("onchain fill")
        await desk.rebalancer.cycle()
    assert desk.account.positions["AAPL"].qty == 0
    assert desk.account.cash_usd == Decimal(5_000) + 5 * SALE_USD
    exposure = (await desk.store.equities.exposures())["AAPL"]
    assert exposure.exposure == SHARES_PER_SALE  # the 6th buy is not hedged

    # onchain 10 + 6 x 2 = 22 shares, none at the broker: the target 0.5 of 22 is 11
    # onchain, so 11 are redeemed (more than the 2 the sell lacks)
    proposals = await desk.store.rebalancing.proposals((ProposalStatus.PROPOSED,))
    (proposal,) = [p for p in proposals if p.proposal.asset == "AAPL"]
    assert proposal.proposal.kind is MoveKind.REDEEM
    assert proposal.proposal.amount == Decimal(11)
    assert proposal.proposal.unblocks == (f"sell {SHARES_PER_SALE} AAPL",)
    assert f"sell {SHARES_PER_SALE} AAPL blocked" in proposal.proposal.reason

    await desk.store.rebalancing.set_switch("AAPL", True, "ops", 1)
    await desk.store.rebalancing.set_switch(None, True, "ops", 1)
    await desk.cycles(move_ended(desk, proposal.proposal_id))
    move = await move_of(desk, proposal.proposal_id)
    assert move is not None
    assert (move.kind, move.status) == (MoveKind.REDEEM, MoveStatus.COMPLETED)
    assert await desk.vault(desk.wrapper, AAPL_VAULT_ID) == 11 * WAD
    assert desk.account.positions["AAPL"].qty == Decimal(11)
    # the cash stays where it was: only AAPL is switched on
    assert await desk.vault(desk.usdc, USDC_VAULT_ID) == (5_000 - 6 * 380) * USDC_UNITS

    moves = await desk.store.rebalancing.active_moves()
    _, blocked = await desk.process.reader.read(moves, desk.settings.policies)  # type: ignore[union-attr]
    assert blocked == []
    for _ in range(5):  # the sell is sent, then found filled
        await hedger.cycle("recheck")
        if (await desk.store.equities.exposures())["AAPL"].exposure == 0:
            break
    assert (await desk.store.equities.exposures())["AAPL"].exposure == 0
    assert desk.account.positions["AAPL"].qty == Decimal(11 - SHARES_PER_SALE)
    assert desk.account.cash_usd == Decimal(5_000) + 6 * SALE_USD


async def _buy_onchain(desk: Desk, buy: int) -> None:
    """A taker sells SHARES_PER_SALE AAPL (wrapped) into the maker's vault for SALE_USD USDC,
    settled on the chain and recorded as the onchain fill chain ingestion would record."""
    world, book = desk.world, desk.world.orderbook
    units = SHARES_PER_SALE * WAD
    await world.send(desk.aapl.functions.mint(world.account, units))
    await world.send(desk.aapl.functions.approve(desk.wrapper.address, units))
    await world.send(desk.wrapper.functions.deposit(units, book.address))
    owner = Web3.to_checksum_address(desk.maker.address)
    await world.send(
        book.functions.settleFill(
            owner,
            desk.wrapper.address,
            AAPL_VAULT_ID,
            units,
            desk.usdc.address,
            USDC_VAULT_ID,
            int(SALE_USD * USDC_UNITS),
        )
    )
    fill = bought(buy, 0, str(SHARES_PER_SALE), str(SALE_USD))
    await ingest(desk.store.equities, buy, fill)
