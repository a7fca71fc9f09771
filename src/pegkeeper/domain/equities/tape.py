"""The trades in time order with their P&L entries, kept equal to `fifo.replay` of the trades
while trades are inserted anywhere: a fill's block time runs behind the broker fills already
recorded, so a new onchain trade often lands before the last ones.

An insertion replays from the last snapshot of the book at or before it (one every
`snapshot_every` trades), not from the first trade: the cost of a new fill stays flat as the
history grows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from itertools import pairwise

from pegkeeper.domain.equities.fifo import COUNTER_TRADE_WINDOW_MS, FifoBook
from pegkeeper.domain.equities.pnl import PnlEntry, Trade, TradeKey
from pegkeeper.domain.errors import InvalidInput

SNAPSHOT_EVERY = 256


class PnlTape:
    def __init__(
        self,
        *,
        counter_trade_window_ms: int = COUNTER_TRADE_WINDOW_MS,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        if snapshot_every < 1:
            raise InvalidInput(f"snapshot_every must be 1 or more, not {snapshot_every}")
        self._every = snapshot_every
        self._keys: list[TradeKey] = []
        self.trades: list[Trade] = []
        self.entries: list[PnlEntry] = []
        # _snapshots[m]: the book before trade m * snapshot_every
        self._snapshots = [FifoBook(counter_trade_window_ms=counter_trade_window_ms)]
        self.book = self._snapshots[0].copy()  # after every trade
        self.replayed_trades = 0  # trades applied so far, a measure of the work done

    def insert(self, keyed: Iterable[tuple[TradeKey, Trade]]) -> int:
        """Adds trades (each key new) and replays what follows the first of them; returns the
        index of the first entry that may have changed (len(entries) when none did)."""
        new = sorted(keyed, key=lambda pair: pair[0])
        if not new:
            return len(self.entries)
        at = bisect_left(self._keys, new[0][0])
        tail = sorted(
            [*zip(self._keys[at:], self.trades[at:], strict=True), *new], key=lambda pair: pair[0]
        )
        self._check_unique(tail)
        self._keys[at:] = [key for key, _ in tail]
        self.trades[at:] = [trade for _, trade in tail]
        self._replay_from(at)
        return at

    def _check_unique(self, tail: list[tuple[TradeKey, Trade]]) -> None:
        for (key, trade), (next_key, _) in pairwise(tail):
            if key == next_key:
                raise InvalidInput(f"trade {trade.trade_id} is already on the tape at {key}")

    def _replay_from(self, at: int) -> None:
        snapshot = min(at // self._every, len(self._snapshots) - 1)
        del self._snapshots[snapshot + 1 :]
        book = self._snapshots[snapshot].copy()
        start = snapshot * self._every
        del self.entries[start:]
        for index in range(start, len(self.trades)):
            if index > start and index % self._every == 0:
                self._snapshots.append(book.copy())
            self.entries.append(book.apply(self.trades[index]))
        self.replayed_trades += len(self.trades) - start
        self.book = book

    def from_ts(self, ts_ms: int) -> list[PnlEntry]:
        """The entries at or after `ts_ms`, in order."""
        return self.entries[bisect_left(self._keys, (ts_ms,)) :]
