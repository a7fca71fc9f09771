"""`python -m pegkeeper.sim.brokers.serve alpaca|schwab`: a local broker server in a process of
its own, on the wall clock, with one funded account, for benchmarks and local runs that want the
broker outside their own event loop (as a real one is).

Once it listens it prints one JSON line on stdout: what a client needs to reach it; when it
stops, a second one: {"requests": {endpoint or route: count}}, what it answered.

- alpaca: {"broker", "url", "key_id", "secret_key", "account_id"}: the Trading API under /v2
  and the Broker API under /v1 (the same account: `account_id` is the managed account);
- schwab: {"broker", "url", "app_key", "app_secret", "redirect_uri", "account_number"}: log in
  through /v1/oauth/authorize and /v1/oauth/token as at Schwab.

The keys are made up for the run (never real ones). Market orders fill whole at `--price` (the
Alpaca server on the order's first read, Schwab's when placed). It runs until SIGINT or SIGTERM,
and with `--exit-on-eof` also until its stdin closes, so that it never outlives its parent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pegkeeper.sim.brokers.alpaca_book import AlpacaBook
from pegkeeper.sim.brokers.alpaca_records import Account, Position
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.schwab_server import SchwabServer

BROKERS = ("alpaca", "schwab")
SCHWAB_ACCOUNT = "12345678"


@dataclass(frozen=True, slots=True)
class Funding:
    """The account's cash, the shares it holds and where each symbol's orders fill."""

    cash_usd: Decimal
    shares: dict[str, Decimal]
    prices: dict[str, Decimal]


class Running:
    """A started server and what a client needs to reach it."""

    def __init__(self, server: AlpacaSimServer | SchwabServer, reach: dict[str, str]) -> None:
        self.server = server
        self.reach = reach

    def requests(self) -> dict[str, int]:
        """The requests answered so far, by endpoint (Alpaca's "POST /v2/orders", ...) or
        route (Schwab's "place_order", ...)."""
        if isinstance(self.server, AlpacaSimServer):
            return dict(self.server.requests_by_endpoint)
        return dict(self.server.requests)

    async def stop(self) -> None:
        await self.server.stop()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def start(broker: str, funding: Funding, host: str = "127.0.0.1") -> Running:
    if broker == "alpaca":
        return await _alpaca(funding, host)
    if broker == "schwab":
        return await _schwab(funding, host)
    raise ValueError(f"unknown broker {broker!r}: one of {', '.join(BROKERS)}")


async def _alpaca(funding: Funding, host: str) -> Running:
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
    await server.start()
    reach = {"key_id": key_id, "secret_key": secret_key, "account_id": account.id}
    return Running(server, {"broker": "alpaca", "url": server.url, **reach})


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


async def serve(broker: str, funding: Funding, *, host: str, exit_on_eof: bool) -> None:
    running = await start(broker, funding, host)
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
    args = parser.parse_args(argv)
    try:
        funding = Funding(args.cash, _pairs(args.holding), _pairs(args.price, positive=True))
    except ValueError as error:
        parser.error(str(error))
    return args, funding


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
    runner(serve(args.broker, funding, host=args.host, exit_on_eof=args.exit_on_eof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
