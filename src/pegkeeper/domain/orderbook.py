"""An OKX v5 `books` order book: snapshot, incremental merge, CRC32 checksum and seqId checks.

Each side is a dict from a float sort key to the level's `"px:sz"` text exactly as received, plus
an ascending list of those keys kept with bisect. Asks are keyed by the negated price so that on
both sides the best level is the *last* element: most changes happen near the top of the book,
where a list insert or delete then moves only a few pointers. Floats only order the levels; the
checksum is built from the received strings, and consumers get Decimal, parsed on demand.

Cost per message with u changed levels on a side of n levels: O(u log n) comparisons plus the
list shifts (short, near the top), and O(25) for the checksum string.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

CHECKSUM_DEPTH = 25
_U32 = 0xFFFFFFFF


class BookResult(Enum):
    OK = "ok"
    CHECKSUM_MISMATCH = "checksum_mismatch"  # drop the book and resubscribe
    SEQUENCE_GAP = "sequence_gap"  # a message was missed (or no snapshot yet): resubscribe


@dataclass(slots=True)
class BooksTally:
    """What a run of book messages held, counted as their checks came out."""

    messages: int = 0  # every message handled
    book_messages: int = 0
    checksum_ok: int = 0  # a non-zero checksum that matched the merged book
    checksum_failed: int = 0
    sequence_ok: int = 0  # checksum 0: seqId continuity held
    sequence_gaps: int = 0
    malformed: int = 0


class Side(Enum):
    BID = "bid"
    ASK = "ask"


def signed_crc32(text: str) -> int:
    """CRC32 of the text (ASCII) as OKX reports it: a signed 32-bit integer."""
    crc = zlib.crc32(text.encode())
    return crc - 0x100000000 if crc > 0x7FFFFFFF else crc


def checksum_string(
    bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]], depth: int = CHECKSUM_DEPTH
) -> str:
    """`bidPx:bidSz:askPx:askSz:...` over the top `depth` levels of each side, best first."""
    parts: list[str] = []
    for i in range(min(depth, max(len(bids), len(asks)))):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    return ":".join(parts)


def _interleave(bid_top: list[str], ask_top: list[str]) -> str:
    nb = len(bid_top)
    na = len(ask_top)
    if nb == na:
        parts: list[str] = bid_top + ask_top
        parts[::2] = bid_top
        parts[1::2] = ask_top
        return ":".join(parts)
    n = nb if nb < na else na
    parts = bid_top[:n] + ask_top[:n]
    parts[::2] = bid_top[:n]
    parts[1::2] = ask_top[:n]
    parts.extend(bid_top[n:] if nb > na else ask_top[n:])
    return ":".join(parts)


def _load(levels: Iterable[Sequence[str]], negate: bool) -> tuple[dict[float, str], list[float]]:
    side: dict[float, str] = {}
    for level in levels:
        px = level[0]
        sz = level[1]
        if sz == "0" or (sz[0] == "0" and not float(sz)):
            continue
        side[-float(px) if negate else float(px)] = px + ":" + sz
    return side, sorted(side)


def _merge(
    levels: Iterable[Sequence[str]], side: dict[float, str], keys: list[float], negate: bool
) -> None:
    for level in levels:
        px = level[0]
        sz = level[1]
        key = -float(px) if negate else float(px)
        # OKX deletes with "0"; the float test only runs for other sizes starting with "0"
        if sz == "0" or (sz[0] == "0" and not float(sz)):
            if side.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]
        else:
            if key not in side:
                insort(keys, key)
            side[key] = px + ":" + sz


def _best_first(keys: list[float], depth: int | None) -> list[float]:
    if depth is None:
        return keys[::-1]
    return keys[: -depth - 1 : -1] if depth > 0 else []


def _decimal_pair(entry: str) -> tuple[Decimal, Decimal]:
    px, _, sz = entry.partition(":")
    return Decimal(px), Decimal(sz)


class OkxBook:
    """One instrument's `books` book. Not valid until a snapshot has been applied and checked;
    any failed check (or an exception while merging) leaves it invalid until the next snapshot."""

    __slots__ = ("_ask_keys", "_asks", "_bid_keys", "_bids", "inst_id", "seq_id", "ts_ms", "valid")

    def __init__(self, inst_id: str = "") -> None:
        self.inst_id = inst_id
        self._bids: dict[float, str] = {}
        self._asks: dict[float, str] = {}
        self._bid_keys: list[float] = []
        self._ask_keys: list[float] = []
        self.valid = False
        self.seq_id: int | None = None
        self.ts_ms = 0

    def reset(self) -> None:
        self._bids = {}
        self._asks = {}
        self._bid_keys = []
        self._ask_keys = []
        self.valid = False
        self.seq_id = None
        self.ts_ms = 0

    def apply(self, message: Mapping[str, Any]) -> BookResult:
        """A whole decoded push: `{"arg": ..., "action": "snapshot"|"update", "data": [...]}`.
        A push without `action` (`books5`, `bbo-tbt`) is a full book each time: a snapshot."""
        snapshot = message.get("action", "snapshot") == "snapshot"
        result = BookResult.OK
        for data in message["data"]:
            result = self.apply_snapshot(data) if snapshot else self.apply_update(data)
            if result is not BookResult.OK:
                return result
        return result

    def apply_snapshot(self, data: Mapping[str, Any]) -> BookResult:
        self.valid = False
        self._bids, self._bid_keys = _load(data["bids"], False)
        self._asks, self._ask_keys = _load(data["asks"], True)
        self.seq_id = data.get("seqId")
        self.ts_ms = int(data["ts"])
        return self._finish(data.get("checksum") or 0)

    def apply_update(self, data: Mapping[str, Any]) -> BookResult:
        if not self.valid:
            return BookResult.SEQUENCE_GAP
        expected = data.get("checksum") or 0
        prev = data.get("prevSeqId")
        if expected == 0 and prev is not None and prev != self.seq_id:
            self.valid = False
            return BookResult.SEQUENCE_GAP
        self.valid = False
        _merge(data["bids"], self._bids, self._bid_keys, False)
        _merge(data["asks"], self._asks, self._ask_keys, True)
        seq = data.get("seqId")
        if seq is not None:
            self.seq_id = seq
        self.ts_ms = int(data["ts"])
        return self._finish(expected)

    def _finish(self, expected: int) -> BookResult:
        if expected and (zlib.crc32(self.checksum_string().encode()) != expected & _U32):
            return BookResult.CHECKSUM_MISMATCH
        self.valid = True
        return BookResult.OK

    def checksum_string(self) -> str:
        bids = self._bids
        asks = self._asks
        return _interleave(
            [bids[k] for k in self._bid_keys[: -CHECKSUM_DEPTH - 1 : -1]],
            [asks[k] for k in self._ask_keys[: -CHECKSUM_DEPTH - 1 : -1]],
        )

    def checksum(self) -> int:
        """The signed CRC32 OKX would send for the book as it stands."""
        return signed_crc32(self.checksum_string())

    def depth(self, side: Side) -> int:
        return len(self._bid_keys if side is Side.BID else self._ask_keys)

    def raw_levels(self, side: Side, depth: int | None = None) -> list[tuple[str, str]]:
        """(price, size) strings exactly as received, best first."""
        entries, keys = (
            (self._bids, self._bid_keys) if side is Side.BID else (self._asks, self._ask_keys)
        )
        out: list[tuple[str, str]] = []
        for k in _best_first(keys, depth):
            px, _, sz = entries[k].partition(":")
            out.append((px, sz))
        return out

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """(price, size) as Decimal, best first; `depth=None` returns the whole side."""
        entries, keys = (
            (self._bids, self._bid_keys) if side is Side.BID else (self._asks, self._ask_keys)
        )
        return [_decimal_pair(entries[k]) for k in _best_first(keys, depth)]

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """(price, size) of the best bid, or None when the side is empty."""
        return _decimal_pair(self._bids[self._bid_keys[-1]]) if self._bid_keys else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return _decimal_pair(self._asks[self._ask_keys[-1]]) if self._ask_keys else None

    @property
    def best_bid_price(self) -> Decimal | None:
        best = self.best_bid()
        return None if best is None else best[0]

    @property
    def best_ask_price(self) -> Decimal | None:
        best = self.best_ask()
        return None if best is None else best[0]


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """What one message did to one instrument's book; `book` is the live book, whose levels
    hold only while `result` is OK."""

    inst_id: str
    result: BookResult
    book: OkxBook
