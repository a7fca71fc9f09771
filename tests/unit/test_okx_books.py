"""Many books from raw messages: what counts as book data, and what a bad message does."""

import json
from decimal import Decimal

from pegkeeper.adapters.feeds.okx_books import OkxBooks
from pegkeeper.domain.orderbook import BookResult


def snapshot(inst: str, checksum: int = 0, seq: int = 1) -> dict[str, object]:
    data = {
        "bids": [["100", "3", "0", "1"]],
        "asks": [["101", "2", "0", "1"]],
        "ts": "1",
        "checksum": checksum,
        "seqId": seq,
    }
    return {"arg": {"channel": "books", "instId": inst}, "action": "snapshot", "data": [data]}


def test_acks_and_other_channels_are_not_book_data() -> None:
    books = OkxBooks()
    assert books.handle({"event": "subscribe", "arg": {"channel": "books"}}) is None
    assert books.handle({"arg": {"channel": "trades", "instId": "X"}, "data": []}) is None
    assert books.handle([1, 2]) is None
    assert (books.tally.messages, books.tally.book_messages, books.tally.malformed) == (3, 0, 1)


def test_checksum_zero_counts_sequence_and_a_gap_drops_the_book() -> None:
    books = OkxBooks()
    assert books.handle(snapshot("A")) == ("A", BookResult.OK)
    gap = {
        "arg": {"channel": "books", "instId": "A"},
        "action": "update",
        "data": [{"bids": [], "asks": [], "ts": "2", "checksum": 0, "seqId": 9, "prevSeqId": 5}],
    }
    assert books.handle(gap) == ("A", BookResult.SEQUENCE_GAP)
    assert (books.tally.sequence_ok, books.tally.sequence_gaps) == (1, 1)
    assert books.books["A"].valid is False and books.books["A"].best_bid() is None


def test_a_malformed_book_message_is_counted_and_drops_only_its_book() -> None:
    books = OkxBooks()
    books.handle(snapshot("A"))
    books.handle(snapshot("B"))
    broken = {
        "arg": {"channel": "books", "instId": "A"},
        "action": "update",
        "data": [{"bids": []}],
    }
    assert books.handle(broken) == ("A", BookResult.SEQUENCE_GAP)
    assert books.tally.malformed == 1
    assert books.books["A"].valid is False and books.books["B"].valid is True


def test_raw_messages_decode_into_book_updates_of_the_live_book() -> None:
    books = OkxBooks()
    raw = json.dumps(snapshot("A", seq=4)).encode()
    update = books.decode(raw)
    assert update is not None
    assert (update.inst_id, update.result) == ("A", BookResult.OK)
    assert update.book is books.books["A"] and update.book.best_bid() == (Decimal(100), Decimal(3))
    assert update.book.best_ask() == (Decimal(101), Decimal(2)) and books.last_inst_id == "A"
    assert books.decode(b'{"event": "subscribe", "arg": {"channel": "books"}}') is None
    assert books.decode(b"not json{") is None
    assert (books.tally.messages, books.tally.book_messages, books.tally.malformed) == (3, 1, 1)
    assert (books.tally.sequence_ok, books.tally.checksum_ok) == (1, 0)
