"""Public REST endpoints: instruments, time, tickers, books, mark price, funding rate and its
history."""

from __future__ import annotations

from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import OkxError, required, whole_param
from pegkeeper.sim.okx_server.render_market import (
    book_json,
    funding_rate_json,
    inst_type,
    instruments_json,
    mark_price_json,
    settled_funding_json,
    ticker_json,
)
from pegkeeper.sim.okx_server.routing import Params, Reply, Route

INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
RATES_LIMIT = (100, 400)  # funding-rate-history: the default and the largest page


async def instruments(ctx: SimContext, params: Params) -> Reply:
    wanted = required(params, "instType")
    if wanted not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error")
    found = instruments_json(ctx, wanted)
    inst_id = params.get("instId")
    if inst_id:
        found = [i for i in found if i["instId"] == inst_id]
    return Reply(found)


async def server_time(ctx: SimContext, params: Params) -> Reply:
    return Reply([{"ts": str(ctx.now_ms())}])


async def ticker(ctx: SimContext, params: Params) -> Reply:
    inst_id = ctx.instrument_or_error(required(params, "instId"))
    return Reply([ticker_json(ctx, inst_id)])


async def tickers(ctx: SimContext, params: Params) -> Reply:
    wanted = required(params, "instType")
    engine = ctx.engine
    chosen = [i for i in engine.live_instrument_ids if inst_type(engine.instrument(i)) == wanted]
    return Reply([ticker_json(ctx, i) for i in chosen if engine.mark_price_usd(i) is not None])


async def books(ctx: SimContext, params: Params) -> Reply:
    inst_id = ctx.instrument_or_error(required(params, "instId"))
    depth_text = str(params.get("sz") or "1")
    if not depth_text.isdigit() or not 1 <= int(depth_text) <= 400:
        raise OkxError("51000", "Parameter sz error")
    return Reply([book_json(ctx.market(inst_id), int(depth_text))])


async def mark_price(ctx: SimContext, params: Params) -> Reply:
    wanted = required(params, "instType")
    engine = ctx.engine
    inst_id = params.get("instId")
    chosen = [inst_id] if inst_id else list(engine.live_instrument_ids)
    for chosen_id in chosen:
        ctx.instrument_or_error(chosen_id)
    return Reply(
        [
            mark_price_json(ctx, i)
            for i in chosen
            if inst_type(engine.instrument(i)) == wanted and engine.mark_price_usd(i) is not None
        ]
    )


async def funding_rate(ctx: SimContext, params: Params) -> Reply:
    inst_id = ctx.instrument_or_error(required(params, "instId"))
    if not ctx.engine.instrument(inst_id).has_funding:
        raise OkxError("51000", f"Parameter instId error: {inst_id} has no funding rate")
    return Reply([funding_rate_json(ctx, inst_id)])


async def funding_rate_history(ctx: SimContext, params: Params) -> Reply:
    """The settled rates, newest first: `after` (settled before that time), `before` (after
    it), `limit`."""
    inst_id = ctx.instrument_or_error(required(params, "instId"))
    if not ctx.engine.instrument(inst_id).has_funding:
        raise OkxError("51000", f"Parameter instId error: {inst_id} has no funding rate")
    limit = whole_param(params, "limit", RATES_LIMIT[0])
    if not 1 <= limit <= RATES_LIMIT[1]:
        raise OkxError("51000", "Parameter limit error")
    after, before = whole_param(params, "after", 0), whole_param(params, "before", 0)
    settled = [
        (at_ms, rate)
        for at_ms, rate in ctx.engine.settled_funding_rates(inst_id)
        if (not after or at_ms < after) and at_ms > before
    ]
    newest = sorted(settled, reverse=True)[:limit]
    return Reply([settled_funding_json(inst_id, at_ms, rate) for at_ms, rate in newest])


ROUTES = (
    Route("GET", "public/instruments", instruments, private=False),
    Route("GET", "public/time", server_time, private=False),
    Route("GET", "public/mark-price", mark_price, private=False),
    Route("GET", "public/funding-rate", funding_rate, private=False),
    Route("GET", "public/funding-rate-history", funding_rate_history, private=False),
    Route("GET", "market/ticker", ticker, private=False),
    Route("GET", "market/tickers", tickers, private=False),
    Route("GET", "market/books", books, private=False),
)
