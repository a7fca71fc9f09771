"""The `pegkeeper price`, `quote` and `accept-quote` commands: a running price server's gRPC."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from pegkeeper.config import Settings

BuyOption = Annotated[bool, typer.Option("--buy", help="the user buys USD (walks the bids)")]
SellOption = Annotated[bool, typer.Option("--sell", help="the user sells USD (walks the asks)")]
SatsOption = Annotated[int | None, typer.Option("--sats", help="amount in satoshis")]
CentsOption = Annotated[int | None, typer.Option("--cents", help="amount in USD cents")]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object")]
GrpcUrlOption = Annotated[
    str | None,
    typer.Option("--url", help="the gRPC server's host:port (default: from config)"),
]


UINT64_MAX = 2**64 - 1  # the proto's amounts and seconds are uint64
SATS_PER_BTC = 100_000_000


class Usage(Exception):
    """A wrong combination of options, or a value the rpc cannot carry."""


def price_rpc(
    buy: bool, sell: bool, sats: int | None, cents: int | None, future: int | None
) -> str:
    direction = _direction(buy, sell)
    _one_amount(sats, cents)
    if future is not None:
        _in_range("--future", future, "seconds", minimum=0)
    conversion = "CentsFromSats" if sats is not None else "SatsFromCents"
    timing = "Future" if future is not None else "Immediate"
    return f"Get{conversion}For{timing}{direction}"


def _direction(buy: bool, sell: bool) -> str:
    if buy == sell:
        raise Usage("give exactly one of --buy or --sell")
    return "Buy" if buy else "Sell"


def _one_amount(sats: int | None, cents: int | None) -> None:
    if (sats is None) == (cents is None):
        raise Usage("give exactly one of --sats N or --cents N")
    if sats is not None:
        _in_range("--sats", sats, "satoshis")
    if cents is not None:
        _in_range("--cents", cents, "cents")


def _in_range(option: str, value: int, unit: str, minimum: int = 1) -> None:
    if not minimum <= value <= UINT64_MAX:
        raise Usage(
            f"{option} {value}: expected a whole number of {unit} from {minimum} to {UINT64_MAX}"
        )


def price_url(url: str | None, settings: Settings) -> str:
    p = settings.price_server
    return url or f"{p.host}:{p.price_port}"


def quote_url(url: str | None, settings: Settings) -> str:
    p = settings.price_server
    return url or f"{p.host}:{p.quote_port}"


def show_price(rpc: str, amount: int, result: int, as_json: bool) -> str:
    given, got = ("sats", "cents") if "CentsFromSats" in rpc else ("cents", "sats")
    if as_json:
        return json.dumps({"rpc": rpc, f"amount_in_{given}": amount, f"amount_in_{got}": result})
    return f"{amount} {given} -> {result} {got}  ({rpc})"


def show_mid(ratio_cents_per_sat: float, as_json: bool) -> str:
    """The mid rate with its unit, and the same rate in USD per BTC (display only)."""
    if as_json:
        return json.dumps({"ratio_in_cents_per_satoshis": ratio_cents_per_sat})
    usd_per_btc = ratio_cents_per_sat * SATS_PER_BTC / 100
    return f"mid rate: {ratio_cents_per_sat} cents per sat ({usd_per_btc:,.2f} USD per BTC)"


def utc_iso(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def show_quote(answer: Any, buy: bool, as_json: bool, now_s: float | None = None) -> str:
    seconds_left = max(int(answer.expires_at - (time.time() if now_s is None else now_s)), 0)
    body = {
        "quote_id": answer.quote_id,
        "direction": "buy" if buy else "sell",
        "amount_in_sats": answer.amount_sats,
        "amount_in_cents": answer.amount_cents,
        "expires_at": answer.expires_at,
        "expires_at_utc": utc_iso(answer.expires_at),
        "expires_in_seconds": seconds_left,
        "executed": answer.executed,
    }
    if as_json:
        return json.dumps(body)
    verb = "buys" if buy else "sells"
    state = (
        "executed"
        if answer.executed
        else f"expires at {body['expires_at_utc']} ({seconds_left} s left)"
    )
    return (
        f"quote {answer.quote_id}: the user {verb} {answer.amount_cents} cents "
        f"for {answer.amount_sats} sats; {state}"
    )


def register(
    app: typer.Typer,
    settings_of: Callable[[Path | None], Settings],
    fail: Callable[[str], NoReturn],
    usage: Callable[[str], NoReturn],
) -> None:
    """Add the commands to `app`; `settings_of(config)` loads settings, `fail(message)` exits 1
    (the server refused or could not be reached), `usage(message)` exits 2 (wrong options)."""
    from pegkeeper.api.grpc import client

    @app.command()
    def price(
        buy: BuyOption = False,
        sell: SellOption = False,
        sats: SatsOption = None,
        cents: CentsOption = None,
        future: Annotated[
            int | None, typer.Option("--future", help="a Future rpc for this many seconds")
        ] = None,
        mid: Annotated[bool, typer.Option("--mid", help="the mid rate in cents per sat")] = False,
        url: GrpcUrlOption = None,
        config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Ask a running price server for a price (like stablesats' `price`)."""
        address = price_url(url, settings_of(config))
        try:
            if mid:
                typer.echo(show_mid(client.mid_rate(address), as_json))
                return
            rpc = price_rpc(buy, sell, sats, cents, future)
            amount = sats if sats is not None else cents
            assert amount is not None
            result = client.price(address, rpc, amount, future)
        except Usage as error:
            usage(str(error))
        except client.CallFailed as error:
            fail(str(error))
        typer.echo(show_price(rpc, amount, result, as_json))

    @app.command()
    def quote(
        buy: BuyOption = False,
        sell: SellOption = False,
        sats: SatsOption = None,
        cents: CentsOption = None,
        immediate: Annotated[
            bool, typer.Option("--immediate", help="accept it at once (immediate execution)")
        ] = False,
        url: GrpcUrlOption = None,
        config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Get a quote with an id from a running quote server; accept it with accept-quote."""
        address = quote_url(url, settings_of(config))
        try:
            is_buy = _direction(buy, sell) == "Buy"
            _one_amount(sats, cents)
            answer = client.quote(address, is_buy, sats=sats, cents=cents, immediate=immediate)
        except Usage as error:
            usage(str(error))
        except client.CallFailed as error:
            fail(str(error))
        typer.echo(show_quote(answer, is_buy, as_json))

    @app.command("accept-quote")
    def accept_quote(
        quote_id: Annotated[str, typer.Argument(help="the quote's id (a UUID)")],
        url: GrpcUrlOption = None,
        config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    ) -> None:
        """Accept a quote: the dealer's liability moves and the hedger follows."""
        try:
            client.accept_quote(quote_url(url, settings_of(config)), quote_id)
        except client.CallFailed as error:
            fail(str(error))
        typer.echo(f"accepted {quote_id}")
