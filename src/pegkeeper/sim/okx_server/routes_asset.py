"""Private funding endpoints: currencies, funding balances, transfers between funding (6) and
trading (18), deposit address and history, withdrawals."""

from __future__ import annotations

from pegkeeper.domain.errors import InvalidInput, NotFound, VenueError
from pegkeeper.sim.accounts import CURRENCIES
from pegkeeper.sim.events import AccountType
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import (
    OkxError,
    decimal_param,
    positive_decimal,
    required,
    text,
)
from pegkeeper.sim.okx_server.render_account import (
    deposit_json,
    funding_balances_json,
    transfer_state_json,
    withdrawal_json,
)
from pegkeeper.sim.okx_server.render_market import currencies_json
from pegkeeper.sim.okx_server.routing import Params, Reply, Route, comma_list

ACCOUNTS = {"6": AccountType.FUNDING, "18": AccountType.TRADING}


async def currencies(ctx: SimContext, params: Params) -> Reply:
    wanted = comma_list(params, "ccy")
    return Reply([c for c in currencies_json() if wanted is None or c["ccy"] in wanted])


async def funding_balances(ctx: SimContext, params: Params) -> Reply:
    return Reply(funding_balances_json(ctx, comma_list(params, "ccy")))


async def transfer(ctx: SimContext, body: Params) -> Reply:
    currency = _currency(required(body, "ccy"))
    amount = positive_decimal(body, "amt")
    source, target = _account(body, "from"), _account(body, "to")
    if str(body.get("type") or "0") != "0":
        raise OkxError("51000", "Parameter type error: only transfers within the account")
    client_id = str(body.get("clientId") or f"sim{ctx.now_ms()}")
    ctx.transfer_requests[client_id] += 1
    try:
        done = ctx.engine.transfer(client_id, amount, source, target, ctx.now_ms(), currency)
    except InvalidInput as error:
        raise OkxError("51000", f"Parameter amt error: {error}") from None
    except VenueError as error:
        raise OkxError(error.code or "51000", str(error)) from None
    return Reply(
        [
            {
                "amt": text(done.amount_btc),
                "ccy": done.currency,
                "clientId": done.client_id,
                "from": body["from"],
                "to": body["to"],
                "transId": done.transfer_id,
            }
        ]
    )


async def transfer_state(ctx: SimContext, params: Params) -> Reply:
    client_id, transfer_id = params.get("clientId"), params.get("transId")
    try:
        if client_id:
            return Reply([transfer_state_json(ctx.engine.transfer_by_client_id(str(client_id)))])
    except NotFound as error:
        raise OkxError("58129", str(error)) from None
    if not transfer_id:
        raise OkxError("50014", "Parameter transId or clientId can not be empty")
    raise OkxError("58129", "Parameter transId error: lookups by clientId only")


async def deposit_address(ctx: SimContext, params: Params) -> Reply:
    currency = _currency(required(params, "ccy"))
    terms = ctx.deposit_terms[currency]
    return Reply(
        [
            {
                "addr": ctx.engine.wallet.address(currency),
                "ccy": currency,
                "chain": terms["chain"],
                "ctAddr": "",
                "selected": True,
                "to": terms["to"],
                "verifiedName": "",
            }
        ]
    )


async def deposit_history(ctx: SimContext, params: Params) -> Reply:
    ctx.advance()
    currency = params.get("ccy") or None
    found = [deposit_json(d) for d in ctx.engine.wallet.deposits(currency)]
    for key in ("depId", "txId", "state"):
        wanted = params.get(key)
        if wanted:
            found = [d for d in found if d[key] == wanted]
    return Reply(list(reversed(found)))


async def withdraw(ctx: SimContext, body: Params) -> Reply:
    currency = _currency(required(body, "ccy"))
    amount = positive_decimal(body, "amt")
    if str(body.get("dest") or "") != "4":
        raise OkxError("51000", "Parameter dest error: onchain withdrawals (4) only")
    address = required(body, "toAddr")
    fee = decimal_param(body, "fee", optional=True)
    client_id = str(body.get("clientId") or f"sim{ctx.now_ms()}")
    ctx.withdrawal_requests[client_id] += 1
    try:
        done = ctx.engine.wallet.withdraw(client_id, currency, amount, address, ctx.now_ms(), fee)
    except VenueError as error:
        raise OkxError(error.code or "51000", str(error)) from None
    data = {
        "amt": text(done.amount),
        "ccy": done.currency,
        "chain": done.chain,
        "clientId": done.client_id,
        "wdId": done.withdrawal_id,
    }
    return Reply([data])


async def withdrawal_history(ctx: SimContext, params: Params) -> Reply:
    ctx.advance()
    currency = params.get("ccy") or None
    found = [withdrawal_json(w) for w in ctx.engine.wallet.withdrawals(currency)]
    for key in ("wdId", "clientId", "txId", "state"):
        wanted = params.get(key)
        if wanted:
            found = [w for w in found if w[key] == wanted]
    return Reply(list(reversed(found)))


def _currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise OkxError("51000", f"Parameter ccy error: {currency} is not kept here")
    return currency


def _account(body: Params, name: str) -> AccountType:
    account = ACCOUNTS.get(str(body.get(name) or ""))
    if account is None:
        raise OkxError("51000", f"Parameter {name} error: expected 6 (funding) or 18 (trading)")
    return account


ROUTES = (
    Route("GET", "asset/currencies", currencies),
    Route("GET", "asset/balances", funding_balances),
    Route("POST", "asset/transfer", transfer),
    Route("GET", "asset/transfer-state", transfer_state),
    Route("GET", "asset/deposit-address", deposit_address),
    Route("GET", "asset/deposit-history", deposit_history),
    Route("POST", "asset/withdrawal", withdraw),
    Route("GET", "asset/withdrawal-history", withdrawal_history),
)
