"""A small blocking client of the price and quote services, for the CLI and scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from pegkeeper.api.grpc.pb import price_grpc, price_pb2, quotes_grpc, quotes_pb2

TIMEOUT_SECONDS = 10.0


class CallFailed(Exception):
    """The server answered with an error status (or could not be reached)."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


@dataclass(frozen=True, slots=True)
class QuoteAnswer:
    quote_id: str
    amount_sats: int
    amount_cents: int
    expires_at: int
    executed: bool


def target(url: str) -> str:
    """`host:port` from `host:port`, `http://host:port` or `grpc://host:port`."""
    return url.split("://", 1)[-1].rstrip("/")


def price(url: str, rpc: str, amount: int, time_in_seconds: int | None = None) -> int:
    """One amount rpc of the PriceService by name, e.g. GetCentsFromSatsForImmediateBuy."""
    field = "amount_in_satoshis" if "CentsFromSats" in rpc else "amount_in_cents"
    fields: dict[str, Any] = {field: amount}
    if time_in_seconds is not None:
        fields["time_in_seconds"] = time_in_seconds
    request = getattr(price_pb2, f"{rpc}Request")(**fields)
    with grpc.insecure_channel(target(url)) as channel:
        response = _call(getattr(price_grpc.PriceServiceStub(channel), rpc), request)
    result = (
        response.amount_in_cents if field == "amount_in_satoshis" else response.amount_in_satoshis
    )
    return int(result)


def mid_rate(url: str) -> float:
    with grpc.insecure_channel(target(url)) as channel:
        stub = price_grpc.PriceServiceStub(channel)
        response = _call(
            stub.GetCentsPerSatsExchangeMidRate, price_pb2.GetCentsPerSatsExchangeMidRateRequest()
        )
    return float(response.ratio_in_cents_per_satoshis)


def quote(
    url: str, buy: bool, *, sats: int | None, cents: int | None, immediate: bool
) -> QuoteAnswer:
    """A quote to buy USD (`buy`) or to sell USD, for `sats` or for `cents`."""
    sats_field, cents_field = (
        ("amount_to_sell_in_sats", "amount_to_buy_in_cents")
        if buy
        else ("amount_to_buy_in_sats", "amount_to_sell_in_cents")
    )
    fields: dict[str, Any] = {"immediate_execution": immediate}
    if sats is not None:
        fields[sats_field] = sats
    if cents is not None:
        fields[cents_field] = cents
    kind = "GetQuoteToBuyUsd" if buy else "GetQuoteToSellUsd"
    with grpc.insecure_channel(target(url)) as channel:
        stub = quotes_grpc.QuoteServiceStub(channel)
        r = _call(getattr(stub, kind), getattr(quotes_pb2, f"{kind}Request")(**fields))
    return QuoteAnswer(
        r.quote_id,
        int(getattr(r, sats_field)),
        int(getattr(r, cents_field)),
        r.expires_at,
        r.executed,
    )


def accept_quote(url: str, quote_id: str) -> None:
    with grpc.insecure_channel(target(url)) as channel:
        stub = quotes_grpc.QuoteServiceStub(channel)
        _call(stub.AcceptQuote, quotes_pb2.AcceptQuoteRequest(quote_id=quote_id))


def _call(method: Any, request: Any) -> Any:
    try:
        return method(request, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        if not isinstance(error, grpc.Call):
            raise CallFailed("UNKNOWN", str(error)) from None
        raise CallFailed(error.code().name, str(error.details())) from None
