"""The simulator's own controls under /sim/v1 (not OKX's API): switch faults, drop the
WebSockets, read what it received, move the price, send a deposit from outside.

| method and path | body | answer |
|---|---|---|
| GET /sim/v1/faults | | every fault and its setting, and the active ones |
| POST /sim/v1/faults | {"http_429": "2:orders", "ws_silent": "on"} | the same, after the change |
| DELETE /sim/v1/faults | | every fault off |
| POST /sim/v1/ws/drop | | closes every WebSocket now |
| GET /sim/v1/requests | | orders, transfers and withdrawals received per client id, the
  orders' expTime headers; REST requests by path; the served wallet's sendtoaddress requests
  per comment |
| POST /sim/v1/price | {"price": "7000.5"} | every instrument at that price now |
| POST /sim/v1/deposits | {"ccy": "BTC", "amt": "0.5"} | a deposit seen onchain |
| POST /sim/v1/deposit-address | {"ccy": "BTC", "chain": "BTC-Lightning", "to": "18"} | the
  chain and credited account /asset/deposit-address answers from now on |
| GET /sim/v1/state | | positions, balances, open orders, sockets |
| GET /sim/v1/wallet | | the served wallet (404 without one), brought up to now: its balance,
  its payments, and the deposits the exchange has seen |
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from pegkeeper.domain.errors import VenueError
from pegkeeper.sim.bitcoind_rpc import btc
from pegkeeper.sim.okx_server.envelope import text
from pegkeeper.sim.okx_server.render_account import deposit_json

if TYPE_CHECKING:
    from pegkeeper.sim.okx_server.app import OkxSimServer

PREFIX = "/sim/v1"


def admin_routes(app: web.Application, server: OkxSimServer) -> None:
    ctx = server.ctx

    async def get_faults(request: web.Request) -> web.Response:
        return _json({"faults": ctx.faults.describe(), "active": ctx.faults.active()})

    async def set_faults(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            ctx.faults.set_many({str(k): str(v) for k, v in body.items()})
        except ValueError as error:
            return _json({"error": str(error)}, status=400)
        return await get_faults(request)

    async def clear_faults(request: web.Request) -> web.Response:
        ctx.faults.clear()
        return await get_faults(request)

    async def drop(request: web.Request) -> web.Response:
        return _json({"dropped": await server.hub.drop_all()})

    async def requests(request: web.Request) -> web.Response:
        return _json(
            {
                "orders": dict(ctx.order_requests),
                "transfers": dict(ctx.transfer_requests),
                "withdrawals": dict(ctx.withdrawal_requests),
                "exp_times": dict(ctx.exp_times),
                "rest": dict(ctx.rest_requests),
                "rest_total": ctx.rest_requests.total(),
                "wallet_sends": {} if server.bitcoind is None else dict(server.bitcoind.sends),
            }
        )

    async def set_price(request: web.Request) -> web.Response:
        price = _decimal((await _body(request)).get("price"))
        if price is None or price <= 0:
            return _json({"error": 'expected {"price": "<positive number>"}'}, status=400)
        ctx.engine.set_prices(ctx.now_ms(), price)
        server.prices_changed()
        return await state(request)

    async def deposit(request: web.Request) -> web.Response:
        body = await _body(request)
        amount = _decimal(body.get("amt"))
        if amount is None:
            return _json({"error": 'expected {"ccy": "BTC", "amt": "0.5"}'}, status=400)
        try:
            done = ctx.engine.wallet.receive(amount, str(body.get("ccy", "BTC")), ctx.now_ms())
        except (VenueError, ValueError) as error:
            return _json({"error": str(error)}, status=400)
        return _json(deposit_json(done))

    async def deposit_address(request: web.Request) -> web.Response:
        body = await _body(request)
        terms = ctx.deposit_terms.get(str(body.get("ccy", "BTC")))
        if terms is None:
            return _json({"error": f"expected ccy one of {sorted(ctx.deposit_terms)}"}, 400)
        terms.update({k: str(body[k]) for k in ("chain", "to") if k in body})
        return _json(ctx.deposit_terms)

    async def state(request: web.Request) -> web.Response:
        engine = ctx.engine
        positions = {
            i: text(engine.position(i).size_contracts)
            for i in engine.live_instrument_ids
            if engine.mark_price_usd(i) is not None
        }
        balances = {
            c: {"trading_equity": text(b.trading_equity), "funding": text(b.funding_balance)}
            for c in ("BTC", "USDT")
            if (b := engine.balances(c))
        }
        return _json(
            {
                "positions": positions,
                "balances": balances,
                "open_orders": [o.client_order_id for o in engine.open_orders()],
                "websockets": server.hub.open_connections,
                "faults": ctx.faults.active(),
            }
        )

    async def wallet(request: web.Request) -> web.Response:
        node = server.bitcoind
        if node is None:
            return _json({"error": "no wallet is served: start it with one"}, status=404)
        ctx.advance()
        chain = node.chain
        sent = [
            {
                "txid": tx.tx_id,
                "address": tx.address,
                "amount": text(btc(tx.amount_sats)),
                "fee": text(btc(tx.fee_sats)),
                "comment": tx.comment,
                "confirmations": chain.confirmations(tx),
                "replaced_by": tx.replaced_by,
            }
            for tx in chain.sent()
        ]
        deposits = [deposit_json(d) for d in ctx.engine.wallet.deposits()]
        balance = text(btc(chain.balance_sats))
        return _json({"balance": balance, "sent": sent, "deposits": deposits})

    app.router.add_get(PREFIX + "/faults", get_faults)
    app.router.add_post(PREFIX + "/faults", set_faults)
    app.router.add_delete(PREFIX + "/faults", clear_faults)
    app.router.add_post(PREFIX + "/ws/drop", drop)
    app.router.add_get(PREFIX + "/requests", requests)
    app.router.add_post(PREFIX + "/price", set_price)
    app.router.add_post(PREFIX + "/deposits", deposit)
    app.router.add_post(PREFIX + "/deposit-address", deposit_address)
    app.router.add_get(PREFIX + "/state", state)
    app.router.add_get(PREFIX + "/wallet", wallet)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.text() or "{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")
