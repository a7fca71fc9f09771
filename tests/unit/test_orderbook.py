from __future__ import annotations

import copy
import json
import zlib
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from pegkeeper.domain.orderbook import (
    BookResult,
    OkxBook,
    Side,
    checksum_string,
    signed_crc32,
)
from tests.shared_data import shared_data

OKX = shared_data() / "okx"


def load_stablesats() -> list[dict[str, Any]]:
    names = ["snapshot", "update-1", "update-2", "update-3"]
    return [json.loads((OKX / f"stablesats-books-{n}.json").read_text()) for n in names]


def capture_books_messages() -> list[dict[str, Any]]:
    out = []
    for line in (OKX / "cryptofeed-okx-ws-2022-05-13.txt").read_text().splitlines():
        if line.startswith("wss://"):
            continue
        _, payload = line.split(": ", 1)
        msg = json.loads(payload)
        if msg.get("arg", {}).get("channel") == "books" and "action" in msg:
            out.append(msg)
    return out


def bitwise_crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected 0xEDB88320) one bit at a time, as an independent reference."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def book_message(
    action: str,
    bids: list[list[str]],
    asks: list[list[str]],
    checksum: int = 0,
    seq: int | None = None,
    prev: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"bids": bids, "asks": asks, "ts": "1", "checksum": checksum}
    if seq is not None:
        data["seqId"] = seq
        data["prevSeqId"] = prev
    return {"arg": {"channel": "books", "instId": "X"}, "action": action, "data": [data]}


def test_hand_computed_checksum_of_a_two_level_book() -> None:
    # bids 100.5 x 3, 100 x 1; asks 101 x 2: level 1 is bid then ask, level 2 has only a bid.
    expected_text = "100.5:3:101:2:100:1"
    expected_crc = -1915660395  # 2379306901 unsigned, from the bitwise reference below
    assert bitwise_crc32(expected_text.encode()) == 2379306901
    assert expected_crc == 2379306901 - 2**32
    assert zlib.crc32(expected_text.encode()) == 2379306901
    assert signed_crc32(expected_text) == expected_crc

    bids = [["100", "1", "0", "1"], ["100.5", "3", "0", "2"]]  # unsorted on purpose
    asks = [["101", "2", "0", "1"]]
    book = OkxBook()
    assert book.apply(book_message("snapshot", bids, asks, expected_crc)) is BookResult.OK
    assert book.checksum_string() == expected_text
    assert book.checksum() == expected_crc
    assert checksum_string([("100.5", "3"), ("100", "1")], [("101", "2")]) == expected_text


def test_checksum_keeps_received_strings_and_ask_side_can_run_longer() -> None:
    book = OkxBook()
    bids = [["3366", "0.5", "0", "1"]]
    asks = [["3366.10", "7.0", "0", "1"], ["3367", "2", "0", "1"]]
    book.apply(book_message("snapshot", bids, asks))
    # "3366.10" and "7.0" must not be normalised: the checksum hashes the text as sent
    assert book.checksum_string() == "3366:0.5:3366.10:7.0:3367:2"


def test_stablesats_fixtures_validate_in_order() -> None:
    messages = load_stablesats()
    book = OkxBook("BTC-USD-SWAP")
    assert not book.valid
    for msg in messages:
        assert book.apply(msg) is BookResult.OK
        assert book.valid
        assert book.checksum() == msg["data"][0]["checksum"]
    assert book.ts_ms == int(messages[-1]["data"][0]["ts"])


