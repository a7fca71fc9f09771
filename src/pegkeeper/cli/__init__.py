"""The `pegkeeper` command."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pegkeeper.cli.auth import register as register_auth_commands
from pegkeeper.cli.backtest import register as register_backtest_command
from pegkeeper.cli.broker import register as register_broker_commands
from pegkeeper.cli.equities import register as register_equities_commands
from pegkeeper.cli.figures import hedging_rows, in_flight_rows, risk_rows
from pegkeeper.cli.funding import register as register_funding_commands
from pegkeeper.cli.quotes import register as register_quote_commands
from pegkeeper.cli.rebalancing import register as register_rebalancing_commands
from pegkeeper.cli.sim import register as register_sim_commands
from pegkeeper.config import ConfigError, Settings, load_settings
from pegkeeper.services.market.replay import ReplayReport

SERVICE_TOKEN_ENV = "PEGKEEPER_SERVICE_TOKEN"  # the token `liability add` sends, if set
app = typer.Typer(help="pegkeeper: keeps synthetic assets pegged.", no_args_is_help=True)
liability_app = typer.Typer(help="The dealer's liability (synthetic USD owed to users).")
app.add_typer(liability_app, name="liability")
console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $PEGKEEPER_CONFIG)"),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="a running pegkeeper's HTTP address (default: from config)"),
]


def _error(message: str) -> None:
    """In red; the text itself is never read as markup (messages name [sections])."""
    console.print(f"[red]{escape(message)}[/red]", soft_wrap=True)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as error:
        _error(str(error))
        raise typer.Exit(2) from None


def _base_url(url: str | None, config: Path | None) -> str:
    if url:
        return url.rstrip("/")
    http = _settings(config).http
    return f"http://{http.host}:{http.port}"


@app.command()
def run(
    services: Annotated[
        list[str] | None, typer.Argument(help="services to run (default: every enabled one)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run pegkeeper's services in one process (with no config: the embedded demo)."""
    from pegkeeper.bootstrap import (
        START_ERRORS,
        BookSourceError,
        DatabaseInUse,
        UnknownService,
        run_forever,
    )

    settings = _settings(config)
    try:
        run_forever(settings, services or [])  # returns on Ctrl-C or SIGTERM, all stopped
    except (UnknownService, BookSourceError, DatabaseInUse, *START_ERRORS) as error:
        _error(str(error))
        raise typer.Exit(2) from None
    console.print("stopped")


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the database schema."""
    from pegkeeper.bootstrap import migrate_database

    settings = _settings(config)
    asyncio.run(migrate_database(settings))
    console.print(f"database at head: {settings.database_url}")


@app.command()
def replay(
    capture: Annotated[
        list[Path], typer.Option("--capture", help="capture file (repeat for several, in order)")
    ],
    exchange: Annotated[str, typer.Option("--exchange", help="whose wire format")] = "okx",
    inst_id: Annotated[
        str | None, typer.Option("--inst-id", help="which book's top to show (default: last)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Replay recorded WebSocket messages through the order book and its checksum checks.

    Exits 0 when every checksum held, 1 when one failed (the summary is printed either way),
    2 when a capture is missing or unreadable."""
    from pegkeeper.adapters.feeds.capture import CaptureError
    from pegkeeper.bootstrap import replay_capture

    missing = [str(p) for p in capture if not p.is_file()]
    if missing:
        _error(f"capture file not found: {', '.join(missing)}")
        raise typer.Exit(2)
    try:
        report = replay_capture(exchange, capture)
    except (CaptureError, ValueError) as error:
        _error(str(error))
        raise typer.Exit(2) from None
    summary = _replay_summary(report, inst_id)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        Console().print(_replay_table(summary))
    if summary["checksum_failed"]:
        _fail(f"{summary['checksum_failed']} book checksum(s) failed")


