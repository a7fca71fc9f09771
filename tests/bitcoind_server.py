"""A local JSON-RPC server that answers as a Bitcoin Core node's wallet does (v26 shapes:
basic auth, /wallet/<name> endpoints, named parameters, amounts as JSON numbers with 8
decimals, errors as {"result": null, "error": {"code", "message"}} with HTTP 500, 401 with an
empty body for a bad login). The wallet's state is the simulated chain; `mine` finds blocks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from pegkeeper.domain.errors import NotFound, OrderRejected
from pegkeeper.sim.chain import TX_VSIZE_VB, ChainTx, SimChain

WALLET = "pegkeeper"
USER, PASSWORD = "rpcuser", "rpc-password-not-for-logs"
START_MS = 1_700_000_000_000
_NUMBER = re.compile(r'"__num__(-?[0-9.]+)"')


def btc(sats: int) -> Decimal:
    return (Decimal(sats) / 100_000_000).quantize(Decimal("0.00000001"))


@dataclass
class FakeBitcoind:
    chain: SimChain
    now_ms: int = START_MS
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay_next_seconds: float = 0.0  # the next call is executed, then answered this late
    url: str = ""

    def mine(self, blocks: int = 1) -> None:
        self.now_ms += blocks * self.chain.block_interval_ms
        self.chain.advance(self.now_ms)

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != _basic(USER, PASSWORD):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        body = orjson.loads(await request.read())
        call_id, method, params = body.get("id"), body["method"], body.get("params") or {}
        self.requests.append((method, params))
        if request.match_info.get("wallet") != WALLET:
            return _error(call_id, -18, "Requested wallet does not exist or is not loaded")
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return _error(call_id, -32601, "Method not found", status=404)
        try:
            result = handler(params)
        except OrderRejected as refused:
            return _error(call_id, int(refused.code), str(refused).split(" (code")[0])
        except NotFound as missing:
            return _error(call_id, int(missing.code), str(missing).split(" (code")[0])
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
            raise OrderRejected("pegkeeper's tests expect replaceable=true", code="-8")
        rate = Decimal(str(params.get("fee_rate", "1")))
        sats = int(amount * 100_000_000)
        return self.chain.send(params["address"], sats, rate, params.get("comment", "")).tx_id

    def _rpc_gettransaction(self, params: dict[str, Any]) -> dict[str, Any]:
        tx = self.chain.transaction(params["txid"])
        detail = {
            "address": tx.address,
            "category": "send",
            "amount": _num(-btc(tx.amount_sats)),
            "vout": 0,
            "fee": _num(-btc(tx.fee_sats)),
            "abandoned": False,
        }
        answer = self._summary(tx) | {
            "details": [detail],
            "hex": "02000000" + tx.tx_id,
        }
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
        rows = [
            self._summary(tx)
            | {
                "address": tx.address,
                "category": "send",
                "amount": _num(-btc(tx.amount_sats)),
                "vout": 0,
                "fee": _num(-btc(tx.fee_sats)),
                "abandoned": False,
            }
            for tx in self.chain.sent()
        ]
        # the `count` most recent after skipping the `skip` most recent, oldest first
        count, skip = int(params.get("count", 10)), int(params.get("skip", 0))
        return rows[max(len(rows) - skip - count, 0) : max(len(rows) - skip, 0)]

    def _rpc_bumpfee(self, params: dict[str, Any]) -> dict[str, Any]:
        old = self.chain.transaction(params["txid"])
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


def _num(value: Decimal | int) -> str:
    """Marks a number to be written as a JSON number with bitcoind's 8 decimals."""
    return "__num__" + format(Decimal(value).quantize(Decimal("0.00000001")), "f")


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


@asynccontextmanager
async def running_bitcoind(balance_sats: int = 300_000_000) -> AsyncIterator[FakeBitcoind]:
    node = FakeBitcoind(SimChain(START_MS, balance_sats))
    app = web.Application()
    app.router.add_post("/wallet/{wallet}", node.handle)
    app.router.add_post("/", node.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    node.url = f"http://127.0.0.1:{port}"
    try:
        yield node
    finally:
        await runner.cleanup()
