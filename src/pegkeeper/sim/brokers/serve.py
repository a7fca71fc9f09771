"""`python -m pegkeeper.sim.brokers.serve alpaca|schwab`: a local broker server in a process of
its own, on the wall clock, with one funded account, for benchmarks and local runs that want the
broker outside their own event loop (as a real one is).

Once it listens it prints one JSON line on stdout: what a client needs to reach it; when it
stops, a second one: {"requests": {endpoint or route: count}}, what it answered.

- alpaca: {"broker", "url", "key_id", "secret_key", "account_id"}: the Trading API under /v2
  and the Broker API under /v1 (the same account: `account_id` is the managed account);
- schwab: {"broker", "url", "app_key", "app_secret", "redirect_uri", "account_number"}: log in
  through /v1/oauth/authorize and /v1/oauth/token as at Schwab.

Alpaca with `--node-url` also answers the Broker API's rebalancing endpoints (tokenization,
the USDC wallet, the USDC/USD conversion; sim/brokers/alpaca_rebalancing.py), their onchain
effects on that node: stock tokens (`--token SYMBOL=ADDRESS`, one per symbol) and USDC
(`--usdc`) minted by `--minter`, an account the node signs for (anvil's unlocked ones); stock
tokens sent to `--redemption-wallet` are redeemed, USDC sent to `--deposit-address` is
deposited, and withdrawals go to the `--whitelist`ed addresses.

The keys are made up for the run (never real ones). Market orders fill whole at `--price` (the
Alpaca server on the order's first read, Schwab's when placed). It runs until SIGINT or SIGTERM,
and with `--exit-on-eof` also until its stdin closes, so that it never outlives its parent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_rebalancing import attach_rebalancing
from pegkeeper.sim.brokers.alpaca_records import Account, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.schwab_server import SchwabServer

BROKERS = ("alpaca", "schwab")
SCHWAB_ACCOUNT = "12345678"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True, slots=True)
class Funding:
    """The account's cash, the shares it holds and where each symbol's orders fill."""

    cash_usd: Decimal
    shares: dict[str, Decimal]
    prices: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Rebalancing:
    """Where the Alpaca server's rebalancing endpoints act onchain: the node, the stock token
    of each symbol, USDC, the account that mints them, and the server's own addresses."""

    node_url: str
    tokens: dict[str, str]
    usdc: str
    minter: str
    redemption_wallet: str
    deposit_address: str
    whitelisted: tuple[str, ...] = ()


class Running:
    """A started server and what a client needs to reach it."""

    def __init__(
        self,
        server: AlpacaSimServer | SchwabServer,
        reach: dict[str, str],
        closers: tuple[Callable[[], Awaitable[None]], ...] = (),
    ) -> None:
        self.server = server
        self.reach = reach
        self._closers = closers

    def requests(self) -> dict[str, int]:
        """The requests answered so far, by endpoint (Alpaca's "POST /v2/orders", ...) or
        route (Schwab's "place_order", ...)."""
        if isinstance(self.server, AlpacaSimServer):
            return dict(self.server.requests_by_endpoint)
        return dict(self.server.requests)

    async def stop(self) -> None:
        await self.server.stop()
        for close in self._closers:
            await close()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def start(
    broker: str,
    funding: Funding,
    host: str = "127.0.0.1",
    rebalancing: Rebalancing | None = None,
) -> Running:
    """`rebalancing`: Alpaca's rebalancing endpoints attached (None: not)."""
    if broker == "alpaca":
        return await _alpaca(funding, host, rebalancing)
    if rebalancing is not None:
        raise ValueError(f"rebalancing endpoints are Alpaca's, not {broker}'s")
    if broker == "schwab":
        return await _schwab(funding, host)
    raise ValueError(f"unknown broker {broker!r}: one of {', '.join(BROKERS)}")


async def _alpaca(funding: Funding, host: str, rebalancing: Rebalancing | None) -> Running:
    account = Account(str(uuid.uuid4()), f"PA3{secrets.token_hex(4).upper()}", funding.cash_usd)
    account.positions = {
        symbol: Position(shares, shares * funding.prices.get(symbol, Decimal(0)))
        for symbol, shares in funding.shares.items()
    }
    book = AlpacaBook(_wall_ms, account)
    book.prices.update(funding.prices)
    key_id = "PK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    server = AlpacaSimServer(book, key_id=key_id, secret_key=secret_key, host=host)
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()
    if rebalancing is not None:
        closers = (_attach(server, rebalancing),)
    try:
        await server.start()
    except BaseException:
        for close in closers:
            await close()
        raise
    reach = {"key_id": key_id, "secret_key": secret_key, "account_id": account.id}
    return Running(server, {"broker": "alpaca", "url": server.url, **reach}, closers)


def _attach(server: AlpacaSimServer, rebalancing: Rebalancing) -> Callable[[], Awaitable[None]]:
    """The rebalancing endpoints on `server` (not started yet); what closes their node."""
    # imported here: web3 is slow to import, and only these endpoints need it
    from pegkeeper.sim.brokers.alpaca_web3_chain import Web3Chain

    chain = Web3Chain(
        rebalancing.node_url,
        tokens=rebalancing.tokens,
        usdc=rebalancing.usdc,
        minter=rebalancing.minter,
    )
    attach_rebalancing(
        server,
        chain,
        redemption_wallet=rebalancing.redemption_wallet,
        deposit_address=rebalancing.deposit_address,
        whitelisted=rebalancing.whitelisted,
    )
    return chain.close


