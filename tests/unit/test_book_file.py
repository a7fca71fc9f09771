"""A recorded OKX books snapshot as the price server's book."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.adapters.feeds.book_file import BookFileError, FileBookProvider, read_okx_book_file
from tests.shared_data import shared_data

STABLESATS = shared_data() / "okx" / "stablesats-books-snapshot.json"


def test_the_stablesats_snapshot() -> None:
    snapshot = read_okx_book_file(STABLESATS)
    assert (snapshot.inst_id, snapshot.ts_ms, snapshot.source) == (
        "BTC-USD-SWAP",
        1_666_759_645_503,
        "file:stablesats-books-snapshot.json",
    )
    assert len(snapshot.bids) == len(snapshot.asks) == 400
    assert snapshot.bids[:2] == (
        (Decimal("20276"), Decimal("845")),
        (Decimal("20275.3"), Decimal("34")),
    )
    assert snapshot.asks[0] == (Decimal("20276.1"), Decimal("1393"))
    provider = FileBookProvider(STABLESATS)
    assert provider.latest("BTC-USD-SWAP") is provider.snapshot
    assert provider.latest("BTC-USDT") is None
    assert provider.health() == {"BTC-USD-SWAP": "ok"}


def message() -> dict[str, object]:
    return json.loads(STABLESATS.read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m: m["data"][0].update(checksum=12345), "fails its check: checksum_mismatch"),
        (lambda m: m.update(action="update"), "holds an update, not a snapshot"),
        (lambda m: m.pop("arg"), "not an OKX books snapshot message"),
        (lambda m: m["data"][0].pop("ts"), "not an OKX books snapshot message"),
    ],
)
def test_bad_books_are_refused_with_the_file_named(tmp_path: Path, change, says) -> None:  # type: ignore[no-untyped-def]
    body = message()
    change(body)
    path = tmp_path / "book.json"
    path.write_text(json.dumps(body))
    with pytest.raises(BookFileError, match=says) as raised:
        read_okx_book_file(path)
    assert str(path) in str(raised.value)


def test_missing_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(BookFileError, match="cannot read"):
        read_okx_book_file(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(BookFileError, match="not JSON"):
        read_okx_book_file(tmp_path / "x.json")
