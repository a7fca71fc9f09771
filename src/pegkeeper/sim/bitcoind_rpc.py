"""A wallet that answers as a Bitcoin Core node's does over JSON-RPC (v26 shapes), over a
simulated chain: what pegkeeper's bitcoind adapter speaks to, served by the OKX simulator
(`/bitcoind`) so that a funding manager in another process deposits into the simulated
exchange, and by the adapter's tests.

Wire shapes: basic auth (401 with an empty body for a bad login), /wallet/<name> endpoints
(and the node's root for its default wallet), named parameters, amounts as JSON numbers with
8 decimals, errors as {"result": null, "error": {"code", "message"}} with HTTP 500 (404 for an
unknown method). The RPCs: getnewaddress, getbalances, sendtoaddress (replaceable only),
gettransaction, listtransactions, bumpfee.

Before every call `sync` brings the chain up to its time (with a chain link: the exchange is
paid what the blocks confirmed). Every request is kept (the last `history`), and every
`sendtoaddress` counted by its comment as it arrives, so a test can tell a payment sent twice.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections import Counter, deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from pegkeeper.domain.errors import NotFound, OrderRejected
from pegkeeper.domain.units import SATS_PER_BTC
from pegkeeper.sim.chain import TX_VSIZE_VB, ChainTx, SimChain

_NUMBER = re.compile(r'"__num__(-?[0-9.]+)"')
_EIGHT = Decimal("0.00000001")


def btc(sats: int) -> Decimal:
    return (Decimal(sats) / SATS_PER_BTC).quantize(_EIGHT)


class SimBitcoind:
    def __init__(
        self,
        chain: SimChain,
        *,
        wallet: str,
        user: str,
        password: str,
        sync: Callable[[], None] | None = None,
        history: int = 10_000,
    ) -> None:
        if not (wallet and user and password):
            raise ValueError("a simulated bitcoind needs a wallet name, a user and a password")
        self.chain = chain
        self.wallet = wallet
        self._authorization = _basic(user, password)
        self._sync = sync or (lambda: None)
        self.requests: deque[tuple[str, dict[str, Any]]] = deque(maxlen=history)
        self.sends: Counter[str] = Counter()  # sendtoaddress requests received, by comment
        self.delay_next_seconds = 0.0  # the next call is executed, then answered this late

    def add_routes(self, app: web.Application, prefix: str = "") -> None:
        app.router.add_post(f"{prefix}/wallet/{{wallet}}", self.handle)
        app.router.add_post(prefix or "/", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self._authorization:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        try:
            body = orjson.loads(await request.read())
            call_id, method = body.get("id"), str(body["method"])
            params = body.get("params") or {}
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            return _error(None, -32700, "Parse error")
        if not isinstance(params, dict):
            return _error(call_id, -32602, "Invalid params: named parameters (an object) only")
        self.requests.append((method, params))
        if method == "sendtoaddress":
            self.sends[str(params.get("comment", ""))] += 1
        if request.match_info.get("wallet", self.wallet) != self.wallet:
            return _error(call_id, -18, "Requested wallet does not exist or is not loaded")
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return _error(call_id, -32601, "Method not found", status=404)
        self._sync()
        try:
            result = handler(params)
        except (OrderRejected, NotFound) as refused:
            return _error(call_id, int(refused.code), str(refused).split(" (code")[0])
        except (InvalidOperation, KeyError, ValueError) as bad:  # InvalidInput too
            return _error(call_id, -3, f"Invalid parameter: {bad}")  # RPC_TYPE_ERROR
        delay, self.delay_next_seconds = self.delay_next_seconds, 0.0
        if delay:
            await asyncio.sleep(delay)
        return _answer(call_id, result)

    # -- the RPCs ------------------------------------------------------------------------------

    def _rpc_getnewaddress(self, params: dict[str, Any]) -> str:
        return self.chain.new_address()

    def _rpc_getbalances(self, params: dict[str, Any]) -> dict[str, Any]:
        mine = {"trusted": _num(btc(self.chain.balance_sats)), "untrusted_pending": _num(0)}
        return {"mine": mine | {"immature": _num(0)}, "lastprocessedblock": {"height": 1}}

    def _rpc_sendtoaddress(self, params: dict[str, Any]) -> str:
        amount = Decimal(str(params["amount"]))
        if params.get("replaceable") is not True:
            raise OrderRejected("pegkeeper sends replaceable=true only", code="-8")
        rate = Decimal(str(params.get("fee_rate", "1")))
        sats = amount * SATS_PER_BTC
        if sats != sats.to_integral_value():
            raise OrderRejected("Invalid amount: more than 8 decimals", code="-3")
        comment = str(params.get("comment", ""))
        return self.chain.send(str(params["address"]), int(sats), rate, comment).tx_id

    def _rpc_gettransaction(self, params: dict[str, Any]) -> dict[str, Any]:
        tx = self.chain.transaction(str(params["txid"]))
        answer = self._summary(tx) | {"details": [_detail(tx)], "hex": "02000000" + tx.tx_id}
        if params.get("verbose"):
            answer["decoded"] = {
                "txid": tx.tx_id,
                "hash": tx.tx_id,
                "version": 2,
                "size": 222,
                "vsize": TX_VSIZE_VB,
                "weight": 561,
            }
        return answer

    def _rpc_listtransactions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [self._summary(tx) | _detail(tx) for tx in self.chain.sent()]
        # the `count` most recent after skipping the `skip` most recent, oldest first
        count, skip = int(params.get("count", 10)), int(params.get("skip", 0))
        return rows[max(len(rows) - skip - count, 0) : max(len(rows) - skip, 0)]

    def _rpc_bumpfee(self, params: dict[str, Any]) -> dict[str, Any]:
        old = self.chain.transaction(str(params["txid"]))
        rate = Decimal(str(params.get("options", {}).get("fee_rate", "0")))
        new = self.chain.bump_fee(old.tx_id, rate)
        return {
            "txid": new.tx_id,
            "origfee": _num(btc(old.fee_sats)),
            "fee": _num(btc(new.fee_sats)),
            "errors": [],
        }

    def _summary(self, tx: ChainTx) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "amount": _num(-btc(tx.amount_sats)),
            "fee": _num(-btc(tx.fee_sats)),
            "confirmations": self.chain.confirmations(tx),
            "trusted": True,
            "txid": tx.tx_id,
            "wtxid": hashlib.sha256(tx.tx_id.encode()).hexdigest(),
            "walletconflicts": [tx.replaced_by] if tx.replaced_by else [],
            "time": tx.sent_ms // 1000,
            "timereceived": tx.sent_ms // 1000,
            "bip125-replaceable": "yes",
        }
        if tx.comment:
            summary["comment"] = tx.comment
        if tx.replaced_by:
            summary["replaced_by_txid"] = tx.replaced_by
        if tx.block_height is not None:
            summary |= {"blockheight": tx.block_height, "blockindex": 1}
        return summary


def _detail(tx: ChainTx) -> dict[str, Any]:
    """A payment's output as `details` and `listtransactions` show it."""
    return {
        "address": tx.address,
        "category": "send",
        "amount": _num(-btc(tx.amount_sats)),
        "vout": 0,
        "fee": _num(-btc(tx.fee_sats)),
        "abandoned": False,
    }


def _num(value: Decimal | int) -> str:
    """Marks a number to be written as a JSON number with bitcoind's 8 decimals."""
    return "__num__" + format(Decimal(value).quantize(_EIGHT), "f")


def _answer(call_id: Any, result: Any) -> web.Response:
    return _json({"result": result, "error": None, "id": call_id}, 200)


def _error(call_id: Any, code: int, message: str, status: int = 500) -> web.Response:
    return _json(
        {"result": None, "error": {"code": code, "message": message}, "id": call_id}, status
    )


def _json(value: Any, status: int) -> web.Response:
    text = _NUMBER.sub(r"\1", orjson.dumps(value).decode())
    return web.Response(text=text, status=status, content_type="application/json")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
