"""OKX `books` throughput: orjson decode + merge + CRC32 checksum, messages per second.

Replays every `books` push of the cryptofeed OKX capture (three instruments, each starting from
a snapshot) through pegkeeper's `OkxBook`, a plain dict-and-zlib book written here, and
cryptofeed 2.4.1's own OKX handler when cryptofeed is installed. Each implementation must validate
every checksum; a book is rebuilt from scratch at every snapshot.

Run: `.venv/bin/python -m bench.okx_book` (or `bench/okx_book.py`). `run()` returns the figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from tests.shared_data import shared_data

from pegkeeper.domain.orderbook import BookResult, OkxBook

CAPTURE = Path("okx") / "cryptofeed-okx-ws-2022-05-13.txt"
ROUNDS = 7
MIN_ROUND_SECONDS = 0.25


def shared_data_dir() -> Path:
    return shared_data()


def load_books_messages(path: Path | None = None) -> list[bytes]:
    """Raw JSON of every received `books` push (snapshot or update), in capture order."""
    path = path or shared_data_dir() / CAPTURE
    out: list[bytes] = []
    for line in path.read_text().splitlines():
        if line.startswith("wss://"):
            continue  # connection-open and sent-message lines
        _, _, payload = line.partition(": ")
        msg = orjson.loads(payload)
        if msg.get("arg", {}).get("channel") == "books" and "action" in msg:
            out.append(payload.encode())
    return out


# ---- implementations: each returns a callable that processes the whole message list once and
# ---- returns how many checksums validated.


def pegkeeper_runner(messages: list[bytes]) -> Callable[[], int]:
    books: dict[str, OkxBook] = {}
    ok = BookResult.OK
    loads = orjson.loads

    def run_once() -> int:
        passed = 0
        for raw in messages:
            msg = loads(raw)
            inst = msg["arg"]["instId"]
            book = books.get(inst)
            if book is None:
                book = books[inst] = OkxBook(inst)
            if book.apply(msg) is ok:
                passed += 1
        return passed

    return run_once


class PlainBook:
    """The obvious version: dicts keyed by float price, top 25 found by sorting every time."""

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}

    def snapshot(self, data: dict[str, Any]) -> None:
        self.bids = {float(px): (px, sz) for px, sz, *_ in data["bids"]}
        self.asks = {float(px): (px, sz) for px, sz, *_ in data["asks"]}

    def update(self, data: dict[str, Any]) -> None:
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for px, sz, *_ in levels:
                if float(sz) == 0:
                    side.pop(float(px), None)
                else:
                    side[float(px)] = (px, sz)

    def checksum(self) -> int:
        bids = [self.bids[k] for k in sorted(self.bids, reverse=True)[:25]]
        asks = [self.asks[k] for k in sorted(self.asks)[:25]]
        parts: list[str] = []
        for i in range(max(len(bids), len(asks))):
            if i < len(bids):
                parts.extend(bids[i])
            if i < len(asks):
                parts.extend(asks[i])
        crc = zlib.crc32(":".join(parts).encode())
        return crc - (1 << 32) if crc >= 1 << 31 else crc


def plain_runner(messages: list[bytes]) -> Callable[[], int]:
    books: dict[str, PlainBook] = {}

    def run_once() -> int:
        passed = 0
        for raw in messages:
            msg = orjson.loads(raw)
            book = books.setdefault(msg["arg"]["instId"], PlainBook())
            for data in msg["data"]:
                if msg["action"] == "snapshot":
                    book.snapshot(data)
                else:
                    book.update(data)
                if book.checksum() == data["checksum"]:
                    passed += 1
        return passed

    return run_once


def cryptofeed_runners(
    messages: list[bytes],
) -> tuple[dict[str, Callable[[], int]], Callable[[], None]] | str:
    """cryptofeed's OKX handler with checksum validation on (and a function that closes its event
    loop), or the reason it cannot run."""
    try:
        from cryptofeed.defines import L2_BOOK
        from cryptofeed.defines import OKX as OKX_ID
        from cryptofeed.exceptions import BadChecksum
        from cryptofeed.exchanges import OKX
        from cryptofeed.symbols import Symbols
    except ImportError as exc:  # pragma: no cover - depends on the environment
        return f"cryptofeed not importable: {exc}"

    instruments = sorted({orjson.loads(m)["arg"]["instId"] for m in messages})
    # The feed would fetch the instrument list over HTTP; an identity mapping is all _book needs.
    Symbols.set(OKX_ID, {inst: inst for inst in instruments}, {})
    passed = 0

    async def on_book(book: Any, receipt_timestamp: float) -> None:
        nonlocal passed
        passed += 1

    feed = OKX(
        symbols=instruments,
        channels=[L2_BOOK],
        checksum_validation=True,
        callbacks={L2_BOOK: on_book},
    )
    loop = asyncio.new_event_loop()
    texts = [m.decode() for m in messages]

    async def via_handler() -> None:
        for text in texts:
            await feed.message_handler(text, None, 0.0)

    async def via_book() -> None:
        for raw in messages:
            await feed._book(orjson.loads(raw), 0.0)

    def wrap(coro_fn: Callable[[], Any]) -> Callable[[], int]:
        def run_once() -> int:
            nonlocal passed
            passed = 0
            try:
                loop.run_until_complete(coro_fn())
            except BadChecksum:
                return -1
            return passed

        return run_once

    runners = {
        "cryptofeed 2.4.1 message_handler (yapic decode)": wrap(via_handler),
        "cryptofeed 2.4.1 _book (orjson decode)": wrap(via_book),
    }
    return runners, loop.close


def measure(run_once: Callable[[], int], n_messages: int) -> dict[str, float]:
    passed = run_once()  # warm-up, and the validation count
    start = time.perf_counter()
    repeats = 0
    while time.perf_counter() - start < MIN_ROUND_SECONDS / 4:
        run_once()
        repeats += 1
    per_round = max(1, int(repeats * 4))
    rates: list[float] = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(per_round):
            run_once()
        rates.append(per_round * n_messages / (time.perf_counter() - t0))
    return {
        "best": max(rates),
        "median": statistics.median(rates),
        "checksums_ok": float(passed),
        "messages_per_round": float(per_round * n_messages),
    }


def service_runner(
    messages: list[bytes], publish_interval_ms: int
) -> tuple[Callable[[], int], Callable[[], None]]:
    """The whole feed path: decode, merge, checksum, and publish on the bus (a subscriber
    listening) at most once per `publish_interval_ms` per instrument (0: every message)."""
    from pegkeeper.adapters.bus.memory import MemoryBus
    from pegkeeper.adapters.clock import ManualClock
    from pegkeeper.adapters.feeds.okx_books import OkxBooks
    from pegkeeper.services.market.order_books import OkxBookService, OkxBookSettings

    loop = asyncio.new_event_loop()
    bus = MemoryBus(queue_size=1_000_000)
    subscription = bus.subscribe("book.*")
    clock = ManualClock(1_652_459_224_000)  # the capture's own time, so no clock skew
    settings = OkxBookSettings(
        inst_ids=(), publish_interval_ms=publish_interval_ms, max_clock_skew_ms=10**12
    )
    service = OkxBookService(_NoFeed(), OkxBooks(), bus, clock, settings)

    async def feed() -> None:
        for raw in messages:
            clock.advance(0.04)  # the capture's pace: 290 book messages in about 12 s
            await service.handle(clock.now_ms(), raw)

    def run_once() -> int:
        failed_before = service.checksum_failed + service.gaps + service.malformed
        loop.run_until_complete(feed())
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        failed = service.checksum_failed + service.gaps + service.malformed - failed_before
        return len(messages) - failed

    return run_once, loop.close


class _NoFeed:
    async def messages(self) -> Any:  # pragma: no cover - the bench feeds handle() directly
        raise NotImplementedError

    async def resubscribe(self, inst_id: str) -> None:
        return None


def run() -> dict[str, Any]:
    messages = load_books_messages()
    every, close_every = service_runner(messages, 0)
    throttled, close_throttled = service_runner(messages, 500)
    runners: dict[str, Callable[[], int]] = {
        "pegkeeper feed service, publish every message": every,
        "pegkeeper feed service, publish throttled 500 ms": throttled,
        "pegkeeper OkxBook (orjson)": pegkeeper_runner(messages),
        "plain dict + zlib (orjson)": plain_runner(messages),
    }
    cf = cryptofeed_runners(messages)
    notes: list[str] = []
    closers: list[Callable[[], None]] = [close_every, close_throttled]
    if isinstance(cf, str):
        notes.append(cf)
    else:
        runners.update(cf[0])
        closers.append(cf[1])
    try:
        results = {name: measure(fn, len(messages)) for name, fn in runners.items()}
    finally:
        for close in closers:
            close()
    return {
        "messages": len(messages),
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": results,
        "notes": notes,
    }


def main() -> None:
    report = run()
    n = report["messages"]
    print(f"OKX books: {n} messages per pass, nproc={report['nproc']}, python {report['python']}")
    print(f"{'implementation':<50} {'msg/s best':>12} {'msg/s median':>13} {'checksums ok':>13}")
    for name, r in report["results"].items():
        ok = f"{int(r['checksums_ok'])}/{n}" if r["checksums_ok"] >= 0 else "mismatch"
        print(f"{name:<50} {r['best']:>12,.0f} {r['median']:>13,.0f} {ok:>13}")
    for note in report["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
