"""`pegkeeper sim-exchange`: the local OKX v5 simulator; `pegkeeper sim-fault`: switch the
faults of a running one."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer

from pegkeeper.config import Settings

FaultOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fault",
        help="a fault at start, NAME=VALUE (repeat): latency_ms=200, http_429=3, "
        "http_5xx=5%:orders, timeout_after_accept=1, partial_fill=1, reject_order=1, "
        "code_50011=2, ws_silent=on, stale_tickers=on, empty_positions=on, "
        "ws_drop_every_seconds=30 (see README)",
    ),
]


def register(
    app: typer.Typer,
    load_settings: Callable[[Path | None], Settings],
    fail: Callable[[str], NoReturn],
) -> None:
    @app.command("sim-exchange")
    def sim_exchange(
        port: Annotated[int, typer.Option("--port", help="where it listens")] = 8443,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        api_key: Annotated[str | None, typer.Option("--api-key")] = None,
        secret_key: Annotated[str | None, typer.Option("--secret-key")] = None,
        passphrase: Annotated[str | None, typer.Option("--passphrase")] = None,
        price_path: Annotated[
            Path | None,
            typer.Option("--price-path", help="1-minute OHLC CSV (default: the bundled day)"),
        ] = None,
        speed: Annotated[
            float, typer.Option("--speed", help="simulated seconds per real second")
        ] = 1.0,
        fault: FaultOption = None,
        bitcoind_btc: Annotated[
            str | None,
            typer.Option(
                "--bitcoind-btc",
                help="also serve the operator's wallet as a Bitcoin Core node's JSON-RPC "
                "(at /bitcoind) holding this many BTC; its payments to the exchange's deposit "
                "address are deposits",
            ),
        ] = None,
        block_seconds: Annotated[
            float, typer.Option("--block-seconds", help="the served wallet's block interval")
        ] = 600.0,
        config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    ) -> None:
        """Run a local exchange that speaks OKX v5 (REST and WebSockets) around the simulated
        engine, driven by a real price path; prints where it listens and its credentials."""
        from pegkeeper.bootstrap.sim_exchange import (
            DEFAULT_CREDENTIALS,
            SimBitcoindSettings,
            SimExchangeSettings,
            faults_from,
            run_blocking,
        )
        from pegkeeper.sim.okx_server.auth import Credentials

        sim = load_settings(config).sim
        faults = tuple(fault or ())
        try:
            faults_from(faults)
        except ValueError as error:
            fail(f"--fault: {error}")
        if speed <= 0:
            fail(f"--speed must be positive, got {speed}")
        if price_path is not None and not price_path.is_file():
            fail(f"--price-path: {price_path} does not exist")
        bitcoind = None
        if bitcoind_btc is not None:
            balance = _btc_amount(bitcoind_btc)
            if balance is None:
                fail(f"--bitcoind-btc: expected a positive number of BTC, got {bitcoind_btc!r}")
            if block_seconds <= 0:
                fail(f"--block-seconds must be positive, got {block_seconds}")
            bitcoind = SimBitcoindSettings(balance, int(block_seconds * 1000))
        settings = SimExchangeSettings(
            host=host,
            port=port,
            credentials=Credentials(
                api_key or DEFAULT_CREDENTIALS.api_key,
                secret_key or DEFAULT_CREDENTIALS.secret_key,
                passphrase or DEFAULT_CREDENTIALS.passphrase,
            ),
            price_path=price_path or (Path(sim.price_path) if sim.price_path else None),
            speed=speed,
            trading_btc=sim.trading_btc,
            funding_btc=sim.funding_btc,
            trading_usdt=sim.trading_usdt,
            taker_fee_rate=sim.taker_fee_rate,
            maker_fee_rate=sim.maker_fee_rate,
            funding_rate=sim.funding_rate,
            leverage=sim.leverage,
            faults=faults,
            bitcoind=bitcoind,
        )
        try:
            run_blocking(settings)
        except OSError as error:
            fail(f"cannot listen on {host}:{port}: {error}")
        except KeyboardInterrupt:
            pass

    @app.command("sim-fault")
    def sim_fault(
        assignments: Annotated[
            list[str] | None, typer.Argument(help="NAME=VALUE ... (none: show the faults)")
        ] = None,
        url: Annotated[
            str, typer.Option("--url", help="the simulator's address")
        ] = "http://127.0.0.1:8443",
        clear: Annotated[bool, typer.Option("--clear", help="every fault off first")] = False,
        drop_websockets: Annotated[
            bool, typer.Option("--drop-websockets", help="close every WebSocket now")
        ] = False,
    ) -> None:
        """Switch the faults of a running `pegkeeper sim-exchange`."""
        from pegkeeper.sim.okx_server.faults import parse_assignment

        base = url.rstrip("/") + "/sim/v1"
        try:
            with httpx.Client(timeout=10) as client:
                if clear:
                    client.delete(base + "/faults").raise_for_status()
                if drop_websockets:
                    client.post(base + "/ws/drop").raise_for_status()
                body = dict(parse_assignment(a) for a in assignments or [])
                response = client.post(base + "/faults", json=body)
        except httpx.HTTPError as error:
            fail(f"cannot reach the simulator at {url}: {error}")
        answer = response.json()
        if response.status_code >= 400:
            fail(str(answer.get("error", answer)))
        typer.echo(json.dumps(answer["active"] or "no faults", indent=2))


def _btc_amount(value: str) -> Decimal | None:
    """A positive amount of whole sats, or None."""
    try:
        amount = Decimal(value)
        ok = amount.is_finite() and amount > 0 and amount == amount.quantize(Decimal("1e-8"))
    except InvalidOperation:
        return None
    return amount if ok else None
