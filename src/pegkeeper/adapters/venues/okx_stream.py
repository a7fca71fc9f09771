"""What OKX pushes on its WebSockets, kept so that the venue's reads cost no REST request while
the pushes are fresh: the position (private `positions` channel), the trading balance (private
`account` channel) and the mark price (public `mark-price` channel).

A pushed value answers a read only when all of these hold, and otherwise the read goes to REST:
- it came on a socket that is still the current one, and no interruption came after it: a
  socket closed or failed, or the silence watchdog fired (the VenueResync of PositionWatch).
  An interruption forgets everything pushed before it; only a new push fills the cache again
  (a REST read never does);
- it arrived less than `fresh_seconds` ago. OKX pushes positions and account on every change
  and at a regular interval, so a stream that works always has a recent one;
- it reflects every fill pegkeeper knows of (the fills its order lookups returned, `note_fill`):
  a position row whose tradeId, OKX's last trade on the instrument, is at least the fill's (or,
  when trade ids cannot be compared, whose uTime is not before the fill's time); a balance whose
  uTime is not before the latest fill's. OKX pushes both as a fill happens, so after an order
  filled a read waits up to `fill_wait_seconds` for that push, then reads REST.

A pushed mark price carries its own time; the venue still refuses one older than
`max_price_age_seconds`, as it refuses an old REST mark price.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("pegkeeper.venues.okx")

Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Pushed:
    row: Json
    received_s: float  # monotonic


@dataclass(frozen=True, slots=True)
class KnownFill:
    trade_id: str
    ts_ms: int


class OkxPushes:
    def __init__(
        self,
        fresh_seconds: float,
        fill_wait_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fresh_seconds = fresh_seconds
        self._fill_wait_seconds = fill_wait_seconds
        self._monotonic = monotonic
        self._positions: dict[str, Pushed] = {}
        self._balances: dict[str, Pushed] = {}
        self._marks: dict[str, Pushed] = {}
        self._fills: dict[str, KnownFill] = {}
        self._pushed = asyncio.Event()
        self.used: Counter[str] = Counter()  # reads answered from pushes, by kind
        self.interruptions = 0

    # -- fed by ccxt's handlers and the watchdog ------------------------------------------------

    def tap(self, client: Any) -> None:
        """Sees every message of ccxt.pro's OKX client as ccxt handles it: a watcher that is not
        awaiting at that moment would miss it, since ccxt resolves only waiting futures."""
        handle_positions = client.handle_positions
        handle_balance = client.handle_balance
        handle_ticker = client.handle_ticker
        on_close = client.on_close

        def current(ws: Any) -> bool:
            return bool((client.clients or {}).get(getattr(ws, "url", None)) is ws)

        def positions(ws: Any, message: Any) -> None:
            handle_positions(ws, message)
            if current(ws):
                self._store(self._positions, _flat_if_empty(message), "instId", "pos")

        def balance(ws: Any, message: Any) -> None:
            handle_balance(ws, message)
            if current(ws):
                for account in _data(message):
                    self._store(self._balances, {"data": account.get("details")}, "ccy", "eq")

        def ticker(ws: Any, message: Any) -> None:
            handle_ticker(ws, message)
            channel = (message.get("arg") or {}).get("channel")
            if channel == "mark-price" and current(ws):
                self._store(self._marks, message, "instId", "markPx")

        def closed(ws: Any, error: Any) -> None:
            if current(ws):
                self.interrupt("a WebSocket closed")
            on_close(ws, error)

        client.handle_positions = positions
        client.handle_balance = balance
        client.handle_ticker = ticker
        client.on_close = closed

    def interrupt(self, reason: str) -> None:
        """Pushes may have been missed: nothing pushed before now is used again."""
        if self._positions or self._balances or self._marks:
            log.info("okx pushes forgotten", reason=reason)
        self.interruptions += 1
        self._positions.clear()
        self._balances.clear()
        self._marks.clear()

    def forget_balances(self) -> None:
        """After a transfer or a withdrawal: the trading balance is read again."""
        self._balances.clear()

    def note_fill(self, instrument_id: str, trade_id: str, ts_ms: int) -> None:
        known = self._fills.get(instrument_id)
        if known is None or _later(trade_id, ts_ms, known):
            self._fills[instrument_id] = KnownFill(trade_id, ts_ms)

    # -- read by the venue -----------------------------------------------------------------------

    async def position(self, instrument_id: str) -> Json | None:
        """The pushed row of `instrument_id`, or None: read it over REST."""
        row = await self._wait_for(lambda: self._position_state(instrument_id))
        if row is not None:
            self.used["position"] += 1
        return row

    async def balance(self, currency: str) -> Json | None:
        """The pushed balance detail of `currency`, or None: read it over REST."""
        row = await self._wait_for(lambda: self._balance_state(currency))
        if row is not None:
            self.used["balance"] += 1
        return row

    def balance_now(self, currency: str) -> Json | None:
        """The pushed balance detail of `currency` if usable now, without waiting."""
        row, _ = self._balance_state(currency)
        return row

    def mark(self, instrument_id: str) -> Json | None:
        """The last pushed mark-price row ({markPx, ts}), if fresh; its age is the caller's to
        check."""
        pushed = self._marks.get(instrument_id)
        if pushed is None or not self._fresh(pushed):
            return None
        self.used["mark"] += 1
        return pushed.row

    # -- internals -----------------------------------------------------------------------------

    def _store(self, into: dict[str, Pushed], message: Any, key: str, needed: str) -> None:
        now = self._monotonic()
        for row in _data(message):
            name = row.get(key)
            if name and needed in row:
                into[str(name)] = Pushed(row, now)
        pushed, self._pushed = self._pushed, asyncio.Event()
        pushed.set()

    def _fresh(self, pushed: Pushed) -> bool:
        return self._monotonic() - pushed.received_s <= self._fresh_seconds

    def _position_state(self, instrument_id: str) -> tuple[Json | None, bool]:
        """(the row if usable, whether a push carrying a known fill is still to come)."""
        pushed = self._positions.get(instrument_id)
        if pushed is None or not self._fresh(pushed):
            return None, False
        fill = self._fills.get(instrument_id)
        if fill is None or _position_has(pushed.row, fill):
            return pushed.row, False
        return None, True

    def _balance_state(self, currency: str) -> tuple[Json | None, bool]:
        pushed = self._balances.get(currency)
        if pushed is None or not self._fresh(pushed):
            return None, False
        latest_ms = max((fill.ts_ms for fill in self._fills.values()), default=0)
        if _int(pushed.row.get("uTime")) >= latest_ms:
            return pushed.row, False
        return None, True

    async def _wait_for(self, state: Callable[[], tuple[Json | None, bool]]) -> Json | None:
        row, waiting = state()
        if row is not None or not waiting:
            return row
        deadline = self._monotonic() + self._fill_wait_seconds
        while waiting:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self._pushed.wait()
            except TimeoutError:
                return None
            row, waiting = state()
            if row is not None:
                return row
        return None


def _data(message: Any) -> list[Json]:
    data = message.get("data") if isinstance(message, Mapping) else None
    return [row for row in data or [] if isinstance(row, Mapping)]


def _flat_if_empty(message: Any) -> Any:
    """A push for one instrument without rows says OKX holds no position there: flat."""
    inst_id = (message.get("arg") or {}).get("instId") if isinstance(message, Mapping) else None
    if inst_id and not _data(message):
        return {"data": [{"instId": inst_id, "pos": "0"}]}
    return message


def _int(value: Any) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() else -1


def _position_has(row: Json, fill: KnownFill) -> bool:
    trade_id = str(row.get("tradeId") or "")
    if trade_id.isdigit() and fill.trade_id.isdigit():
        return int(trade_id) >= int(fill.trade_id)
    return _int(row.get("uTime")) >= fill.ts_ms


def _later(trade_id: str, ts_ms: int, known: KnownFill) -> bool:
    if trade_id.isdigit() and known.trade_id.isdigit():
        return int(trade_id) > int(known.trade_id)
    return ts_ms > known.ts_ms
