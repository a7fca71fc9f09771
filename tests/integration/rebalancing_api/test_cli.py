"""`pegkeeper equities inventory | proposals | approve | dismiss | moves | execution` against a
served app over the hand-worked records of tests/rebalancing_web_support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from pegkeeper.cli import app
from pegkeeper.cli.quotes import utc_iso
from tests.rebalancing_web_support import rebalancing_served
from tests.web_support import ALICE_TOKEN, START_MS

runner = CliRunner()
WIDE = {"COLUMNS": "260", "PEGKEEPER_OPERATOR_TOKEN": ""}  # no cell wraps; no token


@pytest.fixture
def url() -> Iterator[str]:
    with rebalancing_served() as served:
        yield served


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in:\n{output}")


def run(*args: str, token: str = "") -> tuple[int, str]:
    env = WIDE | ({"PEGKEEPER_OPERATOR_TOKEN": token} if token else {})
    result = runner.invoke(app, ["equities", *args], env=env)
    return result.exit_code, result.output


def said(*args: str, token: str = "") -> tuple[int, str]:
    """The exit code and the command's last line (the served app, in this process, logs its
    operator actions to the same output before)."""
    code, out = run(*args, token=token)
    return code, out.strip().splitlines()[-1]


def test_the_inventory_table(url: str) -> None:
    code, out = run("inventory", "--url", url)
    assert code == 0, out
    read_at = utc_iso((START_MS - 4_000) // 1000)
    # 30 / 100 = 0.3 against 0.45-0.55
    assert cells(out, "AAPL (shares)") == [
        "AAPL (shares)", "30", "70", "0", "0.3", "0.45-0.55", "OUTSIDE", "1200", read_at,
    ]  # fmt: skip
    assert cells(out, "TSLA (shares)")[3:7] == ["2", "0.6", "0.3-0.7", "inside"]
    assert cells(out, "USD (USD)")[1:7] == ["4000", "6000", "0", "0.4", "0.55-0.65", "OUTSIDE"]


def test_the_open_proposals(url: str) -> None:
    code, out = run("proposals", "--url", url)
    assert code == 0, out
    assert cells(out, "p-aapl")[:5] == ["p-aapl", "AAPL", "mint", "20 shares", "proposed"]
    assert cells(out, "p-cash")[:5] == ["p-cash", "USD", "cash_to_chain", "2000 USD", "proposed"]
    assert "(unblocks: buy 12 AAPL)" in out
    assert "p-tsla" not in out  # executing: its move is listed instead


def test_approve_and_dismiss_with_an_operator_token(url: str) -> None:
    code, out = said("approve", "p-aapl", "--url", url, "--note", "drifted", token=ALICE_TOKEN)
    assert (code, out) == (
        0,
        "equities.rebalancing.approve done: proposal p-aapl (mint 20 shares) approved: the "
        "rebalancer executes it",
    )
    code, out = run("approve", "p-aapl", "--url", url, "--token", ALICE_TOKEN)
    assert code == 1
    assert "refused (409): proposal p-aapl (mint 20 shares) is approved by alice" in out
    code, out = run("dismiss", "p-cash", "--url", url, token=ALICE_TOKEN)
    assert code == 0 and "dismissed: it will not be executed" in out
    code, out = run("proposals", "--url", url)
    assert cells(out, "p-aapl")[4] == "approved by alice" and "p-cash" not in out


def test_a_bad_id_a_missing_token_and_a_wrong_one(url: str) -> None:
    code, out = said("approve", "p-nope", "--url", url, token=ALICE_TOKEN)
    assert (code, out) == (1, "refused (404): no rebalancing proposal 'p-nope'")
    code, out = run("approve", "a/b", "--url", url, token=ALICE_TOKEN)
    assert code == 1 and "'a/b' is not a proposal id" in out
    code, out = run("dismiss", "p-aapl", "--url", url)
    assert (
        code == 1 and "need an operator token: pass --token or set $PEGKEEPER_OPERATOR_TOKEN" in out
    )
    code, out = run("dismiss", "p-aapl", "--url", url, token="alice-0123456789abcdeX")
    assert code == 1 and "refused (403): the operator token is not valid; check" in out


def test_the_moves_in_flight_and_all_of_them(url: str) -> None:
    code, out = run("moves", "--url", url)
    assert code == 0, out
    tsla = cells(out, "m-tsla")
    assert tsla[1:5] == ["mint TSLA", "2 shares", "accepted -> tokens_received", "active"]
    assert cells(out, "m-msft")[4:] == ["stuck (redeem_unmatched)", "", "0.07"]
    assert cells(out, "")[3:6] == ["└ requested", "confirmed", "req-tsla-1"]  # m-tsla's first
    assert f"0x{2:064x}" in out  # m-msft's transfer to the redemption wallet
    assert "m-msft stuck in redeem_unmatched: tokens were sent to the redemption wallet" in out
    assert "To do: ask the broker's support with the transfer's hash" in out
    assert "m-aapl-1" not in out
    code, out = run("moves", "--all", "--url", url)
    assert cells(out, "m-aapl-1")[4:] == ["completed", "", "0.62"]
    assert cells(out, "m-aapl-0")[4] == "failed (mint_rejected)"
    assert "m-aapl-0 failed in mint_rejected: the broker rejected the mint request" in out


def test_execution_on_and_off(url: str) -> None:
    code, out = said("execution", "AAPL", "on", "--url", url, token=ALICE_TOKEN)
    assert code == 0 and out.startswith(
        "equities.rebalancing.execution done: execution on for AAPL"
    )
    code, out = said("execution", "all", "off", "--url", url, token=ALICE_TOKEN)
    assert (code, out) == (
        0,
        "equities.rebalancing.execution unchanged: execution was off globally already",
    )
    code, out = run("execution", "NVDA", "on", "--url", url, token=ALICE_TOKEN)
    assert code == 1
    assert (
        "refused (422): asset 'NVDA' is not rebalanced here: expected one of AAPL, TSLA, USD, "
        "or 'all'" in out
    )
    code, out = run("execution", "AAPL", "maybe", "--url", url, token=ALICE_TOKEN)
    assert code == 2 and "'maybe' is not one of" in out
