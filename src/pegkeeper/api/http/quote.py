"""The price service over HTTP, for people and scripts:
`GET /api/v1/quote?direction=buy|sell&sats=N` (or `&cents=N`) `&immediate=true|false`.

The numbers are those of the gRPC rpcs: `immediate=false` is a Future rpc (the delayed fee).
Nothing is stored; quotes with ids are the gRPC QuoteService's.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.quote_math import (
    UINT64_MAX,
    Direction,
    cents_from_sats,
    mid_rate_cents_per_sat,
    sats_from_cents,
)
from pegkeeper.services.market.pricer import BookUnavailable, Pricer

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def quote_router(pricer: Pricer) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/quote")
    async def get_quote(
        direction: str | None = None,
        sats: str | None = None,
        cents: str | None = None,
        immediate: str = "true",
    ) -> JSONResponse:
        chosen = _direction(direction)
        now = _flag("immediate", immediate)
        amount_sats, amount_cents = _amounts(sats, cents)
        try:
            body = _price(pricer, chosen, now, amount_sats, amount_cents)
        except BookUnavailable as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        return JSONResponse(body)

    return router


def _price(
    pricer: Pricer, direction: Direction, immediate: bool, sats: int | None, cents: int | None
) -> dict[str, Any]:
    book = pricer.book()  # one book for every number of the answer
    rate = pricer.fee_rate(immediate)
    if sats is not None:
        cents = cents_from_sats(book, direction, sats, rate)
    else:
        assert cents is not None
        sats = sats_from_cents(book, direction, cents, rate)
    return {
        "direction": direction.value,
        "immediate": immediate,
        "amount_in_satoshis": sats,
        "amount_in_cents": cents,
        "fee_rate": str(rate),
        "mid_rate_cents_per_sat": str(mid_rate_cents_per_sat(book)),
        "inst_id": pricer.inst_id,
        "book_source": pricer.source,
        "book_ts_ms": book.ts_ms,
    }


def _direction(value: str | None) -> Direction:
    if value not in ("buy", "sell"):
        raise InvalidInput(
            f"direction must be buy (the user buys USD) or sell (the user sells USD), got {value!r}"
        )
    return Direction(value)


def _flag(name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise InvalidInput(f"{name} must be true or false, got {value!r}") from None


def _amounts(sats: str | None, cents: str | None) -> tuple[int | None, int | None]:
    if (sats is None) == (cents is None):
        raise InvalidInput("give exactly one amount: sats=N or cents=N")
    if sats is not None:
        return _amount("sats", sats), None
    assert cents is not None
    return None, _amount("cents", cents)


def _amount(name: str, raw: str) -> int:
    text = raw.strip()
    if not _INTEGER.match(text):
        raise InvalidInput(f"{name} must be a whole number, got {raw[:40]!r}")
    if len(text.lstrip("+-0")) > len(str(UINT64_MAX)):
        raise InvalidInput(f"{name} {text[:40]}... does not fit in uint64 (at most {UINT64_MAX})")
    value = int(text)
    if value <= 0:
        raise InvalidInput(f"{name} must be positive, got {value}")
    if value > UINT64_MAX:
        raise InvalidInput(f"{name} {value} does not fit in uint64 (at most {UINT64_MAX})")
    return value
