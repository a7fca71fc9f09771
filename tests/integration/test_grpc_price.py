"""The PriceService through a real grpcio channel, against the server started from book files.

Expected values are worked out by hand from specs/price-service.md: a level at P USD/BTC is
P / 10^6 cents per sat, one contract is 10 000 cents, the immediate rate is 0.0010 and the
delayed rate 0.0012.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pegkeeper.adapters.feeds.book_file import FileBookProvider
from pegkeeper.api.grpc.pb import price_pb2 as pb
from pegkeeper.api.grpc.price_servicer import RPC_NAMES
from pegkeeper.domain.market_events import BookSnapshot
from tests.grpc_support import Stack, file_books, serving
from tests.shared_data import shared_data

STABLESATS = shared_data() / "okx" / "stablesats-books-snapshot.json"
# Fractions everywhere: 0.033333 cents/sat on the bid, 0.066667 on the ask.
ROUNDING_BIDS = (("33333", "1000000000"),)
ROUNDING_ASKS = (("66667", "1000000000"),)


async def call(stack: Stack, rpc: str, **fields: Any) -> Any:
    return await getattr(stack.price, rpc)(getattr(pb, f"{rpc}Request")(**fields))


def amount_of(response: Any) -> int:
    return int(getattr(response, response.DESCRIPTOR.fields[0].name))


async def test_the_worked_example(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        response = await call(stack, "GetCentsFromSatsForImmediateBuy", amount_in_satoshis=10**8)
    # 1 BTC walks 100 000 cents of bids at 1 000 USD/BTC: floor(100 000 * 0.999)
    assert response.amount_in_cents == 99_900


@pytest.mark.parametrize(
    ("rpc", "amount", "expected"),
    [
        # 1 BTC: 100 000 cents of bids (0.001 c/sat) or 1 000 000 cents of asks (0.01 c/sat)
        ("GetCentsFromSatsForImmediateBuy", 10**8, 99_900),  # floor(100 000 * 0.9990)
        ("GetCentsFromSatsForImmediateSell", 10**8, 1_001_000),  # ceil(1 000 000 * 1.0010)
        ("GetCentsFromSatsForFutureBuy", 10**8, 99_880),  # floor(100 000 * 0.9988)
        ("GetCentsFromSatsForFutureSell", 10**8, 1_001_200),  # ceil(1 000 000 * 1.0012)
        # 1 000 USD = 100 000 cents: 10^8 sats of bids, 10^7 sats of asks
        ("GetSatsFromCentsForImmediateBuy", 100_000, 100_100_000),  # ceil(10^8 * 1.0010)
        ("GetSatsFromCentsForImmediateSell", 100_000, 9_990_000),  # floor(10^7 * 0.9990)
        ("GetSatsFromCentsForFutureBuy", 100_000, 100_120_000),  # ceil(10^8 * 1.0012)
        ("GetSatsFromCentsForFutureSell", 100_000, 9_988_000),  # floor(10^7 * 0.9988)
    ],
)
async def test_every_amount_rpc_on_the_worked_example_book(
    tmp_path: Path, rpc: str, amount: int, expected: int
) -> None:
    field = "amount_in_satoshis" if "CentsFromSats" in rpc else "amount_in_cents"
    extra = {"time_in_seconds": 3600} if "Future" in rpc else {}
    async with serving(file_books(tmp_path)) as stack:
        assert amount_of(await call(stack, rpc, **{field: amount}, **extra)) == expected


@pytest.mark.parametrize(
    ("rpc", "amount", "expected"),
    [
        # each result is off the nearest integer the other way: the house keeps the fraction
        ("GetCentsFromSatsForImmediateBuy", 1_010, 33),  # 1010*0.033333*0.999 = 33.633
        ("GetCentsFromSatsForImmediateSell", 1_004, 68),  # 1004*0.066667*1.001 = 67.0006
        ("GetCentsFromSatsForFutureBuy", 1_010, 33),  # 1010*0.033333*0.9988 = 33.626
        ("GetCentsFromSatsForFutureSell", 1_004, 68),  # 1004*0.066667*1.0012 = 67.014
        ("GetSatsFromCentsForImmediateBuy", 100, 3_004),  # 100/0.033333*1.001 = 3003.03
        ("GetSatsFromCentsForImmediateSell", 133, 1_992),  # 133/0.066667*0.999 = 1992.995
        ("GetSatsFromCentsForFutureBuy", 111, 3_335),  # 111/0.033333*1.0012 = 3334.03
        ("GetSatsFromCentsForFutureSell", 111, 1_662),  # 111/0.066667*0.9988 = 1662.994
    ],
)
async def test_the_house_rounding_table_holds_for_every_rpc(
    tmp_path: Path, rpc: str, amount: int, expected: int
) -> None:
    field = "amount_in_satoshis" if "CentsFromSats" in rpc else "amount_in_cents"
    async with serving(file_books(tmp_path, ROUNDING_BIDS, ROUNDING_ASKS)) as stack:
        assert amount_of(await call(stack, rpc, **{field: amount})) == expected


async def test_time_in_seconds_does_not_change_the_price(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        answers = {
            amount_of(
                await call(
                    stack, "GetCentsFromSatsForFutureBuy", amount_in_satoshis=12_345_678, **extra
                )
            )
            for extra in ({}, {"time_in_seconds": 1}, {"time_in_seconds": 2**64 - 1})
        }
    assert answers == {12_330}  # floor(12 345.678 * 0.9988) = floor(12 330.863...)


async def test_the_mid_rate(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        response = await call(stack, "GetCentsPerSatsExchangeMidRate")
    # (0.001 + 0.01) / 2 cents per sat, no fee
    assert response.ratio_in_cents_per_satoshis == 0.0055


async def test_the_stablesats_book_mid_rate_and_depth_walks() -> None:
    """The real fixture: bids 20276 x 845, 20275.3 x 34, 20275.1 x 1 ...;
    asks 20276.1 x 1393, 20276.2 x 404, 20276.3 x 13 ..."""
    async with serving(FileBookProvider(STABLESATS)) as stack:
        mid = await call(stack, "GetCentsPerSatsExchangeMidRate")
        # (20 276 + 20 276.1) / 2 USD/BTC = 0.02027605 cents/sat
        assert mid.ratio_in_cents_per_satoshis == pytest.approx(0.02027605, rel=1e-12)

        # 8 795 000 cents of bids: all of 845 contracts at 0.020276, all of 34 at 0.0202753,
        # half of the one at 0.0202751: 8 450 000/0.020276 + 340 000/0.0202753 +
        # 5 000/0.0202751 = 433 764 645.9049 sats; * 1.001 = 434 198 410.55 -> ceil
        buy = await call(stack, "GetSatsFromCentsForImmediateBuy", amount_in_cents=8_795_000)
        assert buy.amount_in_satoshis == 434_198_411

        # 17 990 000 cents of asks: 1393 contracts at 0.0202761, 404 at 0.0202762, 2 of the
        # 13 at 0.0202763 = 887 250 500.7318 sats; * 0.999 = 886 363 250.23 -> floor
        sell = await call(stack, "GetSatsFromCentsForImmediateSell", amount_in_cents=17_990_000)
        assert sell.amount_in_satoshis == 886_363_250

        # 4.2 BTC of bids: the first level takes 8 450 000/0.020276 = 416 748 865.6 sats for
        # 8 450 000 cents, the rest at 0.0202753: 8 515 917.724 cents; * 0.999 -> floor
        cents = await call(stack, "GetCentsFromSatsForImmediateBuy", amount_in_satoshis=420_000_000)
        assert cents.amount_in_cents == 8_507_401

        # 7 BTC of asks: 687 015 747.6 sats fill 13 930 000 cents at 0.0202761, the rest at
        # 0.0202762: 14 193 271.298 cents; * 1.001 = 14 207 464.57 -> ceil
        cents = await call(stack, "GetCentsFromSatsForImmediateSell", amount_in_satoshis=7 * 10**8)
        assert cents.amount_in_cents == 14_207_465


@pytest.mark.parametrize("rpc", RPC_NAMES[:-1])
async def test_zero_is_invalid_argument_with_a_message(tmp_path: Path, rpc: str) -> None:
    async with serving(file_books(tmp_path)) as stack:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(stack, rpc)  # every field left at its default, 0
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "must be a positive whole number, got 0" in (raised.value.details() or "")


async def test_an_overflowing_result_is_invalid_argument(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        # 2^64 - 1 cents at 0.001 cents per sat is ~1.8e22 sats: beyond uint64
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(stack, "GetSatsFromCentsForImmediateBuy", amount_in_cents=2**64 - 1)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "overflow uint64" in (raised.value.details() or "")


class SwitchableBooks:
    """A live-like source: a book with its exchange time, or none."""

    def __init__(self, snapshot: BookSnapshot | None) -> None:
        self.snapshot = snapshot

    def latest(self, inst_id: str) -> BookSnapshot | None:
        return self.snapshot

    def health(self) -> dict[str, str]:
        return {"BTC-USD-SWAP": "ok" if self.snapshot else "no book yet"}


def snapshot_at(ts_ms: int) -> BookSnapshot:
    return BookSnapshot.from_levels(
        "okx", "BTC-USD-SWAP", ts_ms, ts_ms, (("1000", "10"),), (("10000", "10"),)
    )


async def health_of(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


async def test_no_book_and_a_stale_book_are_unavailable_and_not_serving() -> None:
    books = SwitchableBooks(None)
    async with serving(books, stale_after_ms=30_000) as stack:
        for rpc in RPC_NAMES:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(stack, rpc, **({} if rpc == RPC_NAMES[-1] else _one(rpc)))
            assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "no fresh BTC-USD-SWAP book from the test: no book yet" in str(
                raised.value.details()
            )
        for channel in (stack.price_channel, stack.quote_channel):
            assert await health_of(channel) == health_pb2.HealthCheckResponse.NOT_SERVING

        books.snapshot = snapshot_at(stack.clock.now_ms() - 5_000)
        await stack.servers.refresh_health()
        assert await health_of(stack.price_channel, "services.price.v1.PriceService") == (
            health_pb2.HealthCheckResponse.SERVING
        )
        ok = await call(stack, "GetCentsFromSatsForImmediateBuy", amount_in_satoshis=10**8)
        assert ok.amount_in_cents == 99_900

        stack.clock.advance(25.001)  # the book is now 30.001 s old by the exchange's clock
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(stack, "GetCentsFromSatsForImmediateBuy", amount_in_satoshis=10**8)
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
        details = str(raised.value.details())
        assert "book from the test is 30.0 s old" in details and "30 s limit" in details
        await stack.servers.refresh_health()
        assert await health_of(stack.quote_channel, "services.quotes.v1.QuoteService") == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )


def _one(rpc: str) -> dict[str, int]:
    return {"amount_in_satoshis" if "CentsFromSats" in rpc else "amount_in_cents": 100}


async def test_the_health_status_follows_the_book_by_itself() -> None:
    books = SwitchableBooks(None)
    async with serving(books, stale_after_ms=30_000) as stack:
        task = asyncio.create_task(refresh_forever(stack))
        try:
            books.snapshot = snapshot_at(stack.clock.now_ms())
            await wait_for_status(stack, health_pb2.HealthCheckResponse.SERVING)
            books.snapshot = None
            await wait_for_status(stack, health_pb2.HealthCheckResponse.NOT_SERVING)
        finally:
            task.cancel()


async def refresh_forever(stack: Stack) -> None:
    """What PriceServers.run does between its sleeps."""
    while True:
        await stack.servers.refresh_health()
        await asyncio.sleep(0.02)


async def wait_for_status(stack: Stack, wanted: int) -> None:
    for _ in range(250):
        if await health_of(stack.price_channel) == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the health status did not become {wanted} in 5 s")


async def test_reflection_lists_each_port_s_service(tmp_path: Path) -> None:
    async with serving(file_books(tmp_path)) as stack:
        price_services = await listed_services(stack.price_channel)
        quote_services = await listed_services(stack.quote_channel)
        described = await file_containing(stack.price_channel, "services.price.v1.PriceService")
    assert "services.price.v1.PriceService" in price_services
    assert "services.quotes.v1.QuoteService" in quote_services
    assert "grpc.health.v1.Health" in price_services & quote_services
    assert b"GetCentsPerSatsExchangeMidRate" in described


async def listed_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in stub.ServerReflectionInfo(iter([request])):
        return {s.name for s in response.list_services_response.service}
    raise AssertionError("no reflection response")


async def file_containing(channel: grpc.aio.Channel, symbol: str) -> bytes:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    async for response in stub.ServerReflectionInfo(iter([request])):
        return b"".join(response.file_descriptor_response.file_descriptor_proto)
    raise AssertionError("no reflection response")
