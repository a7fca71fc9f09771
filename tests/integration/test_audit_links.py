"""A hedge decision links every liability change it answers, and the audit trail of each of
those changes reaches the decision, its order and its fills (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.store.database import SqlStore, open_store
from pegkeeper.domain.hedge_policy import StablesatsHedgePolicy
from pegkeeper.services.hedging.hedger import HedgerService, HedgerSettings
from tests.integration.test_hedge_loop import make_world


async def test_three_changes_before_one_decision_are_all_linked(store: SqlStore) -> None:
    venue, _clock, hedger, liability = make_world(store)
    posted = [
        (await liability.post("buy-1", 400_000, memo="first")).event,
        (await liability.post("buy-2", 300_000, memo="second")).event,
        (await liability.post("buy-3", 300_000, memo="third")).event,
    ]
    decision = await hedger.cycle("liability", "woken")
    # 10 000 USD of liability, no hedge: ratio 0 is below the 0.95 bound, so the policy sells
    # up to the 0.98 safe bound: 9 800 USD, 98 contracts of 100 USD.
    assert decision is not None and decision.action == "sell"
    assert decision.size_contracts == 98
    assert decision.correlation_id == posted[2].correlation_id
    for event in posted:
        trail = await store.audit.trail(event.correlation_id)
        assert [d.decision_id for d in trail.decisions] == [decision.decision_id]
        assert [e.event_id for e in trail.liability_events] == ["buy-1", "buy-2", "buy-3"]
        (order,) = trail.orders
        assert (
            order.intent.size_contracts == 98 and order.intent.decision_id == decision.decision_id
        )
        assert sum(f.size_contracts for f in trail.fills) == 98
        assert [s.state.value for s in trail.order_states][-1] == "filled"
    assert (await venue.position("BTC-USD-SWAP")).size_contracts == -98

    # The next decision answers only the change that came after the first one.
    await liability.post("buy-4", 100_000, memo="fourth")
    second = await hedger.cycle("liability", "woken")
    assert second is not None
    linked = await store.audit.liability_events_of_decisions(
        [decision.decision_id, second.decision_id]
    )
    assert [e.event_id for e in linked[decision.decision_id]] == ["buy-1", "buy-2", "buy-3"]
    assert [e.event_id for e in linked[second.decision_id]] == ["buy-4"]


async def test_after_a_restart_a_decision_links_only_the_changes_since_the_last(
    database_url: str,
) -> None:
    first = await open_store(database_url)
    venue, clock, hedger, liability = make_world(first)
    await liability.post("buy-1", 1_000_000)
    decided = await hedger.cycle("liability", "woken")
    assert decided is not None
    await first.close()

    restarted = await open_store(database_url)
    try:
        liability = make_world(restarted)[3]
        await liability.post("sell-1", -500_000)
        settings = HedgerSettings(order_lookup_window_seconds=10)
        policy = StablesatsHedgePolicy()
        hedger = HedgerService(restarted, venue, MemoryBus(), clock, policy, settings)
        decision = await hedger.cycle("startup", "woken")
        assert decision is not None
        linked = await restarted.audit.liability_events_of_decisions([decision.decision_id])
        assert [e.event_id for e in linked[decision.decision_id]] == ["sell-1"]
        assert await restarted.hedge.last_covered_seq("BTC-USD-SWAP") == 2
        assert decided.size_contracts == Decimal(98)
    finally:
        await restarted.close()