def test_stablesats_snapshot_best_levels_and_depth() -> None:
    snapshot = load_stablesats()[0]
    data = snapshot["data"][0]
    book = OkxBook()
    book.apply(snapshot)
    best_bid = max(data["bids"], key=lambda lvl: Decimal(lvl[0]))
    best_ask = min(data["asks"], key=lambda lvl: Decimal(lvl[0]))
    assert book.best_bid() == (Decimal(best_bid[0]), Decimal(best_bid[1]))
    assert book.best_ask() == (Decimal(best_ask[0]), Decimal(best_ask[1]))
    assert book.best_bid_price == Decimal("20276")
    assert book.best_ask_price == Decimal("20276.1")
    assert book.depth(Side.BID) == 400 and book.depth(Side.ASK) == 400

    bid_levels = book.levels(Side.BID, 5)
    expected = sorted(((Decimal(p), Decimal(s)) for p, s, *_ in data["bids"]), reverse=True)[:5]
    assert bid_levels == expected
    ask_levels = book.levels(Side.ASK)
    assert ask_levels == sorted((Decimal(p), Decimal(s)) for p, s, *_ in data["asks"])
    assert book.levels(Side.ASK, 0) == []
    assert book.raw_levels(Side.ASK, 2) == [("20276.1", "1393"), ("20276.2", "404")]


def test_update_removes_zero_size_levels_and_replaces_sizes() -> None:
    book = OkxBook()
    bids = [["100", "1", "0", "1"], ["99", "2", "0", "1"]]
    asks = [["101", "1", "0", "1"], ["102", "4", "0", "1"]]
    book.apply(book_message("snapshot", bids, asks))
    update = book_message(
        "update",
        [["100", "0", "0", "0"], ["99", "5", "0", "2"], ["98.5", "1", "0", "1"]],
        [["101", "0.000", "0", "0"], ["103", "0", "0", "0"], ["101.5", "3", "0", "1"]],
    )
    assert book.apply(update) is BookResult.OK
    assert book.raw_levels(Side.BID) == [("99", "5"), ("98.5", "1")]
    assert book.raw_levels(Side.ASK) == [("101.5", "3"), ("102", "4")]
    assert book.best_bid() == (Decimal(99), Decimal(5))


def test_every_books_message_of_the_cryptofeed_capture_validates() -> None:
    messages = capture_books_messages()
    updates_after_snapshot: Counter[str] = Counter()
    seen_snapshot: set[str] = set()
    for msg in messages:
        inst = msg["arg"]["instId"]
        if msg["action"] == "snapshot":
            seen_snapshot.add(inst)
        elif inst in seen_snapshot:
            updates_after_snapshot[inst] += 1
    assert set(updates_after_snapshot) == {"BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"}
    assert updates_after_snapshot == {"BTC-USD-220527": 98, "UNI-USD-SWAP": 92, "BTC-USDT": 97}

    books: dict[str, OkxBook] = {}
    passed: Counter[str] = Counter()
    failures: list[tuple[str, BookResult]] = []
    for msg in messages:
        inst = msg["arg"]["instId"]
        book = books.setdefault(inst, OkxBook(inst))
        result = book.apply(msg)
        if result is not BookResult.OK:
            failures.append((inst, result))
        elif msg["action"] == "update":
            passed[inst] += 1
    assert failures == []
    assert passed == updates_after_snapshot
    assert all(b.valid for b in books.values())


def test_corrupted_size_is_a_checksum_mismatch_and_invalidates_the_book() -> None:
    snapshot, update1, update2, _ = load_stablesats()
    bad = copy.deepcopy(update1)
    bid = bad["data"][0]["bids"][1]
    assert bid[:2] == ["20275", "211"]  # one level below the best bid: inside the top 25
    bid[1] = "212"
    book = OkxBook()
    assert book.apply(snapshot) is BookResult.OK
    assert book.apply(bad) is BookResult.CHECKSUM_MISMATCH
    assert not book.valid
    # nothing more is accepted until a fresh snapshot
    assert book.apply(update2) is BookResult.SEQUENCE_GAP
    assert not book.valid
    assert book.apply(snapshot) is BookResult.OK
    assert book.apply(update1) is BookResult.OK
    assert book.valid


def test_update_without_snapshot_is_a_gap() -> None:
    _, update1, _, _ = load_stablesats()
    book = OkxBook()
    assert book.apply(update1) is BookResult.SEQUENCE_GAP
    assert not book.valid


