"""A cluster of `pegkeeper run rebalancer` processes on one PostgreSQL database, moving a
maker's inventory between a local chain (anvil: the Raindex stand-in with the maker's vaults,
its AAPL token, the token's ERC-4626 wrapper and USDC, as tests/integration/rebalancing builds
them) and the local Alpaca server in a process of its own, with its rebalancing endpoints
acting on that chain. The processes are `support.Process`es: paused at a point of the move's
requests, killed, woken."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.sim.raindex.artifacts import load_artifacts
from tests.anvil_chain import anvil_path, require, running_anvil
from tests.cluster.equity_support import AlpacaServer, start_alpaca
from tests.cluster.support import LEASE_TTL_SECONDS, Process
from tests.e2e.conftest import free_port
from tests.integration.rebalancing.harness import (
    AAPL_PRICE,
    AAPL_VAULT_ID,
    DEPOSIT_ADDRESS,
    REDEMPTION_WALLET,
    USDC_VAULT_ID,
    Holdings,
    Maker,
    new_maker,
)

LEASE = "rebalancer"
GAS_TOKEN_PRICE_USD = Decimal(3_000)
INTERVAL_SECONDS = 0.2
ALPACA_TIMEOUT_SECONDS = 3.0


@dataclass
class RebalancerCluster:
    """Rebalancer processes sharing `database_url`, the maker's chain and `alpaca`."""

    directory: Path
    database_url: str
    world: RaindexWorld
    maker: Maker
    alpaca: AlpacaServer
    processes: list[Process] = field(default_factory=list)
    started: int = 0

    def config(self, port: int, ops_port: int) -> Path:
        path = self.directory / f"pegkeeper-{self.started}.toml"
        accounts = self.maker.accounts
        aapl = accounts.stocks["AAPL"]
        path.write_text(
            f'data_dir = "{self.directory / "data"}"\n'
            f'[store]\ndatabase_url = "{self.database_url}"\n'
            "[demo]\nenabled = false\n[funding]\nenabled = false\n"
            "[price_server]\nenabled = false\n[peg_monitor]\nenabled = false\n"
            f'[venue]\nkind = "sim"\norder_expiry_seconds = {LEASE_TTL_SECONDS / 2}\n'
            f"[http]\nport = {port}\n"
            f"[cluster]\nlease_ttl_seconds = {LEASE_TTL_SECONDS}\nops_port = {ops_port}\n"
            '[equities]\nenabled = true\nbroker = "alpaca-broker"\ncalendar = "always-open"\n'
            f'rpc_url = "{self.world.url}"\norderbook = "{accounts.orderbook}"\n'
            f'order_owner = "{self.maker.address}"\nusdc = "{accounts.usdc}"\n'
            "request_timeout_seconds = 5.0\n"
            f'[equities.alpaca]\nbase_url = "{self.alpaca.url}"\n'
            f'account_id = "{self.alpaca.account_id}"\nrequests_per_minute = 3000\n'
            f"request_timeout_seconds = {ALPACA_TIMEOUT_SECONDS}\n"
            f'[[equities.assets]]\nsymbol = "AAPL"\ntokens = ["{aapl.token}"]\n'
            f'wrapped_tokens = ["{aapl.wrapper}"]\n'
            "[equities.rebalancing]\nenabled = true\n"
            f'redemption_wallet = "{REDEMPTION_WALLET}"\n'
            f"vault_ids = {{ AAPL = {AAPL_VAULT_ID}, USD = {USDC_VAULT_ID} }}\n"
            'stock_band = { target = "0.5", deviation = "0.1" }\n'
            'cash_band = { target = "0.5", deviation = "0.3" }\n'
            f"interval_seconds = {INTERVAL_SECONDS}\n"
            f'gas_token_price_usd = "{GAS_TOKEN_PRICE_USD}"\n'
        )
        return path

    def start(self, env: dict[str, str] | None = None) -> Process:
        self.started += 1
        name = f"rebalancer-{self.started}"
        port, ops_port = free_port(), free_port()
        config = self.config(port, ops_port)
        log = self.directory / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "pegkeeper", "run", "rebalancer"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PEGKEEPER_CONFIG": str(config),
                "PEGKEEPER_CLUSTER__PROCESS_NAME": name,
                "PEGKEEPER_EQUITIES__ALPACA__KEY_ID": self.alpaca.key_id,
                "PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY": self.alpaca.secret_key,
                "PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY": self.maker.key.get_secret_value(),
                **(env or {}),
            },
        )
        running = Process(
            name, process, log, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
        )
        self.processes.append(running)
        return running

    def mint_requests(self) -> list[dict[str, Any]]:
        """The mint requests the broker holds, as its Broker API lists them."""
        answer = httpx.get(
            f"{self.alpaca.url}/v1/accounts/{self.alpaca.account_id}/tokenization/requests",
            params={"type": "mint"},
            auth=(self.alpaca.key_id, self.alpaca.secret_key),
            timeout=10,
        )
        return list(answer.json())

    def positions(self) -> dict[str, Decimal]:
        answer = httpx.get(
            f"{self.alpaca.url}/v1/trading/accounts/{self.alpaca.account_id}/positions",
            auth=(self.alpaca.key_id, self.alpaca.secret_key),
            timeout=10,
        )
        return {p["symbol"]: Decimal(p["qty"]) for p in answer.json()}

    def close(self) -> None:
        for process in self.processes:
            process.stop()


def alpaca_options(world: RaindexWorld, maker: Maker) -> list[str]:
    """The server funded with the broker's side of the maker's holdings, its rebalancing
    endpoints minting the maker's tokens on `world`'s node."""
    holdings, accounts = maker.holdings, maker.accounts
    return [
        f"--cash={holdings.cash_at_broker}",
        f"--holding=AAPL={holdings.aapl_at_broker}",
        f"--price=AAPL={AAPL_PRICE}",
        f"--node-url={world.url}",
        f"--token=AAPL={accounts.stocks['AAPL'].token}",
        f"--usdc={accounts.usdc}",
        f"--minter={world.account}",
        f"--redemption-wallet={REDEMPTION_WALLET}",
        f"--deposit-address={DEPOSIT_ADDRESS}",
        f"--whitelist={maker.address}",
    ]


@contextlib.asynccontextmanager
async def rebalancer_cluster_of(
    directory: Path, database_url: str, holdings: Holdings
) -> AsyncIterator[RebalancerCluster]:
    with running_anvil(require(anvil_path(), "anvil")) as node:
        world = RaindexWorld(node.url, load_artifacts())
        await world.start()
        try:
            maker = await new_maker(world, holdings)
            alpaca = start_alpaca(directory, alpaca_options(world, maker))
            cluster = RebalancerCluster(directory, database_url, world, maker, alpaca)
            try:
                yield cluster
            finally:
                cluster.close()
                alpaca.close()
        finally:
            await world.close()
