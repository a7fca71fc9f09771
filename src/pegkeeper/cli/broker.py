"""`pegkeeper broker check`: the configured broker probed directly (no running pegkeeper needed),
so an operator verifies a setup before going live: the account, its cash and buying power, what
the credentials may do, the market now and the calendar of the next days, the positions. Exits 1
when the probe finds a problem, naming it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from pegkeeper.config import Settings
from pegkeeper.domain.equities.broker import masked_account
from pegkeeper.domain.equities.sessions import MS_PER_DAY, TradingDay
from pegkeeper.services.equities.broker_probe import BrokerCheck

EXCHANGE_TIME = ZoneInfo("America/New_York")  # sessions are read as the exchange states them

SettingsOf = Callable[[Path | None], Settings]
Fail = Callable[[str], NoReturn]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $PEGKEEPER_CONFIG)"),
]


def register(app: typer.Typer, settings_of: SettingsOf, fail: Fail) -> None:
    broker_app = typer.Typer(help="The broker the equity hedger trades at.")
    app.add_typer(broker_app, name="broker")

    @broker_app.command("check")
    def check(
        config: ConfigOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Probe the configured broker: account, cash, permissions, market calendar, positions."""
        from pegkeeper.bootstrap.brokers import probe_once

        settings = settings_of(config)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # logs never mix with the output
                result = asyncio.run(probe_once(settings))
        except Exception as error:  # a broker that cannot even be built: the reason, no trace
            fail(f"broker check: {error}")
        if as_json:
            typer.echo(json.dumps(check_json(result), indent=2))
        else:
            _print(Console(), result)
        if not result.ok:
            raise typer.Exit(1)


def check_json(check: BrokerCheck) -> dict[str, Any]:
    account = check.account
    return {
        "broker": check.broker,
        "checked_at": _utc(check.checked_at_ms),
        "ok": check.ok,
        "problems": list(check.problems),
        "account": None
        if account is None
        else {
            "account": masked_account(account.account_id),
            "status": account.status,
            "cash_usd": str(account.cash_usd),
            "buying_power_usd": str(account.buying_power_usd),
            "can_trade": account.can_trade,
            "fractional": account.fractional,
            "extended_hours": account.extended_hours,
        },
        "login_expires_at": _utc(check.login_expires_at_ms) if check.login_expires_at_ms else None,
        "notices": list(check.notices),
        "session": check.session.value if check.session else None,
        "next_open": _utc(check.next_open_ms) if check.next_open_ms else None,
        "days": [_day_json(day) for day in check.days],
        "positions": {
            symbol: {"quantity": str(p.quantity), "available": str(p.available)}
            for symbol, p in check.positions.items()
        },
    }


def _day_json(day: TradingDay) -> dict[str, str]:
    return {
        "day": day.day.isoformat(),
        "pre_open": _utc(day.pre_open_ms),
        "open": _utc(day.open_ms),
        "close": _utc(day.close_ms),
        "post_close": _utc(day.post_close_ms),
    }


def _print(console: Console, check: BrokerCheck) -> None:
    account = Table(title=f"broker {check.broker}", show_header=False)
    if check.account is not None:
        a = check.account
        account.add_row("account", f"{masked_account(a.account_id)} {a.status}".strip())
        account.add_row("cash", _usd(a.cash_usd))
        account.add_row("buying power", _usd(a.buying_power_usd))
        account.add_row("may trade", _yes(a.can_trade))
        account.add_row("fractional shares", _yes(a.fractional))
        account.add_row("extended hours", _yes(a.extended_hours))
    if check.login_expires_at_ms is not None:
        account.add_row("login valid until", _et(check.login_expires_at_ms))
    account.add_row("market now", check.session.value if check.session else "unknown")
    account.add_row("next regular open", _et(check.next_open_ms) if check.next_open_ms else "-")
    console.print(account)
    console.print(_calendar(check.days))
    positions = Table(title="positions")
    for column in ("symbol", "shares", "available to sell"):
        positions.add_column(column, justify="right" if column != "symbol" else "left")
    for symbol, p in check.positions.items():
        positions.add_row(symbol, str(p.quantity), str(p.available))
    console.print(positions)
    for notice in check.notices:
        console.print(f"[yellow]soon:[/yellow] {notice}", markup=True, highlight=False)
    for problem in check.problems:
        console.print(f"[red]problem:[/red] {problem}", markup=True, highlight=False)
    if check.ok:
        console.print("[green]the broker is ready for the hedger[/green]")


def _calendar(days: tuple[TradingDay, ...]) -> Table:
    table = Table(title="market calendar (exchange time, America/New_York)")
    for column in ("day", "extended from", "open", "close", "extended until"):
        table.add_column(column)
    for day in days:
        if day.close_ms - day.open_ms == MS_PER_DAY:
            table.add_row(day.day.strftime("%a %Y-%m-%d"), "", "around the clock", "", "")
            continue
        table.add_row(
            day.day.strftime("%a %Y-%m-%d"),
            _clock(day.pre_open_ms),
            _clock(day.open_ms),
            _clock(day.close_ms),
            _clock(day.post_close_ms),
        )
    return table


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _et(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, EXCHANGE_TIME).strftime("%a %Y-%m-%d %H:%M %Z")


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, EXCHANGE_TIME).strftime("%H:%M")


def _usd(amount: Decimal) -> str:
    return f"{amount:,.2f} USD"


def _yes(flag: bool) -> str:
    return "yes" if flag else "[red]no[/red]"
