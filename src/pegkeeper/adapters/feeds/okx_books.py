"""Every instrument's OKX order book from raw public WebSocket messages, with a tally of checks:
the `BookDecoder` for OKX's `books` channels.

A message whose checks fail drops that instrument's book (it is never left looking valid); the
caller resubscribes, or, when replaying, waits for the next snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from pegkeeper.domain.orderbook import BookResult, BooksTally, BookUpdate, OkxBook

BOOK_CHANNELS = frozenset({"books", "books5", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt"})


class OkxBooks:
    def __init__(self) -> None:
        self.books: dict[str, OkxBook] = {}
        self.tally = BooksTally()
        self.last_inst_id: str | None = None

    def decode(self, raw: bytes) -> BookUpdate | None:
        """One raw message; None when it carries no book data (bytes that are no JSON are
        counted as malformed)."""
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.tally.messages += 1
            self.tally.malformed += 1
            return None
        outcome = self.handle(message)
        if outcome is None:
            return None
        inst_id, result = outcome
        return BookUpdate(inst_id, result, self.books[inst_id])

    def handle(self, message: Any) -> tuple[str, BookResult] | None:
        """Apply one decoded message; None for messages that are not book data (acks, other
        channels). Raises nothing: a malformed book message is counted and drops its book."""
        self.tally.messages += 1
        if not isinstance(message, Mapping):
            self.tally.malformed += 1
            return None
        arg = message.get("arg")
        if not isinstance(arg, Mapping) or arg.get("channel") not in BOOK_CHANNELS:
            return None
        if "data" not in message:
            return None  # a subscribe acknowledgement
        inst_id = str(arg.get("instId", ""))
        book = self.books.setdefault(inst_id, OkxBook(inst_id))
        self.tally.book_messages += 1
        try:
            result = book.apply(message)
        except (KeyError, TypeError, ValueError, IndexError):
            self.tally.malformed += 1
            book.reset()
            return inst_id, BookResult.SEQUENCE_GAP
        self._count(result, _checksum_of(message))
        if result is not BookResult.OK:
            book.reset()
        self.last_inst_id = inst_id
        return inst_id, result

    def _count(self, result: BookResult, checksum: int) -> None:
        tally = self.tally
        if result is BookResult.CHECKSUM_MISMATCH:
            tally.checksum_failed += 1
        elif result is BookResult.SEQUENCE_GAP:
            tally.sequence_gaps += 1
        elif checksum:
            tally.checksum_ok += 1
        else:
            tally.sequence_ok += 1


def _checksum_of(message: Mapping[str, Any]) -> int:
    data = message.get("data") or [{}]
    checksum = data[-1].get("checksum") if isinstance(data[-1], Mapping) else 0
    return int(checksum or 0)
