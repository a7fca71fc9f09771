"""Replicas on one machine share the price server's ports with `reuse_port`; without it, a
port already taken stops the start."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest

from pegkeeper.adapters.bus.memory import MemoryBus
from pegkeeper.adapters.clock import ManualClock
from pegkeeper.adapters.feeds.book_file import FileBookProvider
from pegkeeper.api.grpc.pb import price_grpc
from pegkeeper.api.grpc.pb import price_pb2 as pb
from pegkeeper.api.grpc.server import GrpcServerSettings, PriceServers, ServerStartError
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import Pricer, PricerSettings
from pegkeeper.services.market.wallet_quotes import QuoteService
from tests.fakes import FakeStore
from tests.grpc_support import START_MS, write_book


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def servers(book: Path, ports: tuple[int, int], *, reuse_port: bool) -> PriceServers:
    clock = ManualClock(START_MS)
    store = FakeStore()
    liability = LiabilityService(store.liability, MemoryBus(), clock, max_abs_delta_cents=10**12)
    pricer = Pricer(FileBookProvider(book), clock, PricerSettings(stale_after_ms=None), "test")
    quotes = QuoteService(pricer, store.quotes, liability, clock)
    settings = GrpcServerSettings(price_port=ports[0], quote_port=ports[1], reuse_port=reuse_port)
    return PriceServers(pricer, quotes, settings)


async def cents_for_one_btc(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = pb.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=10**8)
        response = await price_grpc.PriceServiceStub(channel).GetCentsFromSatsForImmediateBuy(
            request
        )
    return int(response.amount_in_cents)


async def test_two_replicas_share_the_ports_and_either_answers(tmp_path: Path) -> None:
    # Each replica quotes its own book, so the answer tells which one served the call.
    first_book = write_book(tmp_path / "a.json", (("1000", "1000000000"),), (("10000", "1"),))
    second_book = write_book(tmp_path / "b.json", (("2000", "1000000000"),), (("10000", "1"),))
    ports = (free_port(), free_port())
    first = servers(first_book, ports, reuse_port=True)
    second = servers(second_book, ports, reuse_port=True)
    async with AsyncExitStack() as stack:
        for replica in (first, second):
            await replica.start()
            stack.push_async_callback(replica.stop, 0)
        assert (first.price_port, first.quote_port) == (second.price_port, second.quote_port)
        # 1 BTC at 1 000 or 2 000 USD, less the immediate fee of 0.0010, floored
        assert await cents_for_one_btc(ports[0]) in (99_900, 199_800)

        await first.stop(0)

        assert await cents_for_one_btc(ports[0]) == 199_800


async def test_without_reuse_port_a_taken_port_stops_the_start(tmp_path: Path) -> None:
    book = write_book(tmp_path / "a.json", (("1000", "1000000000"),), (("10000", "1"),))
    ports = (free_port(), free_port())
    first = servers(book, ports, reuse_port=False)
    await first.start()
    try:
        for reuse_port in (False, True):
            second = servers(book, ports, reuse_port=reuse_port)
            with pytest.raises(ServerStartError, match=r"price_server\.price_port"):
                await second.start()
    finally:
        await first.stop(0)
