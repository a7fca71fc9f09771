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
        ((True, False, 5, None, False), "GetCentsFromSatsForImmediateBuy"),
        ((False, True, None, 5, False), "GetSatsFromCentsForImmediateSell"),
        ((True, False, None, 5, True), "GetSatsFromCentsForFutureBuy"),
        ((False, True, 5, None, True), "GetCentsFromSatsForFutureSell"),
    ],
)
def test_the_rpc_follows_the_options(
    options: tuple[bool, bool, int | None, int | None, bool], rpc: str
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
    assert result.exit_code == 1 and says in result.output


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
        price_rpc(False, False, 1, None, False)