def _replay_summary(report: ReplayReport, inst_id: str | None) -> dict[str, Any]:
    top = report.top(inst_id)
    tally = report.tally
    return {
        "messages": tally.messages,
        "book_messages": tally.book_messages,
        "checksum_ok": tally.checksum_ok,
        "checksum_failed": tally.checksum_failed,
        "sequence_ok": tally.sequence_ok,
        "sequence_gaps": tally.sequence_gaps,
        "malformed": tally.malformed,
        "inst_id": top.inst_id if top else None,
        "best_bid": str(top.best_bid) if top and top.best_bid is not None else None,
        "best_ask": str(top.best_ask) if top and top.best_ask is not None else None,
        "messages_per_second": round(report.messages_per_second, 1),
        "books": {
            t.inst_id: {
                "best_bid": None if t.best_bid is None else str(t.best_bid),
                "best_ask": None if t.best_ask is None else str(t.best_ask),
                "valid": t.valid,
            }
            for t in report.tops
        },
    }


def _replay_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"replay: {summary['messages']} messages")
    table.add_column("book")
    table.add_column("best bid", justify="right")
    table.add_column("best ask", justify="right")
    table.add_column("valid")
    for inst, top in summary["books"].items():
        table.add_row(inst, top["best_bid"] or "-", top["best_ask"] or "-", str(top["valid"]))
    table.caption = (
        f"checksums ok {summary['checksum_ok']}, failed {summary['checksum_failed']}; "
        f"sequence ok {summary['sequence_ok']}, gaps {summary['sequence_gaps']}; "
        f"malformed {summary['malformed']}; {summary['messages_per_second']:,.0f} messages/s"
    )
    return table


