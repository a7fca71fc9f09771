"""A recorded order book: one OKX `books` snapshot message read from a JSON file.

The format is the push OKX sends on its public WebSocket (`{"arg": {"channel": "books",
"instId": ...}, "action": "snapshot", "data": [{"asks": ..., "bids": ..., "ts": ...,
"checksum": ...}]}`); a non-zero checksum must match. Such a book never goes stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pegkeeper.domain.market_events import BookSnapshot
from pegkeeper.domain.orderbook import BookResult, OkxBook, Side


class BookFileError(ValueError):
    """The file cannot be read as an OKX books snapshot; names the file and the problem."""


def read_okx_book_file(path: Path) -> BookSnapshot:
    message = _load(path)
    try:
        inst_id = str(message["arg"]["instId"])
        is_snapshot = message.get("action", "snapshot") == "snapshot"
        book = OkxBook(inst_id)
        result = book.apply(message) if is_snapshot else None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise BookFileError(
            f"the book file {path} is not an OKX books snapshot message "
            f'({{"arg": {{"instId": ...}}, "data": [{{"bids", "asks", "ts"}}]}}): {error!r}'
        ) from None
    if result is None:
        raise BookFileError(f"the book file {path} holds an update, not a snapshot")
    if result is not BookResult.OK:
        raise BookFileError(f"the book in {path} fails its check: {result.value}")
    return BookSnapshot.from_levels(
        f"file:{path.name}",
        inst_id,
        book.ts_ms,
        book.ts_ms,
        tuple(book.raw_levels(Side.BID)),
        tuple(book.raw_levels(Side.ASK)),
    )


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as error:
        raise BookFileError(f"cannot read the book file {path}: {error}") from None
    except orjson.JSONDecodeError as error:
        raise BookFileError(f"the book file {path} is not JSON: {error}") from None


class FileBookProvider:
    """Serves the one recorded book, for its instrument, for ever."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.snapshot = read_okx_book_file(path)

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return self.snapshot if inst_id == self.snapshot.inst_id else None

    def health(self) -> dict[str, str]:
        return {self.snapshot.inst_id: "ok"}
