"""The store's ports in memory, for backtests.

A backtest is a simulation from start to end in one process: nothing in it must survive a
restart, and writing every decision to a database would cost more than the simulation. These
repositories keep what the services write in plain Python structures, with the same contracts
as the SQL ones (idempotent appends, open orders, the ledger's refusal to go below zero), and
keep the lookups the hedger makes on every cycle constant-time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from decimal import Decimal

from pegkeeper.backtest.store_funding import (
    MemoryCollateralRepository,
    MemoryRollRepository,
    MemorySlots,
)
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange, LiabilityEvent, next_event
from pegkeeper.domain.orders import Fill, OrderIntent, OrderState
from pegkeeper.domain.quotes import Quote, QuoteNotFound, QuoteState
from pegkeeper.domain.records import (
    DecisionRecord,
    LiabilityCover,
    OrderRecord,
    PegStatsRow,
    PositionSnapshot,
)
from pegkeeper.ports import (
    CollateralRepository,
    HedgeRepository,
    LiabilityRepository,
    PegRepository,
    QuoteRepository,
    RollRepository,
)


class MemoryLiabilityRepository:
    def __init__(self) -> None:
        self.events: list[LiabilityEvent] = []
        self._by_id: dict[str, LiabilityEvent] = {}

    async def append(
        self, change: LiabilityChange, correlation_id: str, now_ms: int
    ) -> tuple[LiabilityEvent, bool]:
        last = self.events[-1] if self.events else None
        entry = LedgerEntry(change, correlation_id, now_ms)
        event, created = next_event(last, self._by_id.get(change.event_id), entry)
        if not created:
            return event, False
        self.events.append(event)
        self._by_id[event.event_id] = event
        return event, True

    def balance(self) -> int:
        return self.events[-1].balance_after_cents if self.events else 0

    async def balance_cents(self) -> int:
        return self.balance()

    async def get(self, event_id: str) -> LiabilityEvent | None:
        return self._by_id.get(event_id)

    async def recent(self, limit: int) -> list[LiabilityEvent]:
        return self.events[: -limit - 1 : -1] if limit > 0 else []


class MemoryQuoteRepository:
    def __init__(self, ledger: MemoryLiabilityRepository) -> None:
        self._ledger = ledger
        self._quotes: dict[str, Quote] = {}
        self._events: dict[str, list[tuple[str, int]]] = {}

    async def create(self, quote: Quote, entry: LedgerEntry | None = None) -> LiabilityEvent | None:
        event = None
        if entry is not None:
            event, _ = await self._ledger.append(entry.change, entry.correlation_id, entry.now_ms)
        self._quotes[quote.quote_id] = quote
        self._events[quote.quote_id] = [("created", quote.created_at_ms)]
        if entry is not None:
            self._events[quote.quote_id].append(("accepted", quote.created_at_ms))
        return event

    async def accept(
        self, quote_id: str, now_ms: int, entry: LedgerEntry
    ) -> tuple[Quote, LiabilityEvent, bool]:
        quote = self._quotes.get(quote_id)
        if quote is None:
            raise QuoteNotFound(f"no quote with id {quote_id}")
        quote.check_acceptable(now_ms)
        event, created = await self._ledger.append(entry.change, entry.correlation_id, now_ms)
        accepted = replace(quote, state=QuoteState.ACCEPTED, accepted_at_ms=now_ms)
        self._quotes[quote_id] = accepted
        self._events[quote_id].append(("accepted", now_ms))
        return accepted, event, created

    async def get(self, quote_id: str) -> Quote | None:
        return self._quotes.get(quote_id)

    async def events(self, quote_id: str) -> list[tuple[str, int]]:
        return list(self._events.get(quote_id, []))


class MemoryHedgeRepository:
    def __init__(self) -> None:
        self.decisions: list[DecisionRecord] = []
        self.orders: dict[str, OrderRecord] = {}
        self._open: dict[str, OrderRecord] = {}
        self.states: list[tuple[str, OrderState]] = []  # every state recorded, in order
        self._fills: dict[str, Fill] = {}
        self.snapshots: list[PositionSnapshot] = []
        self.slots = MemorySlots()
        self._covered_seq: dict[str, int] = {}  # the newest liability event each leg answered

    async def record_decision(
        self,
        decision: DecisionRecord,
        order: OrderIntent | None = None,
        *,
        slot_version: int | None = None,
        covers: LiabilityCover | None = None,
    ) -> None:
        if order is not None:
            await self.create_order(order, slot_version)
        self.decisions.append(decision)
        if covers is not None and covers.through_seq > covers.after_seq:
            self._covered_seq[covers.leg] = covers.through_seq

    async def last_covered_seq(self, leg: str) -> int:
        return self._covered_seq.get(leg, 0)

    async def slot_version(self, slot: str) -> int:
        return self.slots.version(slot)

    async def last_decision(self) -> DecisionRecord | None:
        return self.decisions[-1] if self.decisions else None

    async def get_decision(self, decision_id: str) -> DecisionRecord | None:
        return next((d for d in reversed(self.decisions) if d.decision_id == decision_id), None)

    async def create_order(self, intent: OrderIntent, slot_version: int | None = None) -> None:
        if intent.client_order_id in self.orders:
            raise ConflictError(f"order {intent.client_order_id} exists")
        self.slots.claim(intent.slot, intent.client_order_id, slot_version)
        record = OrderRecord(
            intent, OrderState.CREATED, intent.created_at_ms, "", Decimal(0), None, ""
        )
        self.orders[intent.client_order_id] = record
        self._open[intent.client_order_id] = record
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
        record = self.orders.get(client_order_id)
        if record is None:
            raise ValueError(f"unknown order {client_order_id}")
        await self.record_fills(list(fills), record.intent.correlation_id)
        updated = replace(
            record,
            state=state,
            updated_at_ms=now_ms,
            venue_order_id=venue_order_id,
            filled_contracts=filled_contracts,
            avg_price_usd=avg_price_usd,
            message=message,
        )
        self.orders[client_order_id] = updated
        self.states.append((client_order_id, state))
        if state.is_terminal:
            self._open.pop(client_order_id, None)
            self.slots.release(record.intent.slot, client_order_id)
        else:
            self._open[client_order_id] = updated

    async def record_fills(self, fills: list[Fill], correlation_id: str) -> int:
        new = [fill for fill in fills if fill.fill_id not in self._fills]
        for fill in new:
            self._fills[fill.fill_id] = fill
        return len(new)

    async def get_order(self, client_order_id: str) -> OrderRecord | None:
        return self.orders.get(client_order_id)

    async def open_orders(self) -> list[OrderRecord]:
        return list(self._open.values())

    async def recent_orders(self, limit: int) -> list[OrderRecord]:
        return list(self.orders.values())[: -limit - 1 : -1] if limit > 0 else []

    async def fills_for(self, client_order_id: str) -> list[Fill]:
        return [f for f in self._fills.values() if f.client_order_id == client_order_id]

    async def record_position(self, snapshot: PositionSnapshot) -> None:
        self.snapshots.append(snapshot)

    async def last_position(self) -> PositionSnapshot | None:
        return self.snapshots[-1] if self.snapshots else None


class MemoryPegRepository:
    def __init__(self) -> None:
        self.rows: list[PegStatsRow] = []

    async def record(self, rows: Sequence[PegStatsRow]) -> None:
        self.rows.extend(rows)

    async def history(
        self, symbol: str, since_ms: int, until_ms: int, max_points: int
    ) -> list[PegStatsRow]:
        rows = [r for r in self.rows if r.symbol == symbol and since_ms <= r.ts_ms <= until_ms]
        step = max(1, -(-len(rows) // max_points)) if max_points > 0 else len(rows) + 1
        return rows[::step]

    async def downsample(self, older_than_ms: int) -> int:
        return 0  # a backtest keeps every row it is given


class MemoryStore:
    """The Store port; `ledger` and `trail` are its liability and hedge repositories with
    their contents readable, for the backtest's results."""

    def __init__(self) -> None:
        self.ledger = MemoryLiabilityRepository()
        self.trail = MemoryHedgeRepository()
        self.liability: LiabilityRepository = self.ledger
        self.quotes: QuoteRepository = MemoryQuoteRepository(self.ledger)
        self.hedge: HedgeRepository = self.trail
        self.pegs: PegRepository = MemoryPegRepository()
        self.funding: CollateralRepository = MemoryCollateralRepository()
        self.rolls: RollRepository = MemoryRollRepository(self.trail)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """In memory every write is at once; a unit of work groups nothing."""
        return no_transaction()

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def no_transaction() -> AsyncIterator[None]:
    yield
