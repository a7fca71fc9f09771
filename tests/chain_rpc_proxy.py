"""A JSON-RPC proxy in front of anvil that misbehaves the way load-balanced production nodes
do: it drops chosen logs from `eth_getLogs` answers (or from receipts), repeats them, reports
a head behind the real one, answers HTTP errors or JSON-RPC errors, or never answers.

It is served under a path and query that look like an API key, so that tests can check no
message carries them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

SECRET_PATH = "/v2/k3y-0123456789abcdef"
SECRET_QUERY = "apikey=s3cr3t-fedcba9876543210"

LogFilter = Callable[[dict[str, Any]], bool]


@dataclass
class Misbehaviour:
    drop_logs: LogFilter | None = None  # eth_getLogs entries left out
    drop_receipt_logs: LogFilter | None = None  # receipt logs left out
    repeat_logs: bool = False  # every eth_getLogs entry twice
    strip_block_timestamp: bool = False  # logs without blockTimestamp
    rewrite_log: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # logs and receipts'
    rewrite_receipt: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    head_lag_blocks: int = 0  # the head answered is this far behind; later logs are missing
    http_status: dict[str, int] = field(default_factory=dict)  # method -> status
    rpc_error: dict[str, str] = field(default_factory=dict)  # method -> error message
    stall: set[str] = field(default_factory=set)  # methods never answered


def int_of(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class RpcProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.misbehave = Misbehaviour()
        self.calls: list[str] = []  # the methods asked, in order
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(SECRET_PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}{SECRET_PATH}?{SECRET_QUERY}"
        return self.url

    async def close(self) -> None:
        self._closing.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        method = str(body.get("method", ""))
        self.calls.append(method)
        bad = self.misbehave
        if method in bad.stall:
            await self._closing.wait()
            return web.Response(status=504)
        if method in bad.http_status:
            return web.Response(status=bad.http_status[method], text="upstream failed")
        if method in bad.rpc_error:
            error = {"code": -32000, "message": bad.rpc_error[method]}
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "error": error})
        reply = await self._forward(body)
        if "result" in reply and reply["result"] is not None:
            reply["result"] = await self._alter(method, body.get("params", []), reply["result"])
        return web.json_response(reply)

    async def _forward(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(self.upstream, json=body) as answer:
            reply: dict[str, Any] = await answer.json()
            return reply

    async def _alter(self, method: str, params: list[Any], result: Any) -> Any:
        bad = self.misbehave
        if method == "eth_blockNumber" and bad.head_lag_blocks:
            return hex(int_of(result) - bad.head_lag_blocks)
        if method == "eth_getLogs":
            head = int_of((await self._forward(_request("eth_blockNumber")))["result"])
            visible = head - bad.head_lag_blocks
            logs = [
                self._log(entry)
                for entry in result
                if int_of(entry["blockNumber"]) <= visible
                and not (bad.drop_logs is not None and bad.drop_logs(entry))
            ]
            return [entry for entry in logs for _ in range(2)] if bad.repeat_logs else logs
        if method == "eth_getTransactionReceipt":
            drop = bad.drop_receipt_logs
            result["logs"] = [
                self._log(e) for e in result["logs"] if not (drop is not None and drop(e))
            ]
            if bad.rewrite_receipt is not None:
                return bad.rewrite_receipt(result)
        return result

    def _log(self, entry: dict[str, Any]) -> dict[str, Any]:
        if self.misbehave.rewrite_log is not None:
            entry = self.misbehave.rewrite_log(dict(entry))
        if self.misbehave.strip_block_timestamp:
            return {key: value for key, value in entry.items() if key != "blockTimestamp"}
        return entry


def _request(method: str, params: list[Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 0, "method": method, "params": params or []}


def topic0_is(topic0: str) -> LogFilter:
    return lambda entry: str(entry["topics"][0]).lower() == topic0


def in_tx_and_topic(tx_hash: str, topic0: str) -> LogFilter:
    return lambda entry: (
        str(entry["transactionHash"]).lower() == tx_hash
        and str(entry["topics"][0]).lower() == topic0
    )
