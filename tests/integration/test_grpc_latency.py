"""The quote latency histogram's source: every price and quote rpc timed, health checks not."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pegkeeper.api.grpc.pb import price_pb2, quotes_pb2
from pegkeeper.api.grpc.timing import LatencyInterceptor
from tests.grpc_support import file_books, serving


async def test_price_and_quote_rpcs_are_timed_with_their_names(tmp_path: Path) -> None:
    observed: list[tuple[str, float]] = []
    interceptor = LatencyInterceptor(lambda rpc, seconds: observed.append((rpc, seconds)))
    async with serving(file_books(tmp_path), interceptors=(interceptor,)) as stack:
        answer = await stack.price.GetCentsFromSatsForImmediateBuy(
            price_pb2.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=10**8)
        )
        assert answer.amount_in_cents == 99_900  # the interceptor leaves the answer alone
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.price.GetCentsFromSatsForImmediateBuy(
                price_pb2.GetCentsFromSatsForImmediateBuyRequest(amount_in_satoshis=0)
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        await stack.quote.GetQuoteToBuyUsd(
            quotes_pb2.GetQuoteToBuyUsdRequest(amount_to_buy_in_cents=1_000)
        )
        health = health_pb2_grpc.HealthStub(stack.price_channel)
        await health.Check(health_pb2.HealthCheckRequest())
    assert [rpc for rpc, _ in observed] == [
        "GetCentsFromSatsForImmediateBuy",
        "GetCentsFromSatsForImmediateBuy",  # a refusal is an answer too
        "GetQuoteToBuyUsd",
    ]
    assert all(0 < seconds < 5 for _, seconds in observed)
