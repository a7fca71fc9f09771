"""What must hold of a cluster's records after any fault: the hedge back in its band, every
order the venue saw stored with its decision, none sent twice, no liability change lost."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.domain.orders import OrderState
from tests.cluster.flow import LiabilityFlow
from tests.cluster.support import Cluster
from tests.waiting import until

CONTRACT_USD = 100  # BTC-USD-SWAP: one contract is 100 USD
LOW_RATIO, HIGH_RATIO = Decimal("0.95"), Decimal("1.03")  # the stablesats policy's bounds


async def settled(cluster: Cluster, store: SqlStore, liability_cents: int) -> None:
    async def in_band() -> bool:
        if await store.hedge.open_orders():
            return False
        contracts = Decimal(cluster.venue_state()["positions"].get("BTC-USD-SWAP", "0"))
        ratio = -contracts * CONTRACT_USD * 100 / liability_cents
        return LOW_RATIO <= ratio <= HIGH_RATIO

    await until(in_band, "the hedge back in its band with no order open", 90)


async def check_the_records(cluster: Cluster, store: SqlStore, flow: LiabilityFlow) -> None:
    # no liability change lost: every confirmed one is stored, and nothing else
    assert await store.liability.balance_cents() == flow.balance_cents
    for event_id in flow.recorded:
        assert await store.liability.get(event_id) is not None, event_id
    sent = cluster.order_requests()
    orders = {o.intent.client_order_id: o for o in await store.hedge.recent_orders(10_000)}
    # every order the venue saw is pegkeeper's, in the store, with its decision
    assert set(sent) <= set(orders)
    for client_order_id in sent:
        decision = await store.hedge.get_decision(orders[client_order_id].intent.decision_id)
        assert decision is not None, client_order_id
    # no client order id sent twice: a request in doubt was looked up, not repeated
    assert all(count == 1 for count in sent.values()), {k: v for k, v in sent.items() if v > 1}
    # an order the venue never saw ended rejected (not sent) or lost, never filled
    for client_order_id, order in orders.items():
        if client_order_id not in sent:
            assert order.state in (OrderState.LOST, OrderState.REJECTED), order
    # the position at the venue is what the store's fills add up to
    filled = sum(
        (o.filled_contracts * (1 if o.intent.side and o.intent.side.value == "buy" else -1))
        for o in orders.values()
    )
    venue = Decimal(cluster.venue_state()["positions"].get("BTC-USD-SWAP", "0"))
    assert venue == filled