def test_checksum_zero_stream_uses_seq_id_continuity() -> None:
    book = OkxBook()
    bids = [["100", "1", "0", "1"]]
    asks = [["101", "1", "0", "1"]]
    assert book.apply(book_message("snapshot", bids, asks, seq=10, prev=-1)) is BookResult.OK
    assert book.seq_id == 10
    step = book_message("update", [["100", "2", "0", "1"]], [], seq=11, prev=10)
    assert book.apply(step) is BookResult.OK
    heartbeat = book_message("update", [], [], seq=11, prev=11)  # no change: seqId == prevSeqId
    assert book.apply(heartbeat) is BookResult.OK
    step = book_message("update", [], [["101", "0", "0", "0"]], seq=12, prev=11)
    assert book.apply(step) is BookResult.OK
    assert book.raw_levels(Side.ASK) == []
    assert book.seq_id == 12

    gap = book_message("update", [["99", "1", "0", "1"]], [], seq=14, prev=13)
    assert book.apply(gap) is BookResult.SEQUENCE_GAP
    assert not book.valid
    assert book.raw_levels(Side.BID) == [("100", "2")]  # the gapped message was not merged
    after = book_message("update", [], [], seq=15, prev=14)
    assert book.apply(after) is BookResult.SEQUENCE_GAP
    assert book.apply(book_message("snapshot", bids, asks, seq=20, prev=-1)) is BookResult.OK
    assert book.valid


def test_non_zero_checksum_is_checked_even_with_seq_ids() -> None:
    book = OkxBook()
    text = "100:1:101:1"
    msg = book_message("snapshot", [["100", "1", "0", "1"]], [["101", "1", "0", "1"]], seq=1)
    msg["data"][0]["checksum"] = signed_crc32(text) ^ 1
    assert book.apply(msg) is BookResult.CHECKSUM_MISMATCH
    msg["data"][0]["checksum"] = signed_crc32(text)
    assert book.apply(msg) is BookResult.OK


def test_malformed_update_leaves_the_book_invalid() -> None:
    book = OkxBook()
    book.apply(book_message("snapshot", [["100", "1", "0", "1"]], [["101", "1", "0", "1"]]))
    with pytest.raises(ValueError):
        book.apply(book_message("update", [["100", "2", "0", "1"], ["oops", "1"]], []))
    assert not book.valid


def test_reset_clears_everything() -> None:
    book = OkxBook()
    book.apply(load_stablesats()[0])
    book.reset()
    assert not book.valid
    assert book.best_bid() is None and book.best_ask() is None
    assert book.best_bid_price is None and book.best_ask_price is None
    assert book.checksum_string() == ""


def test_checksum_string_helper_agrees_with_the_book() -> None:
    book = OkxBook()
    for msg in load_stablesats():
        book.apply(msg)
        text = checksum_string(book.raw_levels(Side.BID, 30), book.raw_levels(Side.ASK, 30))
        assert signed_crc32(text) == msg["data"][0]["checksum"]
    assert checksum_string([("1", "2")], [("3", "4"), ("5", "6")]) == "1:2:3:4:5:6"


def test_snapshot_ignores_zero_size_levels() -> None:
    book = OkxBook()
    bids = [["100", "0", "0", "0"], ["99", "1", "0", "1"]]
    book.apply(book_message("snapshot", bids, [["101", "0.0", "0", "0"]]))
    assert book.raw_levels(Side.BID) == [("99", "1")]
    assert book.best_ask() is None


def test_push_without_action_is_a_full_book() -> None:
    book = OkxBook()
    book.apply(book_message("snapshot", [["100", "1", "0", "1"]], [["101", "1", "0", "1"]]))
    books5 = book_message("snapshot", [["99", "2", "0", "1"]], [["102", "3", "0", "1"]])
    del books5["action"]
    del books5["data"][0]["checksum"]
    assert book.apply(books5) is BookResult.OK
    assert book.raw_levels(Side.BID) == [("99", "2")]
    assert book.raw_levels(Side.ASK) == [("102", "3")]
