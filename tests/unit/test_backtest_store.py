"""The backtest's store in memory keeps the contracts of the SQL one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.backtest.store import MemoryStore
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.liability import LedgerEntry, LiabilityChange
from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, OrderState
from pegkeeper.domain.quotes import Direction, Quote, QuoteNotAcceptable, QuoteNotFound, QuoteState
from pegkeeper.domain.records import PegStatsRow
from pegkeeper.domain.venue import FundingPayment


def change(event_id: str, cents: int) -> LiabilityChange:
    return LiabilityChange(event_id, cents, "", "test")


async def test_the_ledger_is_idempotent_and_never_negative() -> None:
    store = MemoryStore()
    first, created = await store.liability.append(change("a", 500), "c", 1)
    again, created_again = await store.liability.append(change("a", 500), "c", 2)
    assert created and not created_again and again == first
    with pytest.raises(ConflictError, match="another amount"):
        await store.liability.append(change("a", 600), "c", 3)
    with pytest.raises(ConflictError, match="cannot be below 0"):
        await store.liability.append(change("b", -501), "c", 4)
    await store.liability.append(change("b", -200), "c", 5)
    assert await store.liability.balance_cents() == 300
    assert [e.event_id for e in await store.liability.recent(5)] == ["b", "a"]
    assert await store.liability.recent(0) == [] and await store.liability.get("z") is None


async def test_open_orders_follow_their_states() -> None:
    store = MemoryStore()
    intent = OrderIntent(
        "o1", "BTC-USD-SWAP", OrderKind.MARKET, OrderSide.SELL, Decimal(3), "d", "c", 1
    )
    await store.hedge.create_order(intent)
    with pytest.raises(ConflictError):
        await store.hedge.create_order(intent)
    assert [o.intent for o in await store.hedge.open_orders()] == [intent]
    await store.hedge.record_order_state("o1", OrderState.ACCEPTED, 2)
    assert len(await store.hedge.open_orders()) == 1
    await store.hedge.record_order_state("o1", OrderState.FILLED, 3, filled_contracts=Decimal(3))
    assert await store.hedge.open_orders() == []
    record = await store.hedge.get_order("o1")
    assert record is not None and record.state is OrderState.FILLED and record.updated_at_ms == 3
    assert [o.intent.client_order_id for o in await store.hedge.recent_orders(1)] == ["o1"]
    with pytest.raises(ValueError, match="unknown order"):
        await store.hedge.record_order_state("o2", OrderState.FILLED, 4)


async def test_a_quote_is_accepted_once_with_its_ledger_entry() -> None:
    store = MemoryStore()
    quote = Quote(
        "q1", Direction.BUY, False, 1_000, 500, Decimal("0.001"), Decimal("0.5"), "book", 0, 10, 100
    )
    await store.quotes.create(quote)
    entry = LedgerEntry(change("q1", 500), "c", 50)
    accepted, event, created = await store.quotes.accept("q1", 50, entry)
    assert accepted.state is QuoteState.ACCEPTED and event.balance_after_cents == 500 and created
    assert await store.quotes.events("q1") == [("created", 10), ("accepted", 50)]
    with pytest.raises(QuoteNotAcceptable):
        await store.quotes.accept("q1", 60, entry)
    with pytest.raises(QuoteNotFound):
        await store.quotes.accept("q2", 60, entry)


async def test_peg_history_is_thinned_to_the_points_asked() -> None:
    store = MemoryStore()
    rows = [PegStatsRow("USDC", t, 1.0, None, None, 0, 0, 0, 0, 0, 0, 0) for t in range(10)]
    await store.pegs.record(rows)
    assert [r.ts_ms for r in await store.pegs.history("USDC", 0, 9, 5)] == [0, 2, 4, 6, 8]
    assert await store.pegs.history("USDT", 0, 9, 5) == []


async def test_the_newest_funding_payment_is_kept_per_venue_and_currency() -> None:
    store = MemoryStore()
    funding = store.funding
    assert await funding.last_funding_payment_ms("okx", "BTC") is None
    paid = [
        FundingPayment("2", "BTC-USD-SWAP", "BTC", Decimal("0.1"), 2_000),
        FundingPayment("1", "BTC-USD-SWAP", "BTC", Decimal("0.1"), 1_000),
        FundingPayment("3", "BTC-USDT-SWAP", "USDT", Decimal(5), 3_000),
    ]
    assert await funding.record_funding_payments("okx", paid, 9_000) == 3
    late = FundingPayment("2", "BTC-USD-SWAP", "BTC", Decimal("0.1"), 7_000)  # stored already
    assert await funding.record_funding_payments("okx", [late], 9_000) == 0
    assert await funding.last_funding_payment_ms("okx", "BTC") == 2_000
    assert await funding.last_funding_payment_ms("okx", "USDT") == 3_000
    assert await funding.last_funding_payment_ms("binance", "BTC") is None
