"""Private trade endpoints: place (one or a batch), look up, cancel, close-position, pending.

Order-level faults act here: `reject_order` refuses with 51008, `partial_fill` fills half of
a market order and completes (or cancels) the rest after `partial_fill_delay_seconds`.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pegkeeper.domain.errors import NotFound, OrderRejected, VenueError
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import Json, OkxError, positive_decimal, required
from pegkeeper.sim.okx_server.faults import Scope
from pegkeeper.sim.okx_server.render_account import fill_json, order_json
from pegkeeper.sim.okx_server.routing import Params, Reply, Route
from pegkeeper.sim.orders import OrderType

ORDER_SCOPES = frozenset({Scope.ALL, Scope.ORDERS})
MAX_BATCH = 20


async def place_order(ctx: SimContext, body: Any) -> Reply:
    if not isinstance(body, dict):
        raise OkxError("50002", "Invalid JSON body: expected an object")
    return _combined([_place_one(ctx, body)])


async def place_batch(ctx: SimContext, body: Any) -> Reply:
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_BATCH:
        raise OkxError("51000", f"Parameter error: expected 1 to {MAX_BATCH} orders")
    return _combined([_place_one(ctx, item) for item in body])


async def get_order(ctx: SimContext, params: Params) -> Reply:
    inst_id = required(params, "instId")
    order = _find(ctx, inst_id, params)
    return Reply([order_json(ctx, order)])


async def cancel_order(ctx: SimContext, body: Params) -> Reply:
    inst_id = required(body, "instId")
    client_id = str(body.get("clOrdId") or "")
    try:
        order = _find(ctx, inst_id, body)
        canceled = ctx.engine.cancel_order(order.client_order_id, inst_id, ctx.now_ms())
    except OkxError as error:
        return _combined([_failure(client_id, error.code, error.msg, ctx)])
    except VenueError as error:
        return _combined([_failure(client_id, error.code, str(error), ctx)])
    result = _success(canceled.client_order_id, canceled.venue_order_id, ctx)
    return _combined([result])


async def close_position(ctx: SimContext, body: Params) -> Reply:
    inst_id = ctx.instrument_or_error(required(body, "instId"))
    if required(body, "mgnMode") != "cross":
        raise OkxError("51000", "Parameter mgnMode error")
    pos_side = str(body.get("posSide") or "net")
    if pos_side != "net":
        raise OkxError("51000", "Parameter posSide error: the account is in net mode")
    client_id = str(body.get("clOrdId") or _venue_client_id())
    ctx.order_requests[client_id] += 1
    max_fill = None
    if ctx.faults.fire("partial_fill", ORDER_SCOPES):
        size = abs(ctx.engine.position(inst_id).size_contracts)
        max_fill = _half(size, ctx.engine.instrument(inst_id).lot_size_contracts)
    try:
        ctx.engine.close_position_order(client_id, inst_id, ctx.now_ms(), max_fill)
    except VenueError as error:
        raise OkxError(error.code or "51000", str(error)) from None
    if max_fill is not None:
        _finish_later(ctx, client_id)
    return Reply([{"clOrdId": client_id, "instId": inst_id, "posSide": pos_side, "tag": ""}])


async def orders_pending(ctx: SimContext, params: Params) -> Reply:
    inst_id = params.get("instId") or None
    wanted_type = params.get("instType")
    found = [order_json(ctx, o) for o in ctx.engine.open_orders(inst_id)]
    if wanted_type:
        found = [o for o in found if o["instType"] == wanted_type]
    return Reply(list(reversed(found)))


async def fills(ctx: SimContext, params: Params) -> Reply:
    inst_id = params.get("instId") or None
    order_id = params.get("ordId")
    found = [
        fill_json(ctx, order, fill)
        for order in ctx.engine.orders(inst_id)
        if not order_id or order.venue_order_id == order_id
        for fill in order.fills
    ]
    return Reply(sorted(found, key=lambda f: int(f["tradeId"]), reverse=True))


def _place_one(ctx: SimContext, item: Any) -> Json:
    if not isinstance(item, dict):
        raise OkxError("50002", "Invalid JSON body: an order must be an object")
    client_id = str(item.get("clOrdId") or _venue_client_id())
    ctx.order_requests[client_id] += 1
    try:
        return _execute(ctx, client_id, item)
    except OkxError as error:
        return _failure(client_id, error.code, error.msg, ctx)
    except VenueError as error:
        return _failure(client_id, error.code or "51000", str(error), ctx)


def _execute(ctx: SimContext, client_id: str, item: Params) -> Json:
    inst_id = ctx.instrument_or_error(required(item, "instId"))
    if required(item, "tdMode") != "cross":
        raise OkxError("51000", "Parameter tdMode error: the simulator margins cross only")
    side = _side(required(item, "side"))
    order_type = _order_type(required(item, "ordType"))
    size = positive_decimal(item, "sz")
    _check_position_side(ctx, str(item.get("posSide") or ""))
    price = positive_decimal(item, "px") if order_type is not OrderType.MARKET else None
    if ctx.faults.fire("reject_order", ORDER_SCOPES):
        raise OrderRejected("Order failed. Insufficient margin in the account", code="51008")
    max_fill = None
    if order_type is OrderType.MARKET and ctx.faults.fire("partial_fill", ORDER_SCOPES):
        max_fill = _half(size, ctx.engine.instrument(inst_id).lot_size_contracts)
    order = ctx.engine.place_order(
        client_id,
        inst_id,
        side,
        size,
        ctx.now_ms(),
        order_type=order_type,
        limit_price_usd=price,
        max_fill_contracts=max_fill,
    )
    if max_fill is not None:
        _finish_later(ctx, client_id)
    return _success(client_id, order.venue_order_id, ctx)


def _finish_later(ctx: SimContext, client_id: str) -> None:
    delay_s = ctx.faults.numbers["partial_fill_delay_seconds"]
    cancel = ctx.faults.partial_fill_then == "cancel"

    def finish() -> None:
        engine, now_ms = ctx.engine, ctx.now_ms()
        try:
            if cancel:
                engine.cancel_order(client_id, None, now_ms)
            else:
                engine.fill_remaining(client_id, now_ms)
        except VenueError:
            return  # no price, or nothing left to do

    ctx.later(delay_s, finish)


def _find(ctx: SimContext, inst_id: str, params: Params) -> Any:
    client_id, order_id = params.get("clOrdId"), params.get("ordId")
    if not client_id and not order_id:
        raise OkxError("50014", "Parameter ordId or clOrdId can not be empty")
    try:
        if client_id:
            return ctx.engine.order_details(str(client_id), inst_id)
        for order in ctx.engine.orders(inst_id):
            if order.venue_order_id == order_id:
                return order
    except NotFound:
        pass
    raise OkxError("51603", "Order does not exist")


def _side(text: str) -> OrderSide:
    try:
        return OrderSide(text)
    except ValueError:
        raise OkxError("51000", "Parameter side error") from None


def _order_type(text: str) -> OrderType:
    try:
        return OrderType(text)
    except ValueError:
        raise OkxError("51000", f"Parameter ordType error: {text} is not simulated") from None


def _check_position_side(ctx: SimContext, pos_side: str) -> None:
    if ctx.engine.position_mode == "net_mode":
        if pos_side not in ("", "net"):
            raise OkxError("51000", "Parameter posSide error")
        return
    raise OkxError("51000", "Parameter posSide error: long/short mode is not simulated")


def _half(size: Decimal, lot: Decimal) -> Decimal:
    return (size / 2 / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


def _venue_client_id() -> str:
    return "sim" + uuid.uuid4().hex[:16]


def _success(client_id: str, order_id: str, ctx: SimContext) -> Json:
    return {
        "clOrdId": client_id,
        "ordId": order_id,
        "sCode": "0",
        "sMsg": "Order placed",
        "tag": "",
        "ts": str(ctx.now_ms()),
    }


def _failure(client_id: str, code: str, message: str, ctx: SimContext) -> Json:
    return {
        "clOrdId": client_id,
        "ordId": "",
        "sCode": code,
        "sMsg": message,
        "tag": "",
        "ts": str(ctx.now_ms()),
    }


def _combined(results: list[Json]) -> Reply:
    failed = sum(1 for r in results if r["sCode"] != "0")
    if failed == 0:
        return Reply(results)
    if failed == len(results):
        return Reply(results, code="1", msg="All operations failed")
    return Reply(results, code="2", msg="Bulk operation partially succeeded")


ROUTES = (
    Route("POST", "trade/order", place_order, places_orders=True),
    Route("POST", "trade/batch-orders", place_batch, places_orders=True),
    Route("POST", "trade/close-position", close_position, places_orders=True),
    Route("POST", "trade/cancel-order", cancel_order),
    Route("GET", "trade/order", get_order),
    Route("GET", "trade/orders-pending", orders_pending),
    Route("GET", "trade/fills", fills),
)
