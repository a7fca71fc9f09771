"""The simulated exchange's own order book, as the price server's book: in the demo, users are
quoted at the prices the hedge trades at."""

from __future__ import annotations

from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.sim.engine import SimEngine

SOURCE = "okx simulator"


class SimBookProvider:
    def __init__(self, engine: SimEngine) -> None:
        self._engine = engine
        self._last: tuple[tuple[str, int, object], BookSnapshot] | None = None

    def latest(self, inst_id: str) -> BookSnapshot | None:
        engine = self._engine
        if inst_id not in engine.live_instrument_ids:
            return None
        ts_ms = engine.price_ms(inst_id)
        if ts_ms is None:
            return None
        key = (inst_id, ts_ms, engine.mark_price_usd(inst_id))
        if self._last is not None and self._last[0] == key:
            return self._last[1]  # the price has not moved: the same book (the pricer keeps it)
        book = engine.book(inst_id)
        snapshot = BookSnapshot(
            SOURCE,
            inst_id,
            ts_ms,
            ts_ms,
            tuple((level.price_usd, level.size_contracts) for level in book.bids()),
            tuple((level.price_usd, level.size_contracts) for level in book.asks()),
        )
        self._last = (key, snapshot)
        return snapshot

    def health(self) -> dict[str, str]:
        engine = self._engine
        return {
            inst_id: "ok" if engine.price_ms(inst_id) is not None else "no price yet"
            for inst_id in engine.live_instrument_ids
        }
