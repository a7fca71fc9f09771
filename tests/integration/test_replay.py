"""`pegkeeper replay` on the real OKX captures, checked against a naive book built in the test."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pegkeeper.cli import app
from tests.shared_data import shared_data

OKX = shared_data() / "okx"
CRYPTOFEED = OKX / "cryptofeed-okx-ws-2022-05-13.txt"
STABLESATS = [
    OKX / f"stablesats-books-{n}.json" for n in ("snapshot", "update-1", "update-2", "update-3")
]
runner = CliRunner()


def replay(*paths: Path, extra: tuple[str, ...] = (), exit_code: int = 0) -> dict[str, Any]:
    args = ["replay", "--json", *extra]
    for path in paths:
        args += ["--capture", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.output
    return dict(json.loads(result.stdout))


def naive_tops(messages: list[dict[str, Any]]) -> dict[str, tuple[Decimal, Decimal]]:
    """Best bid and ask per instrument from plain dicts: no checksum, no ordering structure."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for message in messages:
        if message.get("arg", {}).get("channel") != "books" or "data" not in message:
            continue
        inst = message["arg"]["instId"]
        if message["action"] == "snapshot":
            books[inst] = {"bids": {}, "asks": {}}
        for data in message["data"]:
            for side in ("bids", "asks"):
                for level in data[side]:
                    price, size = Decimal(level[0]), Decimal(level[1])
                    if size == 0:
                        books[inst][side].pop(price, None)
                    else:
                        books[inst][side][price] = size
    return {i: (max(b["bids"]), min(b["asks"])) for i, b in books.items()}


def received_messages(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("wss://"):
            continue
        out.append(json.loads(line.split(": ", 1)[1]))
    return out


def test_the_cryptofeed_capture_validates_every_checksum() -> None:
    messages = received_messages(CRYPTOFEED)
    books = [m for m in messages if m.get("arg", {}).get("channel") == "books" and "data" in m]
    summary = replay(CRYPTOFEED)
    assert (summary["messages"], len(messages)) == (410, 410)  # the data README: 410 received
    assert summary["checksum_ok"] == len(books) == 290
    assert summary["checksum_failed"] == 0 and summary["sequence_gaps"] == 0
    expected = naive_tops(messages)
    assert summary["inst_id"] == books[-1]["arg"]["instId"]
    for inst, (bid, ask) in expected.items():
        top = summary["books"][inst]
        assert (Decimal(top["best_bid"]), Decimal(top["best_ask"])) == (bid, ask)
        assert top["valid"] is True
    assert summary["messages_per_second"] > 0


def test_the_stablesats_fixtures_validate_in_order() -> None:
    summary = replay(*STABLESATS)
    assert (summary["messages"], summary["checksum_ok"], summary["checksum_failed"]) == (4, 4, 0)
    (bid, ask) = naive_tops([json.loads(p.read_text()) for p in STABLESATS])["BTC-USD-SWAP"]
    assert (Decimal(summary["best_bid"]), Decimal(summary["best_ask"])) == (bid, ask)


def test_a_corrupted_update_is_caught_and_the_book_dropped(tmp_path: Path) -> None:
    update = json.loads(STABLESATS[1].read_text())
    update["data"][0]["bids"][0][1] = str(int(update["data"][0]["bids"][0][1]) + 1)
    lines = [json.dumps(json.loads(STABLESATS[0].read_text())), json.dumps(update)]
    lines += [json.dumps(json.loads(p.read_text())) for p in STABLESATS[2:]]
    capture = tmp_path / "corrupt.txt"
    capture.write_text(
        "\n".join(f"{1666759645503 + 100 * i} {line}" for i, line in enumerate(lines))
    )
    summary = replay(capture, exit_code=1)  # a failed checksum fails the command
    # the snapshot checks out, update 1 fails; updates 2 and 3 find no valid book to apply to
    assert (summary["checksum_ok"], summary["checksum_failed"], summary["sequence_gaps"]) == (
        1,
        1,
        2,
    )
    assert summary["books"]["BTC-USD-SWAP"]["valid"] is False


def test_a_failed_checksum_is_said_in_the_table_and_the_exit_code(tmp_path: Path) -> None:
    update = json.loads(STABLESATS[1].read_text())
    update["data"][0]["bids"][0][1] = str(int(update["data"][0]["bids"][0][1]) + 1)
    snapshot = json.dumps(json.loads(STABLESATS[0].read_text()))
    capture = tmp_path / "corrupt.txt"
    capture.write_text(f"1666759645503 {snapshot}\n1666759645603 {json.dumps(update)}\n")
    result = runner.invoke(app, ["replay", "--capture", str(capture)])
    assert result.exit_code == 1
    assert "checksums ok 1, failed 1" in result.stdout  # the summary is still printed
    assert "1 book checksum(s) failed" in result.stderr


def test_a_bad_capture_line_is_named(tmp_path: Path) -> None:
    capture = tmp_path / "bad.txt"
    capture.write_text('{"event":"subscribe"}\nnot a message\n')
    result = runner.invoke(app, ["replay", "--capture", str(capture)])
    assert result.exit_code == 2 and "bad.txt:2" in result.output


def test_a_missing_capture_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", "--capture", str(tmp_path / "none.txt")])
    assert result.exit_code == 2 and "none.txt" in result.output
