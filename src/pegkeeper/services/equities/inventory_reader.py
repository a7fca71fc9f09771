"""Reads the rebalancer's inventory: the vault balances at one pinned block (wrapped stock
converted to shares at that block), the broker's positions and cash stamped before they are
asked for, and the moves in flight, into the domain's view; and the hedges the broker cannot
take now for want of shares or cash (what a proposal should unblock).

The broker's cash is its dollars and the USDC it holds (1 USDC counted as 1 USD, as onchain):
USDC bought for a move to the chain is still there until its withdrawal is asked for, and
USDC back from a FAILED withdrawal or arrived from the chain is there again. The view keeps
that USDC apart too: a conversion to the chain spends only the dollars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from pegkeeper.domain.equities.inventory import (
    CASH_ASSET,
    BrokerReading,
    InventoryView,
    MoveLeg,
    OnchainReading,
    broker_trade_changes,
    inventory_view,
)
from pegkeeper.domain.equities.move_records import IntentStatus, InventorySnapshot, MoveRecord
from pegkeeper.domain.equities.moves import MoveKind, MoveStep
from pegkeeper.domain.equities.pnl import Trade, TradeCursor, TradeSource
from pegkeeper.domain.equities.proposals import AssetPolicy, BlockedHedge, blocked_buy, blocked_sell
from pegkeeper.domain.units import stock_units_to_shares, usdc_units_to_usdc
from pegkeeper.ports import Broker, Clock, EquityRepository
from pegkeeper.ports.inventory import ChainBalances, InventoryBroker
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.equities.rebalance_calls import ChainCalls

ZERO = Decimal(0)
RECENT_MS = 60_000  # broker fills this long before a reading are kept to compare with it
_BPS = Decimal(10_000)
# (left the source once this step is done, arrived once this one is) per kind
_LEGS = {
    MoveKind.MINT: (MoveStep.REQUESTED, MoveStep.DEPOSITED),
    MoveKind.REDEEM: (MoveStep.WITHDRAWN_FROM_VAULT, MoveStep.COMPLETED),
    MoveKind.CASH_TO_CHAIN: (MoveStep.WITHDRAWN, MoveStep.DEPOSITED),
    MoveKind.CASH_HOME: (MoveStep.WITHDRAWN_FROM_VAULT, MoveStep.RECEIVED),
}
# the broker takes the amount as it takes the request: gone once the request is sent
_TAKEN_WITH_REQUEST = frozenset({MoveStep.WITHDRAWN})


class InventoryReader:
    def __init__(
        self,
        calls: ChainCalls,
        balances: ChainBalances,
        broker: Broker,
        equities: EquityRepository,
        repository: RebalanceRepository,
        clock: Clock,
        *,
        owner: str,
        wallet: InventoryBroker,
        buy_margin_bps: Decimal = Decimal(50),
    ) -> None:
        """`owner`: whose vaults (the maker's address); `wallet`: the broker's USDC;
        `buy_margin_bps`: a buy's cash margin over its last price, as preflight estimates
        it."""
        self._wallet = wallet
        self._calls = calls
        self._balances = balances
        self._broker = broker
        self._equities = equities
        self._repository = repository
        self._clock = clock
        self._owner = owner
        self._buy_margin_bps = buy_margin_bps
        self._cursor = TradeCursor()  # the equity store's trades read so far
        self._broker_trades: list[Trade] = []  # recent ones: newer than a reading, maybe

    async def read(
        self, moves: Sequence[MoveRecord], policies: Mapping[str, AssetPolicy]
    ) -> tuple[InventoryView, list[BlockedHedge]]:
        """The view (stored for the dashboard) and the blocked hedges. Moves' steps are
        recorded before the readings are stamped: a leg counts as in flight only while it
        has left and not arrived."""
        onchain = await self._onchain()
        stamp_ms = self._clock.now_ms()
        positions = await self._broker.positions()
        account = await self._broker.account()
        usdc = await self._wallet.usdc_balance()
        answered_ms = self._clock.now_ms()
        broker = [
            BrokerReading(
                symbol,
                positions[symbol].quantity if symbol in positions else ZERO,
                stamp_ms,
                answered_ms,
            )
            for symbol in self._calls.accounts.stocks
        ]
        cash = account.cash_usd + usdc
        broker.append(BrokerReading(CASH_ASSET, cash, stamp_ms, answered_ms))
        changes = [
            change
            for trade in await self._broker_trades_since(stamp_ms - RECENT_MS)
            for change in broker_trade_changes(trade)
        ]
        legs = [_leg(m) for m in moves]
        view = replace(inventory_view(onchain, broker, changes, legs), broker_usdc=usdc)
        await self._store(view, policies)
        available = {s: p.available for s, p in positions.items()}
        return view, await self._blocked(available, account.cash_usd)  # buys take dollars

    async def _broker_trades_since(self, since_ms: int) -> list[Trade]:
        """The hedges' broker fills of the configured symbols at or after `since_ms`: a fill
        newer than the reading is applied to it, one during the request makes the reading
        ambiguous (the domain's rule). Onchain fills are never newer than the pinned block:
        ingestion reads behind the head."""
        read = await self._equities.trades_after(self._cursor)
        if read.cursor.reverted != self._cursor.reverted:
            self._broker_trades = []  # a revert: everything was read again
        self._cursor = read.cursor
        stocks = self._calls.accounts.stocks
        self._broker_trades += [
            trade
            for _, trade in read.keyed
            if trade.source is TradeSource.BROKER and trade.symbol in stocks
        ]
        self._broker_trades = [t for t in self._broker_trades if t.ts_ms >= since_ms]
        return self._broker_trades

    async def _onchain(self) -> list[OnchainReading]:
        block = await self._balances.pin()
        readings = []
        for symbol, stock in self._calls.accounts.stocks.items():
            held = await self._balances.vault_balance(
                self._owner, stock.vault_token, stock.vault_id, block
            )
            if stock.wrapper and held:
                held = await self._balances.wrapper_assets(stock.wrapper, held, block)
            readings.append(OnchainReading(symbol, stock_units_to_shares(held), block))
        usdc = await self._balances.vault_balance(
            self._owner, self._calls.usdc, self._calls.usdc_vault_id, block
        )
        readings.append(OnchainReading(CASH_ASSET, usdc_units_to_usdc(usdc), block))
        return readings

    async def _blocked(self, available: Mapping[str, Decimal], cash: Decimal) -> list[BlockedHedge]:
        """Each symbol's open exposure as the hedge it calls for, when the broker lacks the
        shares (a sell) or the cash (a buy) for it."""
        blocked = []
        exposures = await self._equities.exposures()
        for symbol in self._calls.accounts.stocks:
            exposure = exposures.get(symbol)
            if exposure is None or exposure.exposure == 0:
                continue
            quantity = abs(exposure.exposure)
            if exposure.exposure > 0 and available.get(symbol, ZERO) < quantity:
                blocked.append(blocked_sell(symbol, quantity))
            price = exposure.last_price_usd
            if exposure.exposure < 0 and price is not None:
                cost = quantity * price * (1 + self._buy_margin_bps / _BPS)
                if cash < cost:
                    blocked.append(blocked_buy(symbol, quantity, cost))
        return blocked

    async def _store(self, view: InventoryView, policies: Mapping[str, AssetPolicy]) -> None:
        now_ms = self._clock.now_ms()
        snapshots = []
        for asset, inv in view.assets.items():
            band = policies[asset].band
            snapshots.append(
                InventorySnapshot(
                    asset=asset,
                    onchain=inv.onchain,
                    broker=inv.broker,
                    in_flight=inv.in_flight_to_chain + inv.in_flight_to_broker,
                    onchain_share=inv.onchain_share,
                    target=band.target,
                    deviation=band.deviation,
                    block_number=inv.block_number,
                    broker_stamp_ms=inv.broker_stamp_ms,
                    created_at_ms=now_ms,
                )
            )
        await self._repository.record_inventory(snapshots)


def _leg(move: MoveRecord) -> MoveLeg:
    """A move's amount in flight. Every step was recorded before this cycle's readings, so
    its change is in them: a done step is stamped as old (block 0, ms 0 here) and only the
    amount between departure and arrival is counted, as in flight."""
    left_step, arrived_step = _LEGS[move.kind]
    sequence = move.plan.sequence
    done = sequence.index(move.step)
    left = left_step in sequence and sequence.index(left_step) <= done
    if left_step in _TAKEN_WITH_REQUEST:
        intent = move.intent(left_step)
        left = left or (intent is not None and intent.status is not IntentStatus.INTENDED)
    arrived = arrived_step in sequence and sequence.index(arrived_step) <= done
    return MoveLeg(
        move_id=move.move_id,
        asset=move.asset,
        direction=move.kind.direction,
        amount_left=move.amount,
        left_at=0 if left else None,
        amount_arrived=move.amount if arrived else None,
        arrived_at=0 if arrived else None,
    )
