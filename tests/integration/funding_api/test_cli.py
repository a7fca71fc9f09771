"""`pegkeeper funding` and `pegkeeper funding settle ID --not-sent | --sent TX_ID` against a
served app over the records of tests/funding_web_support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from pegkeeper.cli import app
from tests.funding_web_support import HELD, ShownWallet, funding_served
from tests.web_support import ALICE_TOKEN

runner = CliRunner()
WIDE = {"COLUMNS": "260", "PEGKEEPER_OPERATOR_TOKEN": ""}  # no cell wraps; no token
TX = "9f" * 32


@pytest.fixture
def wallet() -> ShownWallet:
    return ShownWallet()


@pytest.fixture
def url(wallet: ShownWallet) -> Iterator[str]:
    with funding_served(wallet) as served:
        yield served


def run(*args: str, token: str = "") -> tuple[int, str]:
    env = WIDE | ({"PEGKEEPER_OPERATOR_TOKEN": token} if token else {})
    result = runner.invoke(app, ["funding", *args], env=env)
    return result.exit_code, result.output


def said(*args: str, token: str = ALICE_TOKEN) -> tuple[int, str]:
    """The exit code and the command's last line (the served app, in this process, logs its
    operator actions to the same output before)."""
    code, out = run(*args, token=token)
    return code, out.strip().splitlines()[-1]


def test_the_funding_view_says_what_to_do_about_a_held_deposit(url: str) -> None:
    code, out = run("--url", url)
    assert code == 0, out
    assert (
        "deposit pfheld1 is held: to do: check the wallet for a payment labelled pfheld1, then "
        "`pegkeeper funding settle pfheld1 --not-sent` if there is none, or `pegkeeper funding "
        "settle pfheld1 --sent TXID` with its transaction id"
    ) in " ".join(out.split())


def test_settle_not_sent_with_a_note(url: str) -> None:
    code, out = said("settle", HELD, "--not-sent", "--note", "node never got it", "--url", url)
    assert (code, out) == (
        0,
        "funding.deposit.settle done: deposit pfheld1 of 0.50000417 BTC failed, never sent: "
        "deposits resume",
    )
    code, out = run("--url", url, "--json")
    assert code == 0 and '"message": "not sent, settled by alice: node never got it"' in out
    code, out = said("settle", HELD, "--not-sent", "--url", url)
    assert (code, out) == (
        1,
        "refused (409): deposit pfheld1 is failed: only a held deposit can be settled",
    )


def test_settle_sent_with_the_transaction(url: str) -> None:
    code, out = said("settle", HELD, "--sent", TX, "--url", url, "--token", ALICE_TOKEN)
    assert (code, out) == (
        0,
        f"funding.deposit.settle done: deposit pfheld1 of 0.50000417 BTC is pending with "
        f"transaction {TX}: followed until the exchange credits it",
    )


def test_not_sent_is_refused_while_the_wallet_shows_the_send(url: str, wallet: ShownWallet) -> None:
    wallet.show(HELD, TX)
    code, out = said("settle", HELD, "--not-sent", "--url", url)
    assert (code, out) == (
        1,
        f"refused (409): the wallet shows deposit pfheld1 sent in transaction {TX}: it is not "
        "failed; the funding manager follows that payment",
    )


@pytest.mark.parametrize(
    ("args", "token", "code", "says"),
    [
        (
            [HELD, "--not-sent"],
            "",
            1,
            "operator actions need an operator token: pass --token or set "
            "$PEGKEEPER_OPERATOR_TOKEN",
        ),
        ([HELD, "--not-sent"], "alice-0123456789abcdeX", 1, "check the operator token"),
        ([HELD], ALICE_TOKEN, 2, "say what became of the deposit: --not-sent, or --sent TX_ID"),
        ([HELD, "--not-sent", "--sent", TX], ALICE_TOKEN, 2, "(one of the two)"),
        (
            [HELD, "--sent", "abc"],
            ALICE_TOKEN,
            1,
            'refused (400): outcome "sent" needs tx_id, the transaction that paid the deposit: '
            "64 hexadecimal characters, got 'abc'",
        ),
        (["pf/x", "--not-sent"], ALICE_TOKEN, 1, "'pf/x' is not an operation id"),
        (["pfnope", "--not-sent"], ALICE_TOKEN, 1, "refused (404): no funding operation 'pfnope'"),
    ],
)
def test_refusals_say_why(url: str, args: list[str], token: str, code: int, says: str) -> None:
    got, out = run("settle", *args, "--url", url, token=token)
    assert got == code and says in " ".join(out.split()), out
