"""`services.price.v1.PriceService`: the nine rpcs of specs/price-service.md.

Immediate rpcs use the immediate fee, Future rpcs the delayed fee; `time_in_seconds` does not
change the price. Buy walks the bids, Sell the asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from pegkeeper.api.grpc.handlers import (
    Behaviour,
    Context,
    Malformed,
    abort_for,
    reject_malformed,
    unary,
)
from pegkeeper.api.grpc.pb import price_pb2 as pb
from pegkeeper.domain.quote_math import Direction
from pegkeeper.services.market.pricer import Pricer


@dataclass(frozen=True, slots=True)
class _Rpc:
    name: str
    sats_to_cents: bool  # else cents to sats
    direction: Direction
    immediate: bool


_AMOUNT_RPCS = tuple(
    _Rpc(
        f"Get{'CentsFromSats' if to_cents else 'SatsFromCents'}For{timing}{side}",
        to_cents,
        Direction.BUY if side == "Buy" else Direction.SELL,
        timing == "Immediate",
    )
    for to_cents in (True, False)
    for timing in ("Immediate", "Future")
    for side in ("Buy", "Sell")
)
MID_RATE = "GetCentsPerSatsExchangeMidRate"
RPC_NAMES = (*(rpc.name for rpc in _AMOUNT_RPCS), MID_RATE)


def price_handlers(pricer: Pricer) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    handlers = {
        rpc.name: unary(
            _amount_behaviour(pricer, rpc),
            getattr(pb, f"{rpc.name}Request"),
            getattr(pb, f"{rpc.name}Response"),
        )
        for rpc in _AMOUNT_RPCS
    }
    handlers[MID_RATE] = unary(
        _mid_rate_behaviour(pricer),
        pb.GetCentsPerSatsExchangeMidRateRequest,
        pb.GetCentsPerSatsExchangeMidRateResponse,
    )
    return handlers


def _amount_behaviour(pricer: Pricer, rpc: _Rpc) -> Behaviour:
    response_type = getattr(pb, f"{rpc.name}Response")
    direction = rpc.direction
    immediate = rpc.immediate
    if rpc.sats_to_cents:
        cents_from_sats = pricer.cents_from_sats

        async def sats_to_cents(request: Any, context: Context) -> Any:
            if request.__class__ is Malformed:
                await reject_malformed(request, context)
            try:
                cents = cents_from_sats(direction, request.amount_in_satoshis, immediate)
            except Exception as error:
                await abort_for(error, context)
            return response_type(amount_in_cents=cents)

        return sats_to_cents

    sats_from_cents = pricer.sats_from_cents

    async def cents_to_sats(request: Any, context: Context) -> Any:
        if request.__class__ is Malformed:
            await reject_malformed(request, context)
        try:
            sats = sats_from_cents(direction, request.amount_in_cents, immediate)
        except Exception as error:
            await abort_for(error, context)
        return response_type(amount_in_satoshis=sats)

    return cents_to_sats


def _mid_rate_behaviour(pricer: Pricer) -> Behaviour:
    async def mid_rate(request: Any, context: Context) -> Any:
        if request.__class__ is Malformed:
            await reject_malformed(request, context)
        try:
            ratio = pricer.mid_rate_cents_per_sat()
        except Exception as error:
            await abort_for(error, context)
        return pb.GetCentsPerSatsExchangeMidRateResponse(ratio_in_cents_per_satoshis=float(ratio))

    return mid_rate
