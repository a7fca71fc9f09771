"""A cluster of `pegkeeper run equity-hedger` processes on one PostgreSQL database, reading a
local chain (anvil, the Raindex stand-in deployed with a USDC and a token per symbol) and
hedging at the local Alpaca server, in a process of its own
(`python -m pegkeeper.sim.brokers.serve alpaca`). The processes are `support.Process`es:
paused at a point of the order path, killed, woken."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.sim.raindex.artifacts import load_artifacts
from tests.anvil_chain import anvil_path, require, running_anvil
from tests.cluster.support import LEASE_TTL_SECONDS, Process
from tests.e2e.conftest import free_port
from tests.integration.equities_pipeline.market import Market

SYMBOLS = ("AAPL", "MSFT")
PRICES = {"AAPL": Decimal(200), "MSFT": Decimal(400)}  # USD a share, onchain and at Alpaca
HELD_SHARES = Decimal(1_000)  # each symbol's shares at Alpaca at the start: sells pass
CASH_USD = Decimal(10_000_000)
# a request to Alpaca lasts at most this long: with the lease, what an order whose row was
# committed but not sent is waited for before it is declared lost
ALPACA_TIMEOUT_SECONDS = 3.0


@dataclass
class AlpacaServer:
    """The local Alpaca in its own process, and what the test reads of it."""

    process: subprocess.Popen[bytes]
    url: str
    key_id: str
    secret_key: str
    account_id: str = ""  # the Broker API's managed account

    def _trading(self, path: str) -> Any:
        headers = {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret_key}
        return httpx.get(self.url + path, headers=headers, timeout=10).json()

    def orders(self) -> list[dict[str, Any]]:
        """Every order the server holds, as Alpaca shows them."""
        answer = httpx.get(
            self.url + "/sim/v1/orders", auth=(self.key_id, self.secret_key), timeout=10
        ).json()
        return list(answer["orders"])

    def posted(self) -> dict[str, int]:
        """Order requests received, by client order id."""
        answer = httpx.get(
            self.url + "/sim/v1/orders", auth=(self.key_id, self.secret_key), timeout=10
        ).json()
        return dict(answer["posted"])

    def positions(self) -> dict[str, Decimal]:
        return {p["symbol"]: Decimal(p["qty"]) for p in self._trading("/v2/positions")}

    def stop(self) -> dict[str, int]:
        """Stops the server; the requests it answered, by endpoint, as it says when it stops."""
        assert self.process.stdout is not None
        self.process.terminate()
        ended = self.process.stdout.read().splitlines()
        self.process.wait(timeout=20)
        return dict(json.loads(ended[-1])["requests"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def start_alpaca(directory: Path, options: Sequence[str] = ()) -> AlpacaServer:
    """The server with `options` (default: the equity hedger's cash, holdings and prices)."""
    prices = [f"--price={s}={p}" for s, p in PRICES.items()]
    holdings = [f"--holding={s}={HELD_SHARES}" for s in SYMBOLS]
    options = options or [f"--cash={CASH_USD}", *holdings, *prices]
    process = subprocess.Popen(
        [
            sys.executable, "-m", "pegkeeper.sim.brokers.serve", "alpaca",
            *options, "--exit-on-eof",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(directory / "alpaca.err").open("wb"),
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, (directory / "alpaca.err").read_text()
    reach = json.loads(line)
    return AlpacaServer(
        process, reach["url"], reach["key_id"], reach["secret_key"], reach["account_id"]
    )


@dataclass
class EquityCluster:
    """Equity hedger processes sharing `database_url`, the chain of `market` and `alpaca`."""

    directory: Path
    database_url: str
    market: Market
    alpaca: AlpacaServer
    processes: list[Process] = field(default_factory=list)
    started: int = 0

    def config(self, port: int) -> Path:
        path = self.directory / f"pegkeeper-{self.started}.toml"
        market = self.market
        assets = "".join(
            f'[[equities.assets]]\nsymbol = "{s}"\ntokens = ["{market.tokens[s].lower()}"]\n'
            for s in SYMBOLS
        )
        path.write_text(
            f'data_dir = "{self.directory / "data"}"\n'
            f'[store]\ndatabase_url = "{self.database_url}"\n'
            "[demo]\nenabled = false\n[funding]\nenabled = false\n"
            "[price_server]\nenabled = false\n[peg_monitor]\nenabled = false\n"
            f'[venue]\nkind = "sim"\norder_expiry_seconds = {LEASE_TTL_SECONDS / 2}\n'
            f"[http]\nport = {port}\n"
            f"[cluster]\nlease_ttl_seconds = {LEASE_TTL_SECONDS}\n"
            '[equities]\nenabled = true\nbroker = "alpaca-trading"\ncalendar = "always-open"\n'
            f'rpc_url = "{market.world.url}"\norderbook = "{market.world.orderbook.address}"\n'
            f'order_owner = "{market.world.owner}"\nusdc = "{market.usdc}"\n'
            f"deployment_block = {market.deployment_block}\ncutoff = 0\n"
            "poll_interval_seconds = 0.5\ncheck_interval_seconds = 2.0\n"
            "order_lookup_window_seconds = 1.0\n"
            f'[equities.alpaca]\nbase_url = "{self.alpaca.url}"\nrequests_per_minute = 3000\n'
            f"request_timeout_seconds = {ALPACA_TIMEOUT_SECONDS}\n"
            f"{assets}"
        )
        return path

    def start(self, env: dict[str, str] | None = None) -> Process:
        self.started += 1
        name = f"equity-hedger-{self.started}"
        port = free_port()
        config = self.config(port)
        log = self.directory / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "pegkeeper", "run", "equity-hedger"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PEGKEEPER_CONFIG": str(config),
                "PEGKEEPER_CLUSTER__PROCESS_NAME": name,
                "PEGKEEPER_EQUITIES__ALPACA__KEY_ID": self.alpaca.key_id,
                "PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY": self.alpaca.secret_key,
                **(env or {}),
            },
        )
        running = Process(name, process, log, f"http://127.0.0.1:{port}")
        self.processes.append(running)
        return running

    def alive(self) -> list[Process]:
        return [p for p in self.processes if p.alive()]

    def close(self) -> None:
        for process in self.processes:
            process.stop()


@contextlib.asynccontextmanager
async def equity_cluster_of(directory: Path, database_url: str) -> AsyncIterator[EquityCluster]:
    with running_anvil(require(anvil_path(), "anvil")) as node:
        world = RaindexWorld(node.url, load_artifacts())
        await world.start()
        alpaca = start_alpaca(directory)
        try:
            market = await Market.open(world, SYMBOLS)
            cluster = EquityCluster(directory, database_url, market, alpaca)
            try:
                yield cluster
            finally:
                cluster.close()
        finally:
            alpaca.close()
            await world.close()
