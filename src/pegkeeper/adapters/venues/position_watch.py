"""Positions pushed on a private WebSocket (OKX's, or any ccxt.pro exchange's), with a watchdog.

OKX pushes the positions channel on every change and at a regular interval, so a socket that
stays open but brings nothing for `silence_seconds` is broken: it is dropped and dialled again,
and the consumer is told (VenueResync) that it must read positions and orders over REST,
since pushes may have been missed. A socket that fails is retried after a backoff, likewise.
`on_interrupt` hears of each interruption the moment it is seen, before any backoff.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import structlog

from pegkeeper.adapters.feeds.okx_ws import backoff_seconds
from pegkeeper.adapters.venues.ccxt_support import close_sockets, describe, drop_sockets
from pegkeeper.adapters.venues.okx_parse import decimal, decimal_or_none
from pegkeeper.domain.venue import VenuePosition, VenueResync

log = structlog.get_logger("pegkeeper.venues.okx")

RowToPosition = Callable[[dict[str, Any]], VenuePosition | None]
OnInterrupt = Callable[[str], None]


def okx_position(inst_id: str) -> RowToPosition:
    """Reads OKX's own fields (the `info` of a ccxt position): exact decimal strings."""

    def parse(row: dict[str, Any]) -> VenuePosition | None:
        info = row.get("info") or {}
        mark = decimal_or_none(info.get("markPx"), "markPx")
        if info.get("instId") != inst_id or mark is None:
            return None
        return VenuePosition(
            instrument_id=inst_id,
            size_contracts=decimal(info.get("pos") or "0", "pos"),
            avg_price_usd=decimal_or_none(info.get("avgPx"), "avgPx"),
            mark_price_usd=mark,
            liquidation_price_usd=decimal_or_none(info.get("liqPx"), "liqPx"),
            unrealised_pnl=decimal(info.get("upl") or "0", "upl"),
        )

    return parse


class PositionWatch:
    def __init__(
        self,
        client: Any,
        symbol: str,
        to_position: RowToPosition,
        silence_seconds: float,
        rng: random.Random | None = None,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        on_interrupt: OnInterrupt | None = None,
    ) -> None:
        self._client = client
        self._symbol = symbol
        self._to_position = to_position
        self._silence_seconds = silence_seconds
        self._rng = rng or random.Random()
        self._backoff = (backoff_base_seconds, backoff_cap_seconds)
        self._on_interrupt = on_interrupt
        self._retiring: set[asyncio.Task[None]] = set()
        self.reconnects = 0
        self.pushes = 0

    async def changes(self) -> AsyncIterator[VenuePosition | VenueResync]:
        """The position when its size changes; VenueResync after every reconnection."""
        last_size: Decimal | None = None
        failures = 0
        while True:
            try:
                # asyncio.timeout, not wait_for: wait_for can swallow a cancellation that
                # arrives as the watch completes, and the consumer would never stop
                async with asyncio.timeout(self._silence_seconds):
                    rows = await self._client.watch_positions([self._symbol])
            except TimeoutError:
                reason = f"the private WebSocket was silent for {self._silence_seconds:g} s"
                yield await self._resync(reason)
                last_size = None
                continue
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                failures += 1  # ccxt cancels its futures when a socket closes under them
                self._interrupted("socket closed")
                yield await self._resync_after_failure("socket closed", failures)
                last_size = None
                continue
            except Exception as error:  # ccxt's network and parse errors alike
                failures += 1
                self._interrupted(describe(error))
                yield await self._resync_after_failure(describe(error), failures)
                last_size = None
                continue
            failures = 0
            self.pushes += 1
            for position in self._ours(rows):
                if position.size_contracts != last_size:
                    last_size = position.size_contracts
                    yield position

    def _ours(self, rows: list[dict[str, Any]]) -> list[VenuePosition]:
        found = [self._to_position(row) for row in rows]
        return [position for position in found if position is not None][:1]

    def _interrupted(self, cause: str) -> None:
        if self._on_interrupt is not None:
            self._on_interrupt(cause)

    async def _resync_after_failure(self, cause: str, failures: int) -> VenueResync:
        delay = backoff_seconds(failures - 1, *self._backoff, self._rng)
        log.warning("okx private websocket failed", cause=cause, retry_in_seconds=delay)
        await asyncio.sleep(delay)
        return await self._resync(f"the private WebSocket failed ({cause})")

    async def _resync(self, reason: str) -> VenueResync:
        self.reconnects += 1
        log.warning("okx private websocket reconnects", reason=reason)
        sockets = drop_sockets(self._client, reason)
        self._interrupted(reason)  # anything pushed since it was first seen, too
        task = asyncio.create_task(close_sockets(sockets))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return VenueResync(reason)
