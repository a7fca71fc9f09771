"""Log lines that tie a liability event to its decision, order and fills: each carries the
correlation id the liability event was given, so `grep` on one id follows a dollar through."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import structlog

from pegkeeper.domain.events import (
    TOPIC_DECISION,
    TOPIC_LIABILITY,
    TOPIC_ORDER,
    HedgeDecided,
    LiabilityChanged,
    OrderUpdated,
    decode_event,
)
from pegkeeper.domain.orders import OrderState
from pegkeeper.ports import Bus, HedgeRepository

log = structlog.get_logger("pegkeeper.audit")

_FILL_STATES = {OrderState.PARTIALLY_FILLED.value, OrderState.FILLED.value}
_SEEN_FILLS_KEPT = 10_000


class CorrelationLog:
    def __init__(self, bus: Bus, hedge: HedgeRepository) -> None:
        self._bus = bus
        self._hedge = hedge
        self._seen_fills: OrderedDict[str, None] = OrderedDict()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for topic in (TOPIC_LIABILITY, TOPIC_DECISION, TOPIC_ORDER):
                group.create_task(self._follow(topic), name=f"correlation-log-{topic}")

    async def _follow(self, topic: str) -> None:
        # one group for the cluster: each event is logged once, by whichever process takes it
        subscription = self._bus.subscribe(topic, group="correlation-log")
        try:
            async for _, payload in subscription:
                await self.record(payload)
        finally:
            await subscription.close()

    async def record(self, payload: bytes) -> None:
        event = decode_event(payload)
        if isinstance(event, LiabilityChanged):
            log.info(
                "liability changed",
                correlation_id=event.correlation_id,
                event_id=event.event_id,
                seq=event.seq,
                delta_cents=event.delta_cents,
                liability_cents=event.balance_after_cents,
            )
        elif isinstance(event, HedgeDecided):
            log.info(
                "hedge decided",
                correlation_id=event.correlation_id,
                decision_id=event.decision_id,
                action=event.action,
                size_contracts=event.size_contracts,
                rule=event.rule,
            )
        elif isinstance(event, OrderUpdated):
            log.info(
                "order state",
                correlation_id=event.correlation_id,
                client_order_id=event.client_order_id,
                state=event.state,
            )
            if event.state in _FILL_STATES:
                await self._log_fills(event)

    async def _log_fills(self, event: OrderUpdated) -> None:
        for fill in await self._hedge.fills_for(event.client_order_id):
            if fill.fill_id in self._seen_fills:
                continue
            self._seen_fills[fill.fill_id] = None
            if len(self._seen_fills) > _SEEN_FILLS_KEPT:
                self._seen_fills.popitem(last=False)
            log.info(
                "fill",
                correlation_id=event.correlation_id,
                client_order_id=fill.client_order_id,
                fill_id=fill.fill_id,
                size_contracts=str(fill.size_contracts),
                price_usd=str(fill.price_usd),
                fee=str(fill.fee),
                fee_currency=fill.fee_currency,
            )
