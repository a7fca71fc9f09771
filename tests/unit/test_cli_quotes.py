"""`pegkeeper price`, `quote` and `accept-quote`: option checks and unreachable servers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pegkeeper.cli import app
from pegkeeper.cli.quotes import Usage, price_rpc

runner = CliRunner()
NOWHERE = "127.0.0.1:9"


@pytest.mark.parametrize(
    ("options", "rpc"),
    [
        ((True, False, 5, None, None), "GetCentsFromSatsForImmediateBuy"),
        ((False, True, None, 5, None), "GetSatsFromCentsForImmediateSell"),
        ((True, False, None, 5, 60), "GetSatsFromCentsForFutureBuy"),
        ((False, True, 5, None, 0), "GetCentsFromSatsForFutureSell"),
    ],
)
def test_the_rpc_follows_the_options(
    options: tuple[bool, bool, int | None, int | None, int | None], rpc: str
) -> None:
    assert price_rpc(*options) == rpc


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["price", "--sats", "5"], "exactly one of --buy or --sell"),
        (["price", "--buy", "--sell", "--sats", "5"], "exactly one of --buy or --sell"),
        (["price", "--buy"], "exactly one of --sats N or --cents N"),
        (
            ["quote", "--sell", "--sats", "1", "--cents", "1"],
            "exactly one of --sats N or --cents N",
        ),
    ],
)
def test_wrong_options_are_named(args: list[str], says: str) -> None:
    result = runner.invoke(app, [*args, "--url", NOWHERE])
    assert result.exit_code == 2 and says in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["price", "--buy", "--sats", "5"],
        ["price", "--mid"],
        ["quote", "--buy", "--cents", "5"],
        ["accept-quote", "0b6c4f1e-8d2a-4c6e-9a51-3f0d2b7c9e10"],
    ],
)
def test_an_unreachable_server_is_unavailable(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--url", f"http://{NOWHERE}"])
    assert result.exit_code == 1 and "UNAVAILABLE" in result.output


def test_usage_is_an_error() -> None:
    with pytest.raises(Usage):
        price_rpc(False, False, 1, None, None)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["price", "--buy", "--cents", "-5"], "--cents -5: expected a whole number of cents"),
        (["price", "--sell", "--sats", "0"], "--sats 0: expected a whole number of satoshis"),
        (
            ["price", "--buy", "--sats", str(2**64)],
            f"--sats {2**64}: expected a whole number of satoshis from 1 to {2**64 - 1}",
        ),
        (["price", "--buy", "--sats", "5", "--future", "-1"], "--future -1: expected"),
        (["quote", "--buy", "--cents", "-5"], "--cents -5: expected a whole number of cents"),
    ],
)
def test_an_amount_the_rpc_cannot_carry_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = runner.invoke(app, [*args, "--url", NOWHERE])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and result.stdout == ""
