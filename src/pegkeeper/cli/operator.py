"""What the operator commands share: the operator token (`--token` or $PEGKEEPER_OPERATOR_TOKEN),
the note for the audit trail, and the action posted to a running pegkeeper with its outcome in
words (as the dashboard's buttons post them; each is written to its audit trail)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from pegkeeper.cli.equities import Fail, Request

TOKEN_ENV = "PEGKEEPER_OPERATOR_TOKEN"
TokenOption = Annotated[
    str,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        help=f"an operator token (default: ${TOKEN_ENV})",
        show_default=False,
    ),
]
NoteOption = Annotated[str, typer.Option("--note", help="a note for the audit trail")]


def post_action(request: Request, fail: Fail, url: str, token: str, body: dict[str, Any]) -> str:
    """POSTs the action to `url` with the token; its outcome in words (fails when refused)."""
    if not token:
        fail(f"operator actions need an operator token: pass --token or set ${TOKEN_ENV}")
    headers = {"Authorization": f"Bearer {token}"}
    return action_outcome(request("POST", url, json=body, headers=headers), fail)


def action_outcome(response: httpx.Response, fail: Fail) -> str:
    """The action's result in words; fails with the server's reason when it was refused."""
    try:
        data = response.json()
    except ValueError:
        fail(f"refused ({response.status_code}): {response.text[:200]}")
    if response.status_code == 200:
        return f"{data['action']} {data['result']}: {data['detail']}"
    reason = data.get("error") or data.get("detail") or data
    if response.status_code in (401, 403):
        fail(f"refused ({response.status_code}): {reason}; check the operator token")
    fail(f"refused ({response.status_code}): {reason}")
