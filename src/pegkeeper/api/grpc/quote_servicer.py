"""`services.quotes.v1.QuoteService`: quotes to buy or sell USD, and accepting them."""

from __future__ import annotations

from typing import Any

import grpc

from pegkeeper.api.grpc.handlers import Context, Malformed, abort_for, reject_malformed, unary
from pegkeeper.api.grpc.pb import quotes_pb2 as pb
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import Quote
from pegkeeper.services.market.wallet_quotes import QuoteService

RPC_NAMES = ("GetQuoteToBuyUsd", "GetQuoteToSellUsd", "AcceptQuote")


def quote_handlers(service: QuoteService) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    quotes = _Quotes(service)
    return {
        "GetQuoteToBuyUsd": unary(
            quotes.to_buy_usd, pb.GetQuoteToBuyUsdRequest, pb.GetQuoteToBuyUsdResponse
        ),
        "GetQuoteToSellUsd": unary(
            quotes.to_sell_usd, pb.GetQuoteToSellUsdRequest, pb.GetQuoteToSellUsdResponse
        ),
        "AcceptQuote": unary(quotes.accept, pb.AcceptQuoteRequest, pb.AcceptQuoteResponse),
    }


class _Quotes:
    def __init__(self, service: QuoteService) -> None:
        self._service = service

    async def to_buy_usd(self, request: Any, context: Context) -> Any:
        """The user sells sats for cents: one of the sats to sell or the cents to buy."""
        if request.__class__ is Malformed:
            await reject_malformed(request, context)
        try:
            quote = await self._quote(
                Direction.BUY, request, "amount_to_sell_in_sats", "amount_to_buy_in_cents"
            )
        except Exception as error:
            await abort_for(error, context)
        return pb.GetQuoteToBuyUsdResponse(
            quote_id=quote.quote_id,
            amount_to_sell_in_sats=quote.amount_sats,
            amount_to_buy_in_cents=quote.amount_cents,
            expires_at=quote.expires_at_s,
            executed=quote.executed,
        )

    async def to_sell_usd(self, request: Any, context: Context) -> Any:
        """The user sells cents for sats: one of the sats to buy or the cents to sell."""
        if request.__class__ is Malformed:
            await reject_malformed(request, context)
        try:
            quote = await self._quote(
                Direction.SELL, request, "amount_to_buy_in_sats", "amount_to_sell_in_cents"
            )
        except Exception as error:
            await abort_for(error, context)
        return pb.GetQuoteToSellUsdResponse(
            quote_id=quote.quote_id,
            amount_to_buy_in_sats=quote.amount_sats,
            amount_to_sell_in_cents=quote.amount_cents,
            expires_at=quote.expires_at_s,
            executed=quote.executed,
        )

    async def accept(self, request: Any, context: Context) -> Any:
        if request.__class__ is Malformed:
            await reject_malformed(request, context)
        try:
            await self._service.accept(request.quote_id)
        except Exception as error:
            await abort_for(error, context)
        return pb.AcceptQuoteResponse()

    async def _quote(
        self, direction: Direction, request: Any, sats_field: str, cents_field: str
    ) -> Quote:
        which = request.WhichOneof("quote_for")
        if which is None:
            raise InvalidInput(f"quote_for is not set: give {sats_field} or {cents_field}")
        amount = getattr(request, which)
        return await self._service.quote(
            direction,
            sats=amount if which == sats_field else None,
            cents=amount if which == cents_field else None,
            immediate=request.immediate_execution,
        )
