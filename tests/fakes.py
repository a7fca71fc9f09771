"""Fakes behind the ports, for unit tests of services (adapters are tested against real peers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from decimal import Decimal

from pegkeeper.backtest.store import (
    MemoryHedgeRepository,
    MemoryLiabilityRepository,
    no_transaction,
)
from pegkeeper.backtest.store_funding import (
    MemoryCollateralRepository,
    MemoryRollRepository,
)
from pegkeeper.domain.errors import ConflictError, NotFound, VenueError
from pegkeeper.domain.instruments import BTC_USD_SWAP, Instrument
from pegkeeper.domain.liability import LedgerEntry, LiabilityEvent
from pegkeeper.domain.operator import OperatorAction, OperatorActionKind
from pegkeeper.domain.orders import Fill, OrderIntent, OrderReport, OrderSide, OrderState
from pegkeeper.domain.quotes import Quote, QuoteNotFound, QuoteState
from pegkeeper.domain.records import PegStatsRow
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


class FakeHedgeRepository(MemoryHedgeRepository):
    """The backtester's in-memory decisions, orders (`states`: every state in order), fills and
    position snapshots, with the store's slot rules."""


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

    async def on_targets(
        self, kind: OperatorActionKind, targets: Sequence[str]
    ) -> list[OperatorAction]:
        return [a for a in self.actions if a.action is kind and a.target in targets]


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
