"""`pegkeeper funding settle OPERATION_ID --not-sent | --sent TX_ID [--note TEXT]`: an operator
settles a deposit the funding manager of a running pegkeeper holds (its send had no answer and
the wallet showed none), through its HTTP API (POST
/api/v1/funding/operations/{id}/settle, with an operator token; written to its audit trail).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer

from pegkeeper.cli.equities import BaseUrl, ConfigOption, Fail, Request, UrlOption
from pegkeeper.cli.operator import NoteOption, TokenOption, post_action
from pegkeeper.domain.orders import CLIENT_ID_PATTERN

Usage = Callable[[str], NoReturn]


def register(
    funding_app: typer.Typer, base_url: BaseUrl, request: Request, fail: Fail, usage: Usage
) -> None:
    @funding_app.command("settle")
    def settle(
        operation_id: Annotated[
            str, typer.Argument(help="the held deposit's operation id (pegkeeper funding)")
        ],
        not_sent: Annotated[
            bool,
            typer.Option("--not-sent", help="the wallet never sent it: it fails, deposits resume"),
        ] = False,
        sent: Annotated[
            str,
            typer.Option(
                "--sent",
                metavar="TX_ID",
                help="it was sent in this transaction: followed until the exchange credits it",
            ),
        ] = "",
        note: NoteOption = "",
        token: TokenOption = "",
        url: UrlOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Settle a deposit held for an operator: --not-sent, or --sent TX_ID."""
        if not_sent == bool(sent):
            usage("say what became of the deposit: --not-sent, or --sent TX_ID (one of the two)")
        if not CLIENT_ID_PATTERN.match(operation_id):
            fail(
                f"{operation_id!r} is not an operation id (1 to 32 letters or digits): pass "
                "one from `pegkeeper funding`"
            )
        body: dict[str, Any] = {"outcome": "not-sent"}
        if sent:
            body = {"outcome": "sent", "tx_id": sent}
        if note:
            body["note"] = note
        path = f"/api/v1/funding/operations/{operation_id}/settle"
        typer.echo(post_action(request, fail, base_url(url, config) + path, token, body))