async def _schwab(funding: Funding, host: str) -> Running:
    server = SchwabServer(
        _wall_ms,
        app_key=secrets.token_urlsafe(24),
        app_secret=secrets.token_urlsafe(12),
        host=host,
    )
    await server.start()
    server.add_account(SCHWAB_ACCOUNT, funding.cash_usd, dict(funding.shares))
    server.book.prices.update(funding.prices)
    reach = {
        "app_key": server.app_key,
        "app_secret": server.app_secret,
        "redirect_uri": server.redirect_uri,
        "account_number": SCHWAB_ACCOUNT,
    }
    return Running(server, {"broker": "schwab", "url": server.base_url, **reach})


async def serve(
    broker: str,
    funding: Funding,
    *,
    host: str,
    exit_on_eof: bool,
    rebalancing: Rebalancing | None = None,
) -> None:
    running = await start(broker, funding, host, rebalancing)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if exit_on_eof:
        loop.add_reader(sys.stdin.fileno(), _read_until_eof, sys.stdin.fileno(), stop)
    sys.stdout.write(json.dumps(running.reach) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        if exit_on_eof:
            loop.remove_reader(sys.stdin.fileno())
        await running.stop()
        sys.stdout.write(json.dumps({"requests": running.requests()}) + "\n")
        sys.stdout.flush()


def _read_until_eof(fd: int, stop: asyncio.Event) -> None:
    if not os.read(fd, 4096):
        stop.set()


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Funding]:
    parser = argparse.ArgumentParser(
        prog="python -m pegkeeper.sim.brokers.serve",
        description="a local broker server in its own process; prints how to reach it as JSON",
    )
    parser.add_argument("broker", choices=BROKERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cash", type=_amount, default=Decimal(1_000_000), help="USD")
    parser.add_argument("--holding", action="append", default=[], metavar="SYMBOL=SHARES")
    parser.add_argument("--price", action="append", default=[], metavar="SYMBOL=USD")
    parser.add_argument("--exit-on-eof", action="store_true", help="stop when stdin closes")
    _rebalancing_options(parser.add_argument_group("alpaca's rebalancing endpoints"))
    args = parser.parse_args(argv)
    try:
        funding = Funding(args.cash, _pairs(args.holding), _pairs(args.price, positive=True))
        args.rebalancing = _rebalancing(args)
    except ValueError as error:
        parser.error(str(error))
    return args, funding


def _rebalancing_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--node-url", default="", help="the node: attaches the endpoints")
    group.add_argument("--token", action="append", default=[], metavar="SYMBOL=ADDRESS")
    group.add_argument("--usdc", default="", metavar="ADDRESS")
    group.add_argument("--minter", default="", metavar="ADDRESS", help="the node signs for it")
    group.add_argument("--redemption-wallet", default="", metavar="ADDRESS")
    group.add_argument("--deposit-address", default="", metavar="ADDRESS")
    group.add_argument("--whitelist", action="append", default=[], metavar="ADDRESS")


def _rebalancing(args: argparse.Namespace) -> Rebalancing | None:
    """The rebalancing options as one `Rebalancing` (None without --node-url); ValueError
    naming the option that is missing, misplaced or not an address."""
    named = {
        "--usdc": args.usdc,
        "--minter": args.minter,
        "--redemption-wallet": args.redemption_wallet,
        "--deposit-address": args.deposit_address,
    }
    if not args.node_url:
        given = [name for name, value in named.items() if value]
        given += ["--token"] * bool(args.token) + ["--whitelist"] * bool(args.whitelist)
        if given:
            raise ValueError(
                f"{', '.join(given)}: only with --node-url (the node the tokens are on)"
            )
        return None
    if args.broker != "alpaca":
        raise ValueError(f"--node-url: rebalancing endpoints are Alpaca's, not {args.broker}'s")
    missing = [name for name, value in named.items() if not value]
    missing += ["--token"] * (not args.token)
    if missing:
        raise ValueError(f"--node-url needs {', '.join(missing)}")
    for name, value in named.items():
        _check_address(name, value)
    for address in args.whitelist:
        _check_address("--whitelist", address)
    return Rebalancing(
        args.node_url,
        _tokens(args.token),
        args.usdc,
        args.minter,
        args.redemption_wallet,
        args.deposit_address,
        tuple(args.whitelist),
    )


def _tokens(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        symbol, _, address = item.partition("=")
        if not symbol or not ADDRESS.match(address):
            raise ValueError(
                f"--token {item!r}: expected SYMBOL=ADDRESS (0x and 40 hexadecimal digits), "
                "e.g. AAPL=0x5FbDB2315678afecb367f032d93F642f64180aa3"
            )
        found[symbol.upper()] = address
    return found


def _check_address(option: str, value: str) -> None:
    if not ADDRESS.match(value):
        raise ValueError(f"{option} {value!r}: expected an address, 0x and 40 hexadecimal digits")


def _amount(text: str) -> Decimal:
    """A number >= 0 (ValueError otherwise: argparse names the option)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or value < 0:
        raise ValueError(text)
    return value


def _pairs(items: list[str], *, positive: bool = False) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for item in items:
        symbol, _, number = item.partition("=")
        try:
            value = _amount(number)
        except ValueError:
            value = Decimal(-1)
        if not symbol or value < 0 or (positive and value == 0):
            what = "a price above 0" if positive else "a number of shares"
            raise ValueError(f"{item!r}: expected SYMBOL=NUMBER ({what}), e.g. AAPL=230")
        found[symbol.upper()] = value
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args, funding = parse(argv)
    runner: Any = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with ccxt
        pass
    runner(
        serve(
            args.broker,
            funding,
            host=args.host,
            exit_on_eof=args.exit_on_eof,
            rebalancing=args.rebalancing,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
