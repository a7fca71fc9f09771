"""A quote feed run from a capture file: ccxt parses the recorded messages as it would live."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pegkeeper import bootstrap
from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import RealClock
from pegkeeper.config import load_settings
from pegkeeper.domain.events import BboUpdated, decode_event
from tests.exchange_ws_servers import BinanceServer


async def test_binance_book_tickers_replayed_from_a_capture(tmp_path: Path) -> None:
    capture = tmp_path / "binance.txt"
    # the subscription answer, then two real book tickers (recorded by cryptofeed, 2021-08-14)
    lines = [{"result": None, "id": 1}, *BinanceServer.ROUNDS]
    capture.write_text(
        "".join(f"{1_628_899_200_000 + i} {json.dumps(m)}\n" for i, m in enumerate(lines))
    )
    binance = {"symbols": ["FTM/USDT"], "capture": str(capture)}
    off = {"enabled": False}
    settings = load_settings(
        data_dir=tmp_path,
        market_data={
            "quotes": {
                "enabled": True,
                "binance": binance,
                "okx": off,
                "coinbase": off,
                "kraken": off,
                "bitstamp": off,
            }
        },
    )
    bus = MemoryBus()
    subscription = bus.subscribe("bbo.*")
    task = asyncio.create_task(bootstrap.run_quote_feeds(settings, bus, RealClock()))
    seen: list[BboUpdated] = []
    try:
        async with asyncio.timeout(15):
            async for topic, payload in subscription:
                event = decode_event(payload)
                assert isinstance(event, BboUpdated) and topic == "bbo.binance.FTM-USDT"
                seen.append(event)
                if event.bid == "0.33993000":
                    break
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    last = seen[-1]
    # the second recorded ticker: b 0.33993 (1500), a 0.34011 (2746.1)
    assert (last.bid, last.bid_size, last.ask, last.ask_size) == (
        "0.33993000",
        "1500.00000000",
        "0.34011000",
        "2746.10000000",
    )


async def test_the_okx_books_feed_replayed_from_the_stablesats_capture(tmp_path: Path) -> None:
    from tests.integration.test_replay import STABLESATS, naive_tops

    messages = [json.loads(p.read_text()) for p in STABLESATS]
    capture = tmp_path / "okx.txt"
    capture.write_text("".join(json.dumps(m) + "\n" for m in messages))
    settings = load_settings(
        data_dir=tmp_path,
        market_data={
            "okx": {"enabled": True, "capture": str(capture), "max_clock_skew_ms": 10**12}
        },
    )
    bus = MemoryBus()
    subscription = bus.subscribe("bbo.okx.*")
    task = asyncio.create_task(bootstrap.run_okx_books(settings, bus, RealClock()))
    bid, ask = naive_tops(messages)["BTC-USD-SWAP"]
    try:
        async with asyncio.timeout(15):
            async for _, payload in subscription:
                event = decode_event(payload)
                assert isinstance(event, BboUpdated)
                if (event.bid, event.ask) == (str(bid), str(ask)):
                    break
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
