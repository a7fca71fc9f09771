"""`[equities.rebalancing]`: what it refuses (each error names the key and what is expected),
the signing key from the environment only and never shown, and the policies it gives the
rebalancer."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.bootstrap.rebalancing import SignerMismatch, build_rebalancer, rebalancer_settings
from pegkeeper.config import ConfigError, load_settings
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.moves import MoveStep

# anvil's first well-known test key, and its address
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
KEY_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
AAPL = "0x" + "a1" * 20
WRAPPED = "0x" + "b2" * 20
USDC = "0x" + "c3" * 20

BASE = f"""
[equities]
enabled = true
broker = "alpaca-broker"
rpc_url = "http://127.0.0.1:8545"
orderbook = "0x{"d4" * 20}"
order_owner = "{KEY_ADDRESS}"
usdc = "{USDC}"
[equities.alpaca]
account_id = "acct-1"
[[equities.assets]]
symbol = "AAPL"
tokens = ["{AAPL}"]
wrapped_tokens = ["{WRAPPED}"]
[equities.rebalancing]
enabled = true
redemption_wallet = "0x{"e5" * 20}"
vault_ids = {{ AAPL = 7, USD = 9 }}
gas_token_price_usd = "3000"
"""


def _load(tmp_path: Path, extra: str = "", base: str = BASE) -> object:
    path = tmp_path / "pegkeeper.toml"
    path.write_text(base + extra)
    return load_settings(path)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY", KEY)


def test_policies_from_the_bands_and_the_limits(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "bands = { USD = { target = 0.7, deviation = 0.1 } }\n"
        "max_shares_per_move = 25\nstep_timeouts_seconds = { wrapped = 90 }\n",
    )
    made = rebalancer_settings(settings.equities)  # type: ignore[attr-defined]
    assert made.policies["AAPL"].band.target == Decimal("0.5")  # the production stock band
    assert made.policies["AAPL"].band.deviation == Decimal("0.05")
    assert made.policies["AAPL"].max_per_move == Decimal(25)
    assert made.policies[CASH_ASSET].band.target == Decimal("0.7")
    assert made.policies[CASH_ASSET].max_per_move == Decimal(50_000)
    assert made.wrapped == {"AAPL": True}
    assert made.timeouts.by_step_ms == {MoveStep.WRAPPED: 90_000}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("alpaca-broker", "alpaca-trading"), 'needs broker = "alpaca-broker"'),
        (("AAPL = 7, ", ""), "vault_ids names no vault for AAPL"),
        (("USD = 9", "X = 9"), "vault_ids.USD"),
        (('tokens = ["' + AAPL + '"]\n', ""), "name it in tokens for AAPL"),
    ],
)
def test_an_incomplete_setup_is_refused_by_name(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, base=BASE.replace(*change))
    assert named in str(refused.value)


def test_a_step_timeout_must_name_a_step(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, "step_timeouts_seconds = { wraped = 90 }\n")
    assert "step_timeouts_seconds names wraped" in str(refused.value)


def test_a_band_must_stay_inside_0_and_1(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, "stock_band = { target = 0.9, deviation = 0.2 }\n")
    assert "leaves 0..1" in str(refused.value)


def test_the_signing_key_comes_from_the_environment_only_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, f'signer_key = "{KEY}"\n')
    assert "PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY" in str(refused.value)
    assert KEY[2:] not in str(refused.value)
    monkeypatch.setenv("PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY", "0x1234")
    with pytest.raises(ConfigError) as malformed:
        _load(tmp_path)
    assert "0x and 64 hexadecimal digits" in str(malformed.value)
    assert "1234" not in str(malformed.value)


async def test_a_key_that_is_not_the_makers_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _load(tmp_path, base=BASE.replace(KEY_ADDRESS, "0x" + "f6" * 20))
    with pytest.raises(SignerMismatch) as refused:
        build_rebalancer(settings.equities, None, None)  # type: ignore[arg-type, attr-defined]
    assert KEY_ADDRESS in str(refused.value)
    assert KEY[2:] not in str(refused.value)
