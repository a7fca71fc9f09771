"""`pegkeeper equities inventory | proposals | approve ID | dismiss ID | moves [--all] |
execution ASSET|all on|off`: inventory rebalancing of a running pegkeeper, through its HTTP API
(GET /api/v1/equities/inventory and /api/v1/equities/rebalancing; the actions POST with an
operator token, as the dashboard's buttons do, and are written to its audit trail).
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pegkeeper.cli.equities import (
    BaseUrl,
    ConfigOption,
    Fail,
    JsonOption,
    Request,
    UrlOption,
    shares,
    usd,
)
from pegkeeper.cli.operator import NoteOption, TokenOption, post_action
from pegkeeper.cli.quotes import utc_iso
from pegkeeper.services.views.equities_figures import plain

SHARE_SHOWN = Decimal("0.0001")  # the onchain share on screen, truncated as the rules show it
NOT_CONFIGURED = "inventory rebalancing is not configured in that pegkeeper"


class OnOff(StrEnum):
    ON = "on"
    OFF = "off"


def register(equities_app: typer.Typer, base_url: BaseUrl, request: Request, fail: Fail) -> None:
    def get(url: str | None, config: Any, path: str) -> dict[str, Any]:
        data: dict[str, Any] = request("GET", base_url(url, config) + path).json()
        if not data.get("configured"):
            fail(NOT_CONFIGURED)
        return data

    def act(url: str | None, config: Any, path: str, token: str, body: dict[str, Any]) -> None:
        typer.echo(post_action(request, fail, base_url(url, config) + path, token, body))

    @equities_app.command("inventory")
    def inventory(
        url: UrlOption = None, config: ConfigOption = None, as_json: JsonOption = False
    ) -> None:
        """Each asset onchain and at the broker, in flight, its onchain share against the band."""
        data = get(url, config, "/api/v1/equities/inventory")
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        Console().print(inventory_table(data["assets"]))

    @equities_app.command("proposals")
    def proposals(
        url: UrlOption = None, config: ConfigOption = None, as_json: JsonOption = False
    ) -> None:
        """The open proposals (proposed, approved) with their reasons."""
        data = get(url, config, "/api/v1/equities/rebalancing?history_limit=1")
        if as_json:
            typer.echo(json.dumps(data["proposals"], indent=2))
            return
        Console().print(proposals_table(data["proposals"]))

    @equities_app.command("approve")
    def approve(
        proposal_id: Annotated[str, typer.Argument(help="the proposal's id (equities proposals)")],
        note: NoteOption = "",
        token: TokenOption = "",
        url: UrlOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Approve a proposed move: the rebalancer executes it."""
        path = f"/api/v1/equities/rebalancing/proposals/{_segment(proposal_id, fail)}/approve"
        act(url, config, path, token, {"note": note} if note else {})

    @equities_app.command("dismiss")
    def dismiss(
        proposal_id: Annotated[str, typer.Argument(help="the proposal's id (equities proposals)")],
        note: NoteOption = "",
        token: TokenOption = "",
        url: UrlOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Dismiss a proposal: it is not executed."""
        path = f"/api/v1/equities/rebalancing/proposals/{_segment(proposal_id, fail)}/dismiss"
        act(url, config, path, token, {"note": note} if note else {})

    @equities_app.command("moves")
    def moves(
        show_all: Annotated[bool, typer.Option("--all", help="the ended moves too")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="ended moves")] = 20,
        url: UrlOption = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Moves in flight and stuck with each step's hash or request id (--all: ended too)."""
        data = get(url, config, f"/api/v1/equities/rebalancing?history_limit={limit}")
        listed = [*data["moves"]["active"], *data["moves"]["stuck"]]
        if show_all:
            held = {m["move_id"] for m in listed}
            listed += [m for m in data["history"]["moves"] if m["move_id"] not in held]
        if as_json:
            typer.echo(json.dumps(listed, indent=2))
            return
        out = Console()
        out.print(moves_table(listed, show_all))
        for line in halt_lines(listed):
            out.print(Text(line))

    @equities_app.command("execution")
    def execution(
        asset: Annotated[str, typer.Argument(help="an asset (AAPL, USD for cash) or 'all'")],
        state: Annotated[OnOff, typer.Argument(help="on: execute proposals without approval")],
        note: NoteOption = "",
        token: TokenOption = "",
        url: UrlOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Execute proposals without approval for ASSET, or globally with 'all' (both needed)."""
        body: dict[str, Any] = {"asset": asset, "enabled": state is OnOff.ON}
        if note:
            body["note"] = note
        act(url, config, "/api/v1/equities/rebalancing/execution", token, body)


def inventory_table(assets: list[dict[str, Any]]) -> Table:
    table = Table(title="inventory: onchain share against the target band")
    for column in ("asset", "onchain", "broker", "in flight", "onchain share", "band"):
        table.add_column(column, justify="left" if column == "asset" else "right")
    for column in ("", "block", "read at (UTC)"):
        table.add_column(column, justify="right" if column == "block" else "left")
    for a in assets:
        outside = a["outside_band"]
        table.add_row(
            f"{a['asset']} ({a['unit']})",
            shares(a["onchain"]),
            shares(a["broker"]),
            shares(a["in_flight"]),
            share(a["onchain_share"]),
            f"{share(a['band_low'])}-{share(a['band_high'])}",
            "-" if outside is None else ("OUTSIDE" if outside else "inside"),
            str(a["block_number"]),
            utc_iso(a["read_at_ms"] // 1000),
        )
    if not assets:
        table.caption = "no inventory read yet: the rebalancer has not taken a snapshot"
    return table


def proposals_table(proposals: list[dict[str, Any]]) -> Table:
    table = Table(title="open rebalancing proposals (newest first)")
    for column in ("id", "asset", "move", "amount", "status", "created (UTC)", "reason"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for p in proposals:
        reason = p["reason"] + (f" (unblocks: {'; '.join(p['unblocks'])})" if p["unblocks"] else "")
        table.add_row(
            p["proposal_id"],
            p["asset"],
            p["kind"],
            f"{shares(p['amount'])} {p['unit']}",
            p["status"] + (f" by {p['decided_by']}" if p["decided_by"] else ""),
            utc_iso(p["created_at_ms"] // 1000),
            Text(reason),
        )
    if not proposals:
        table.caption = "no open proposal: every asset is inside its band, or a move is in flight"
    return table


def moves_table(moves: list[dict[str, Any]], show_all: bool) -> Table:
    title = "rebalancing moves" if show_all else "rebalancing moves in flight and stuck"
    table = Table(title=title)
    for column in ("move", "kind", "amount", "step", "status", "reference", "cost USD"):
        table.add_column(column, justify="right" if column in ("amount", "cost USD") else "left")
    for m in moves:
        waiting = f" -> {m['waiting_for']}" if m["waiting_for"] else ""
        late = " (overdue)" if m["overdue"] else ""
        table.add_row(
            m["move_id"],
            f"{m['kind']} {m['asset']}",
            f"{shares(m['amount'])} {m['unit']}",
            m["step"] + waiting + late,
            m["status"] + (f" ({m['halt']})" if m["halt"] else ""),
            "",
            usd(m["cost_usd"]),
        )
        for step in m["steps"]:
            table.add_row(
                "",
                "",
                _step_amount(step),
                f"  └ {step['step']}",
                step["status"],
                _reference(step),
                "",
            )
    if not moves:
        table.caption = "no move in flight" + ("" if show_all else " (--all: the ended ones too)")
    return table


def halt_lines(moves: list[dict[str, Any]]) -> list[str]:
    return [
        f"{m['move_id']} {m['status']} in {m['halt']}: {m['halt_what']}"
        + (f" ({m['error']})" if m["error"] else "")
        + f". To do: {m['halt_action']}"
        for m in moves
        if m["halt"]
    ]


def _step_amount(step: dict[str, Any]) -> str:
    received, asked = step["amount_received"], step["amount_asked"]
    if received is not None:
        return f"got {shares(received)}"
    return f"asked {shares(asked)}" if asked is not None else ""


def _reference(step: dict[str, Any]) -> str:
    parts = [p for p in (step["request_id"], step["tx_hash"]) if p]
    return " ".join(parts) or "-"


def share(value: str | None) -> str:
    if value is None:
        return "-"
    return plain(Decimal(value).quantize(SHARE_SHOWN, rounding=ROUND_DOWN))


def _segment(proposal_id: str, fail: Fail) -> str:
    """The id as one path segment; fails for an id no proposal can have."""
    text = proposal_id.strip()
    if not text or "/" in text or len(text) > 128:
        fail(f"{proposal_id!r} is not a proposal id: pass one from `pegkeeper equities proposals`")
    return quote(text, safe="")
