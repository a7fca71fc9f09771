"""`pegkeeper equities` and `pegkeeper equities fills SYMBOL`: the tokenized-equity hedger of a
running pegkeeper, read from its HTTP API (GET /api/v1/equities, /api/v1/equities/{symbol}/fills).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pegkeeper.cli.quotes import utc_iso
from pegkeeper.services.views.equities_figures import plain

CENTS = Decimal("0.01")  # USD on screen, half even (the API has every digit)
NOT_CONFIGURED = (
    "no equities are configured there: the tokenized-equity hedger does not run in that pegkeeper"
)

BaseUrl = Callable[[str | None, Path | None], str]
Request = Callable[..., httpx.Response]
Fail = Callable[[str], NoReturn]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="a running pegkeeper's HTTP address (default: from config)"),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $PEGKEEPER_CONFIG)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the raw JSON")]


def register(app: typer.Typer, base_url: BaseUrl, request: Request, fail: Fail) -> typer.Typer:
    """Adds `pegkeeper equities`; returns its group, where more commands may join."""
    equities_app = typer.Typer(
        help="The tokenized-equity hedger: positions, exposure, P&L and the fill-to-hedge trail.",
        invoke_without_command=True,
    )
    app.add_typer(equities_app, name="equities")

    @equities_app.callback()
    def positions(
        ctx: typer.Context,
        url: UrlOption = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Each symbol's onchain net, hedged, pending, exposure and its age, why it waits, P&L."""
        if ctx.invoked_subcommand is not None:
            return
        data = request("GET", base_url(url, config) + "/api/v1/equities").json()
        if not data.get("configured"):
            fail(NOT_CONFIGURED)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        Console().print(positions_table(data))

    @equities_app.command("fills")
    def fills(
        symbol: Annotated[str, typer.Argument(help="the broker symbol, e.g. AAPL")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="newest fills")] = 20,
        url: UrlOption = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """The fill-to-hedge trail: each onchain fill, newest first, then the broker fills that
        covered it and what is still open."""
        path = f"/api/v1/equities/{symbol}/fills?limit={limit}"
        response = request("GET", base_url(url, config) + path)
        data = response.json()
        if response.status_code == 404:
            fail(str(data.get("detail", data)))
        if response.status_code >= 400:
            fail(f"refused ({response.status_code}): {data.get('detail') or data.get('error')}")
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        Console().print(trail_table(data))

    return equities_app


def positions_table(data: dict[str, Any]) -> Table:
    table = Table(title="pegkeeper equities")
    for column in ("symbol", "onchain net", "hedged", "pending", "exposure", "exposure USD"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for column in ("age", "waiting", "realised USD", "unrealised USD"):
        table.add_column(column, justify="left" if column == "waiting" else "right")
    for s in data["symbols"]:
        table.add_row(
            s["symbol"] + (" (paused)" if s["paused"] else ""),
            shares(s["onchain_net"]),
            shares(s["hedged"]),
            shares(s["pending"]),
            shares(s["exposure"]),
            usd(s["exposure_usd"]),
            age(s["exposure_age_seconds"]),
            Text(s["waiting_reason"] or "-"),
            usd(s["realised_pnl_usd"]),
            usd(s["unrealised_pnl_usd"]),
        )
    table.caption = "\n".join(_status_lines(data))
    return table


def _status_lines(data: dict[str, Any]) -> list[str]:
    chain = data["ingestion"]
    lines = [_chain_line(chain)]
    skipped = {reason: n for reason, n in chain["skipped"].items() if n}
    if skipped:
        lines.append("skipped logs: " + ", ".join(f"{r} {n}" for r, n in skipped.items()))
    switches = data.get("switches")
    if switches and switches["global"]["paused"]:
        lines.append(f"every symbol paused by {switches['global']['by'] or 'an operator'}")
    ledger = data.get("ledger")
    if ledger is not None:
        by_scope = ", ".join(f"{scope} {n}" for scope, n in ledger["by_scope"].items() if n)
        lines.append(f"ledger: {ledger['breaks']} breaks" + (f" ({by_scope})" if by_scope else ""))
    return lines


def _chain_line(chain: dict[str, Any]) -> str:
    if chain["checkpoint_block"] is None:
        text = "chain: nothing read yet"
    else:
        text = f"chain: checkpoint block {chain['checkpoint_block']}"
    if chain["lag_blocks"] is not None:
        text += f", {chain['lag_blocks']} blocks ({chain['lag_seconds']} s) behind the cutoff"
    if not chain["running"]:
        return text + "; ingestion does not run in that process"
    failures = chain["consecutive_failures"]
    if failures:
        polls = "poll" if failures == 1 else "polls"
        text += f"; {failures} {polls} failed in a row: {chain['last_error']}"
    return text


def trail_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"{data['symbol']}: onchain fills and the broker fills that covered them")
    for column in ("time (UTC)", "fill", "side", "shares", "price USD", "captured USD"):
        numeric = column in ("shares", "price USD", "captured USD")
        table.add_column(column, justify="right" if numeric else "left")
    for fill in data["fills"]:
        reverted = " (reverted)" if fill["reverted"] else ""
        table.add_row(
            utc_iso(fill["block_time_ms"] // 1000),
            f"{fill['tx_hash'][:10]}…:{fill['log_index']} block {fill['block_number']}{reverted}",
            f"onchain {fill['side']}",
            shares(fill["shares"]),
            price(fill["price_usd"]),
            "",
        )
        for cover in fill["covers"]:
            table.add_row(
                utc_iso(cover["ts_ms"] // 1000),
                f"  └ {cover['client_order_id']}/{cover['broker_fill_id']}",
                f"broker {cover['side']}",
                f"{shares(cover['shares'])} of {shares(cover['fill_quantity'])}",
                price(cover["price_usd"]),
                usd(cover["captured_usd"]),
            )
        if Decimal(fill["uncovered_shares"]) != 0:
            table.add_row("", "  └ not covered yet", "", shares(fill["uncovered_shares"]), "", "")
    if not data["fills"]:
        table.caption = "no onchain fill yet"
    return table


def shares(value: str | None) -> str:
    return "-" if value is None else plain(Decimal(value))


def usd(value: str | None) -> str:
    if value is None:
        return "-"
    return f"{Decimal(value).quantize(CENTS, rounding=ROUND_HALF_EVEN):,}"


def price(value: str | None) -> str:
    return "-" if value is None else plain(Decimal(value))


def age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
