"""Private account endpoints: configuration, leverage, positions, trading balance, bills."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.errors import InvalidInput
from pegkeeper.sim.accounts import CURRENCIES
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import (
    OkxError,
    positive_decimal,
    required,
    text,
    whole_param,
)
from pegkeeper.sim.okx_server.render_account import (
    account_config_json,
    balance_json,
    funding_bill_json,
    positions_json,
)
from pegkeeper.sim.okx_server.routing import Params, Reply, Route, comma_list

POSITION_MODES = ("net_mode", "long_short_mode")
BILLS_LIMIT = 100


async def config(ctx: SimContext, params: Params) -> Reply:
    return Reply([account_config_json(ctx)])


async def leverage_info(ctx: SimContext, params: Params) -> Reply:
    inst_ids = comma_list(params, "instId")
    if not inst_ids:
        raise OkxError("50014", "Parameter instId can not be empty")
    margin_mode = _margin_mode(params)
    return Reply([_leverage_json(ctx, ctx.instrument_or_error(i), margin_mode) for i in inst_ids])


async def set_leverage(ctx: SimContext, body: Params) -> Reply:
    inst_id = ctx.instrument_or_error(required(body, "instId"))
    margin_mode = _margin_mode(body)
    lever = positive_decimal(body, "lever")
    try:
        ctx.engine.set_leverage(lever, inst_id)
    except InvalidInput:
        raise OkxError("51000", "Parameter lever error") from None
    return Reply([_leverage_json(ctx, inst_id, margin_mode)])


async def set_position_mode(ctx: SimContext, body: Params) -> Reply:
    mode = required(body, "posMode")
    if mode not in POSITION_MODES:
        raise OkxError("51000", "Parameter posMode error")
    engine = ctx.engine
    if mode != engine.position_mode and any(
        engine.mark_price_usd(i) is not None and engine.position(i).size_contracts != 0
        for i in engine.instrument_ids
    ):
        raise OkxError("59000", "Settings failed. Close any open positions or orders first.")
    engine.position_mode = mode
    return Reply([{"posMode": mode}])


async def positions(ctx: SimContext, params: Params) -> Reply:
    if ctx.faults.on("empty_positions"):
        return Reply([])
    inst_ids = comma_list(params, "instId")
    for inst_id in inst_ids or []:
        if inst_id not in ctx.engine.instrument_ids:
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist")
    found = positions_json(ctx, inst_ids)
    wanted_type = params.get("instType")
    if wanted_type:
        found = [p for p in found if p["instType"] == wanted_type]
    return Reply(found)


async def balance(ctx: SimContext, params: Params) -> Reply:
    return Reply([balance_json(ctx, comma_list(params, "ccy"))])


async def bills(ctx: SimContext, params: Params) -> Reply:
    """The trading account's bills, newest first; the simulator books funding fees (type 8)
    only. Filters: type, ccy, instId, begin and end (ms, inclusive), `after` (older than that
    bill id) and `before` (newer), limit (at most 100)."""
    limit = whole_param(params, "limit", BILLS_LIMIT)
    if not 1 <= limit <= BILLS_LIMIT:
        raise OkxError("51000", "Parameter limit error")
    if params.get("type", "8") != "8":
        return Reply([])
    after, before = whole_param(params, "after", 0), whole_param(params, "before", 0)
    begin, end = whole_param(params, "begin", 0), whole_param(params, "end", 0)
    found = [
        (int(bill_id), funding_bill_json(bill_id, payment))
        for currency in comma_list(params, "ccy") or CURRENCIES
        for bill_id, payment in ctx.engine.funding_bills(currency)
        if begin <= payment.ts_ms and (not end or payment.ts_ms <= end)
        and params.get("instId", payment.instrument_id) == payment.instrument_id
        and (not after or int(bill_id) < after) and int(bill_id) > before
    ]  # fmt: skip
    return Reply([bill for _, bill in sorted(found, key=lambda b: -b[0])[:limit]])


def _margin_mode(params: Params) -> str:
    mode = required(params, "mgnMode")
    if mode != "cross":
        raise OkxError("51000", "Parameter mgnMode error: the simulator margins cross only")
    return mode


def _leverage_json(ctx: SimContext, inst_id: str, margin_mode: str) -> dict[str, str]:
    lever = ctx.engine.leverage(inst_id)
    return {
        "ccy": "",
        "instId": inst_id,
        "lever": text(Decimal(lever)),
        "mgnMode": margin_mode,
        "posSide": "net",
    }


ROUTES = (
    Route("GET", "account/config", config),
    Route("GET", "account/leverage-info", leverage_info),
    Route("POST", "account/set-leverage", set_leverage),
    Route("POST", "account/set-position-mode", set_position_mode),
    Route("GET", "account/positions", positions),
    Route("GET", "account/balance", balance),
    Route("GET", "account/bills", bills),
)
