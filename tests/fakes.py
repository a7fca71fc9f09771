"""Fakes behind the ports, for unit tests of services (adapters are tested against real peers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from decimal import Decimal

from pegkeeper.backtest.store import MemoryLiabilityRepository, no_transaction
from pegkeeper.backtest.store_funding import (
    MemoryCollateralRepository,
    MemoryRollRepository,
    MemorySlots,
)
from pegkeeper.domain.errors import ConflictError, NotFound, VenueError
from pegkeeper.domain.instruments import BTC_USD_SWAP, Instrument
from pegkeeper.domain.liability import LedgerEntry, LiabilityEvent
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind
from pegkeeper.domain.orders import Fill, OrderIntent, OrderReport, OrderSide, OrderState
from pegkeeper.domain.quotes import Quote, QuoteNotFound, QuoteState
from pegkeeper.domain.records import DecisionRecord, OrderRecord, PegStatsRow, PositionSnapshot
from pegkeeper.domain.venue import VenueBalances, VenuePosition, VenueResync


class FakeLiabilityRepository(MemoryLiabilityRepository):
    """The backtester's in-memory ledger, with its one rule (domain.liability.next_event)."""


class FakeQuoteRepository:
    """Quotes in memory; the ledger entry of an accept is appended to `ledger` first, so a
    refused entry leaves the quote as it was."""

    def __init__(self, ledger: FakeLiabilityRepository) -> None:
        self.ledger = ledger
        self.quotes: dict[str, Quote] = {}
        self.history: list[tuple[str, str, int]] = []  # (quote_id, kind, created_at_ms)

    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        event = None
        if entry is not None:
            event, _ = await self.ledger.append(entry.change, entry.correlation_id, entry.now_ms)
        self.quotes[quote.quote_id] = quote
        self.history.append((quote.quote_id, "created", quote.created_at_ms))
        if entry is not None:
            self.history.append((quote.quote_id, "accepted", quote.created_at_ms))
        return event

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        quote = self.quotes.get(quote_id)
        if quote is None:
            raise QuoteNotFound(f"no quote with id {quote_id}")
        quote.check_acceptable(now_ms)
        event, created = await self.ledger.append(entry.change, entry.correlation_id, entry.now_ms)
        accepted = replace(quote, state=QuoteState.ACCEPTED, accepted_at_ms=now_ms)
        self.quotes[quote_id] = accepted
        self.history.append((quote_id, "accepted", now_ms))
        return accepted, event, created

    async def get(self, quote_id: str) -> Quote | None:
        return self.quotes.get(quote_id)

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        return [(kind, ms) for qid, kind, ms in self.history if qid == quote_id]


class FakeHedgeRepository:
    def __init__(self) -> None:
        self.decisions: list[DecisionRecord] = []
        self.orders: dict[str, OrderRecord] = {}
        self.states: list[tuple[str, OrderState]] = []
        self.fills: dict[str, tuple[Fill, str]] = {}
        self.snapshots: list[PositionSnapshot] = []
        self.slots = MemorySlots()

    async def record_decision(
        self,
        decision: DecisionRecord,
        order: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
    ) -> None:
        if order is not None:
            await self.create_order(order, slot_version)
        self.decisions.append(decision)

    async def slot_version(self, slot: str) -> int:
        return self.slots.version(slot)

    async def last_decision(self) -> DecisionRecord | None:
        return self.decisions[-1] if self.decisions else None

    async def get_decision(self, decision_id: str) -> DecisionRecord | None:
        return next((d for d in self.decisions if d.decision_id == decision_id), None)

    async def create_order(self, intent: OrderIntent, slot_version: int | None = None) -> None:
        if intent.client_order_id in self.orders:
            raise ConflictError(f"order {intent.client_order_id} exists")
        self.slots.claim(intent.slot, intent.client_order_id, slot_version)
        self.orders[intent.client_order_id] = OrderRecord(
            intent, OrderState.CREATED, intent.created_at_ms, "", Decimal(0), None, ""
        )
        self.states.append((intent.client_order_id, OrderState.CREATED))

    async def record_order_state(
        self,
        client_order_id: str,
        state: OrderState,
        now_ms: int,
        *,
        venue_order_id: str = "",
        filled_contracts: Decimal = Decimal(0),
        avg_price_usd: Decimal | None = None,
        message: str = "",
        fills: Sequence[Fill] = (),
    ) -> None:
        record = self.orders[client_order_id]
        await self.record_fills(list(fills), record.intent.correlation_id)
        self.orders[client_order_id] = replace(
            record,
            state=state,
            updated_at_ms=now_ms,
            venue_order_id=venue_order_id,
            filled_contracts=filled_contracts,
            avg_price_usd=avg_price_usd,
            message=message,
        )
        self.states.append((client_order_id, state))
        if state.is_terminal:
            self.slots.release(record.intent.slot, client_order_id)

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        new = [f for f in fills if f.fill_id not in self.fills]
        for f in new:
            self.fills[f.fill_id] = (f, correlation_id)
        return len(new)

    async def get_order(self, client_order_id: str) -> OrderRecord | None:
        return self.orders.get(client_order_id)

    async def open_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders.values() if not o.state.is_terminal]

    async def recent_orders(self, limit: int) -> list[OrderRecord]:
        return list(reversed(self.orders.values()))[:limit]

    async def fills_for(self, client_order_id: str) -> list[Fill]:
        return [f for f, _ in self.fills.values() if f.client_order_id == client_order_id]

    async def record_position(self, snapshot: PositionSnapshot) -> None:
        self.snapshots.append(snapshot)

    async def last_position(self) -> PositionSnapshot | None:
        return self.snapshots[-1] if self.snapshots else None


