"""Random bytes and random field values at every rpc: the server answers each with a status that
names the caller's mistake (or OK), never INTERNAL or UNKNOWN, and keeps serving.

The servers run in their own thread and event loop for the whole module, with quotes stored in
SQLite; hypothesis drives a blocking grpcio channel.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegkeeper.adapters.store.database import open_store
from pegkeeper.api.grpc.pb import price_pb2, quotes_pb2
from pegkeeper.api.grpc.price_servicer import RPC_NAMES as PRICE_RPCS
from pegkeeper.api.grpc.quote_servicer import RPC_NAMES as QUOTE_RPCS
from tests.grpc_support import Stack, file_books, serving

OK_OR_CALLER = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Background:
    """The servers on a loop in another thread."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp = tmp
        self._stop: asyncio.Event | None = None
        self._ready: Future[Stack] = Future()
        self._done = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        store = await open_store(f"sqlite+aiosqlite:///{self.tmp / 'fuzz.db'}")
        try:
            async with serving(
                file_books(self.tmp), store=store, max_abs_delta_cents=100_000_000
            ) as stack:
                self._ready.set_result(stack)
                await self._stop.wait()
        finally:
            await store.close()

    def start(self) -> Stack:
        return self._ready.result(timeout=30)

    def close(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._done.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    background = Background(tmp_path_factory.mktemp("fuzz"))
    stack = background.start()
    yield stack.servers.price_port, stack.servers.quote_port
    background.close()


@pytest.fixture(scope="module")
def channels(ports: tuple[int, int]) -> Iterator[dict[str, grpc.Channel]]:
    price = grpc.insecure_channel(f"127.0.0.1:{ports[0]}")
    quote = grpc.insecure_channel(f"127.0.0.1:{ports[1]}")
    yield {
        **{f"/services.price.v1.PriceService/{rpc}": price for rpc in PRICE_RPCS},
        **{f"/services.quotes.v1.QuoteService/{rpc}": quote for rpc in QUOTE_RPCS},
    }
    price.close()
    quote.close()


def status_of(channel: grpc.Channel, path: str, payload: bytes) -> grpc.StatusCode:
    raw = channel.unary_unary(path)  # bytes in, bytes out
    try:
        raw(payload, timeout=10)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        code: grpc.StatusCode = error.code()
        assert code in OK_OR_CALLER, f"{path} {payload!r}: {code} {error.details()}"
        return code
    return grpc.StatusCode.OK


ALL_RPCS = [f"/services.price.v1.PriceService/{r}" for r in PRICE_RPCS] + [
    f"/services.quotes.v1.QuoteService/{r}" for r in QUOTE_RPCS
]


@EXAMPLES
@given(path=st.sampled_from(ALL_RPCS), payload=st.binary(max_size=200))
def test_random_bytes(channels: dict[str, grpc.Channel], path: str, payload: bytes) -> None:
    status_of(channels[path], path, payload)


def _price_request(rpc: str) -> st.SearchStrategy[Any]:
    message = getattr(price_pb2, f"{rpc}Request")
    fields = {f.name: UINT64 for f in message.DESCRIPTOR.fields}
    return st.builds(message, **fields)


def _quote_request(kind: str, sats_field: str, cents_field: str) -> st.SearchStrategy[Any]:
    message = getattr(quotes_pb2, f"{kind}Request")
    amount = st.one_of(
        st.builds(dict),
        st.builds(lambda v: {sats_field: v}, UINT64),
        st.builds(lambda v: {cents_field: v}, UINT64),
    )
    return st.builds(lambda a, now: message(**a, immediate_execution=now), amount, st.booleans())


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80)
REQUESTS = st.one_of(
    *(
        st.tuples(st.just(f"/services.price.v1.PriceService/{r}"), _price_request(r))
        for r in PRICE_RPCS
    ),
    st.tuples(
        st.just("/services.quotes.v1.QuoteService/GetQuoteToBuyUsd"),
        _quote_request("GetQuoteToBuyUsd", "amount_to_sell_in_sats", "amount_to_buy_in_cents"),
    ),
    st.tuples(
        st.just("/services.quotes.v1.QuoteService/GetQuoteToSellUsd"),
        _quote_request("GetQuoteToSellUsd", "amount_to_buy_in_sats", "amount_to_sell_in_cents"),
    ),
    st.tuples(
        st.just("/services.quotes.v1.QuoteService/AcceptQuote"),
        st.builds(
            quotes_pb2.AcceptQuoteRequest,
            quote_id=st.one_of(TEXT, st.uuids().map(str)),
        ),
    ),
)


@EXAMPLES
@given(request=REQUESTS)
def test_random_field_values(channels: dict[str, grpc.Channel], request: tuple[str, Any]) -> None:
    path, message = request
    status_of(channels[path], path, message.SerializeToString())


def test_the_servers_still_serve(channels: dict[str, grpc.Channel]) -> None:
    for path in (ALL_RPCS[0], ALL_RPCS[-1]):
        health = health_pb2_grpc.HealthStub(channels[path])
        response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