@liability_app.command("add")
def liability_add(
    cents: Annotated[int, typer.Option("--cents", help="signed change in USD cents")],
    event_id: Annotated[
        str | None, typer.Option("--id", help="idempotency key (default: a new random one)")
    ] = None,
    memo: Annotated[str, typer.Option("--memo")] = "",
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Post a liability change to a running pegkeeper."""
    body = {"id": event_id or f"cli-{uuid.uuid4().hex}", "delta_cents": cents, "memo": memo}
    base = _base_url(url, config)
    token = os.environ.get(SERVICE_TOKEN_ENV, "")  # needed when the server asks for one
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = _request("POST", base + "/api/v1/liability/events", json=body, headers=headers)
    data = response.json()
    if response.status_code >= 400:
        _error(f"refused ({response.status_code}): {data.get('error', data)}")
        raise typer.Exit(1)
    note = "recorded" if response.status_code == 201 else "already recorded (same id)"
    typer.echo(
        f"{note}: {data['id']} {data['delta_cents']:+d} cents, "
        f"liability {data['liability_cents']} cents"
    )
    typer.echo(f"audit trail: {base}/audit/{data['correlation_id']}")


@app.command()
def status(
    url: UrlOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
) -> None:
    """The dealer's numbers from a running pegkeeper."""
    response = _request("GET", _base_url(url, config) + "/api/v1/dealer")
    data = response.json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    Console().print(_status_table(data))


def _status_table(data: dict[str, Any]) -> Table:
    table = Table(title="pegkeeper dealer", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("liability", _usd(data["liability_cents"])),
        ("exposure", _usd(data["exposure_cents"])),
        ("hedge ratio", data["hedge_ratio"] or "-"),
        ("position (contracts)", data["position_contracts"]),
        ("collateral (BTC)", data["collateral_btc"] or "-"),
        *risk_rows(data.get("risk")),
        *hedging_rows(data.get("hedging")),
        *in_flight_rows(data.get("orders_in_flight", [])),
    ]
    rows += _ledger_rows(data.get("ledger"))
    decision = data.get("last_decision")
    if decision:
        rows.append(
            (
                "last decision",
                f"{decision['action']} {decision['size_contracts']} ({decision['rule']})",
            )
        )
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _ledger_rows(ledger: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not ledger:
        return []
    state = "ready" if ledger["ready"] else f"waiting: {ledger['reason']}"
    rows = [("ledger source", ledger["source"]), ("ledger", state)]
    if ledger["source"] == "galoy":
        backlog = (
            f"{ledger['unpaired_transactions']} unpaired, {ledger['unposted_trades']} unposted, "
            f"{ledger['rejected_transactions']} rejected"
        )
        rows.append(("ledger backlog", backlog))
    return rows


funding_app = typer.Typer(
    help="The funding manager: its accounts, the money it moves, a held deposit settled.",
    invoke_without_command=True,
)
app.add_typer(funding_app, name="funding")


@funding_app.callback()
def funding(
    ctx: typer.Context,
    url: UrlOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
) -> None:
    """The funding manager's accounts and the money it moves, from a running pegkeeper."""
    if ctx.invoked_subcommand is not None:
        return
    response = _request("GET", _base_url(url, config) + "/api/v1/funding")
    data = response.json()
    if response.status_code == 404:
        _fail("the funding manager is not running there ([funding] enabled = false?)")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    out = Console()
    for account in data["accounts"]:
        out.print(_account_table(account, data))
    out.print(_operations_table(data["operations"]))
    for op in data["open_operations"]:
        if op.get("action_needed"):
            out.print(
                Text(
                    f"{op['kind']} {op['operation_id']} is {op['state']}: to do: "
                    f"{op['action_needed']}"
                )
            )


def _account_table(account: dict[str, Any], data: dict[str, Any]) -> Table:
    """One collateral account; with several venues, named with its venue."""
    currency = account["currency"]
    several = any(a.get("venue", "primary") != "primary" for a in data["accounts"])
    venue = f"{account.get('venue', 'primary')} " if several else ""
    table = Table(title=f"funding: {venue}{currency} account ({account['policy']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    live = account["live"] or {}
    rows: list[tuple[str, str | None]] = [
        *risk_rows(account.get("risk")),
        (f"funding account ({currency})", live.get("funding_balance")),
        ("hedge ratio", live.get("hedge_ratio")),
    ]
    if currency == "BTC" and data.get("wallet"):
        sats = data.get("wallet_balance_sats")
        rows.append((f"wallet ({data['wallet']}, sats)", None if sats is None else f"{sats:,}"))
    for name, value in rows:
        table.add_row(name, str(value) if value is not None else "-")
    return table


def _operations_table(operations: list[dict[str, Any]]) -> Table:
    """The money moved; a venue column once any moved on a venue besides the primary."""
    table = Table(title="money moved (newest first)")
    several = any(op.get("venue", "primary") != "primary" for op in operations)
    columns = ("kind", "amount", "state", "tx / venue id", "message")
    for column in ("venue", *columns) if several else columns:
        table.add_column(column)
    for op in operations[:15]:
        reference = (op["tx_id"] or op["venue_id"] or "-")[:16]
        row = (op["kind"], op["amount"], op["state"], reference, op["message"][:40])
        table.add_row(*((op.get("venue", "primary"), *row) if several else row))
    return table


def _usd(cents: int) -> str:
    return f"{cents / 100:,.2f} USD"


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return httpx.request(method, url, timeout=10, **kwargs)
    except httpx.HTTPError as error:
        _error(f"cannot reach pegkeeper at {url}: {error}")
        raise typer.Exit(1) from None


def _fail(message: str) -> NoReturn:
    _error(message)
    raise typer.Exit(1)


def _usage(message: str) -> NoReturn:
    _error(message)
    raise typer.Exit(2)


register_quote_commands(app, _settings, _fail, _usage)
register_sim_commands(app, _settings, _fail)
register_backtest_command(app, _settings, _fail)
equities_app = register_equities_commands(app, _base_url, _request, _fail)
register_rebalancing_commands(equities_app, _base_url, _request, _fail)
register_broker_commands(app, _settings, _fail)
register_funding_commands(funding_app, _base_url, _request, _fail, _usage)
register_auth_commands(app, _settings, _fail, _usage)


def main() -> None:
    app()