class FakePegRepository:
    def __init__(self) -> None:
        self.rows: list[PegStatsRow] = []

    async def record(self, rows: Sequence[PegStatsRow]) -> None:
        self.rows.extend(rows)

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        rows = [r for r in self.rows if r.symbol == symbol and since_ms <= r.ts_ms <= until_ms]
        return rows[-max_points:]

    async def downsample(self, older_than_ms: int) -> int:
        return 0


class FakeOperatorActionRepository:
    def __init__(self) -> None:
        self.actions: list[OperatorAction] = []

    async def record(self, action: OperatorAction) -> None:
        if any(a.action_id == action.action_id for a in self.actions):
            raise ConflictError(f"operator action {action.action_id} exists")
        self.actions.append(action)

    async def recent(self, limit: int) -> list[OperatorAction]:
        return list(reversed(self.actions))[:limit]

    async def last_of(self, kinds: Sequence[OperatorActionKind]) -> OperatorAction | None:
        return next((a for a in reversed(self.actions) if a.action in kinds), None)


FakeCollateralRepository = MemoryCollateralRepository
FakeRollRepository = MemoryRollRepository


class FakeStore:
    def __init__(self) -> None:
        self.liability = FakeLiabilityRepository()
        self.hedge = FakeHedgeRepository()
        self.pegs = FakePegRepository()
        self.quotes = FakeQuoteRepository(self.liability)
        self.funding = FakeCollateralRepository()
        self.rolls = FakeRollRepository(self.hedge)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """In memory every write is at once; a unit of work groups nothing."""
        return no_transaction()

    async def close(self) -> None:
        return None


class RecordingSink:
    """An alert sink that keeps what it is given (or fails, when told to)."""

    def __init__(self) -> None:
        self.delivered: list[object] = []
        self.fail_with: Exception | None = None

    async def deliver(self, alert: object) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.delivered.append(alert)


class FakeVenue:
    """An inverse swap that fills market orders at `price_usd`, with switchable faults."""

    name = "fake"

    def __init__(self, price_usd: Decimal = Decimal(10_000)) -> None:
        self.price_usd = price_usd
        self.size_contracts = Decimal(0)
        self.available_btc = Decimal(1)  # margin the trading account can still commit
        self.orders: dict[str, OrderReport] = {}
        self.sent: list[OrderIntent] = []
        self.fail_next: VenueError | None = None
        self.accept_then_fail_next: VenueError | None = None
        self.changes: asyncio.Queue[VenuePosition | VenueResync] = asyncio.Queue()

    async def instrument(self, instrument_id: str) -> Instrument:
        return BTC_USD_SWAP

    async def position(self, instrument_id: str) -> VenuePosition:
        return VenuePosition(instrument_id, self.size_contracts, self.price_usd, self.price_usd)

    async def balances(self, currency: str) -> VenueBalances:
        return VenueBalances("BTC", Decimal(1), self.available_btc, Decimal(0))

    async def place_market_order(self, intent: OrderIntent) -> OrderReport:
        self.sent.append(intent)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        signed = intent.size_contracts if intent.side is OrderSide.BUY else -intent.size_contracts
        report = self._fill(intent.client_order_id, signed)
        if self.accept_then_fail_next is not None:
            error, self.accept_then_fail_next = self.accept_then_fail_next, None
            raise error
        return report

    async def place_limit_order(self, intent: OrderIntent) -> OrderReport:
        """Rests (accepted, unfilled) until canceled."""
        self.sent.append(intent)
        report = OrderReport(intent.client_order_id, f"v{len(self.orders)}", OrderState.ACCEPTED)
        self.orders[intent.client_order_id] = report
        return report

    async def close_position(self, intent: OrderIntent) -> OrderReport:
        self.sent.append(intent)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return self._fill(intent.client_order_id, -self.size_contracts)

    def _fill(self, client_order_id: str, signed_contracts: Decimal) -> OrderReport:
        self.size_contracts += signed_contracts
        fill = Fill(
            f"f{len(self.orders)}",
            client_order_id,
            abs(signed_contracts),
            self.price_usd,
            Decimal("0.00000005"),
            "BTC",
            0,
        )
        report = OrderReport(
            client_order_id,
            f"v{len(self.orders)}",
            OrderState.FILLED,
            abs(signed_contracts),
            self.price_usd,
            (fill,),
        )
        self.orders[client_order_id] = report
        self.changes.put_nowait(
            VenuePosition("BTC-USD-SWAP", self.size_contracts, self.price_usd, self.price_usd)
        )
        return report

    async def order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        if client_order_id not in self.orders:
            raise NotFound(f"order {client_order_id} does not exist", code="51603")
        return self.orders[client_order_id]

    async def open_orders(self, instrument_id: str) -> list[OrderReport]:
        return [o for o in self.orders.values() if not o.state.is_terminal]

    async def cancel_order(self, instrument_id: str, client_order_id: str) -> OrderReport:
        report = await self.order(instrument_id, client_order_id)
        canceled = replace(report, state=OrderState.CANCELED)
        self.orders[client_order_id] = canceled
        return canceled

    async def position_changes(
        self, instrument_id: str
    ) -> AsyncIterator[VenuePosition | VenueResync]:
        while True:
            yield await self.changes.get()
