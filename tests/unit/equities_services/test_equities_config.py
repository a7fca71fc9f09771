"""The [equities] section: off by default, refused at start with the key named."""

from decimal import Decimal
from pathlib import Path

import pytest

from pegkeeper.config import ConfigError, load_settings
from pegkeeper.domain.equities.broker import BrokerKind

AAPL = "0x" + "11" * 20
WAAPL = "0x" + "12" * 20
MSFT = "0x" + "21" * 20
USDC = "0x" + "cc" * 20
OWNER = "0x" + "aa" * 20
BOOK = "0x" + "bb" * 20

GOOD = f"""
[equities]
enabled = true
rpc_url = "http://127.0.0.1:8545"
orderbook = "{BOOK}"
order_owner = "{OWNER}"
usdc = "{USDC.upper().replace("0X", "0x")}"
cutoff = 12
[[equities.assets]]
symbol = "AAPL"
tokens = ["{AAPL}"]
wrapped_tokens = ["{WAAPL}"]
[[equities.assets]]
symbol = "MSFT"
tokens = ["{MSFT}"]
[equities.dry_run]
kind = "whole_shares"
quotes = {{ AAPL = "190.5" }}
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pegkeeper.toml"
    path.write_text(text)
    return load_settings(path, data_dir=tmp_path)


def test_equities_are_off_by_default(tmp_path: Path) -> None:
    equities = load_settings(data_dir=tmp_path).equities
    assert not equities.enabled and equities.broker == "dry-run"
    assert equities.cutoff == "finalized" and equities.min_notional_usd == Decimal(2)


def test_a_good_section_gives_the_domain_universe(tmp_path: Path) -> None:
    equities = load(tmp_path, GOOD).equities
    universe = equities.universe()
    assert universe.usdc == USDC and universe.symbols == ("AAPL", "MSFT")
    role = universe.role(WAAPL.upper().replace("0X", "0x"))
    assert role is not None and (role.symbol, role.wrapped) == ("AAPL", True)
    assert equities.cutoff == 12
    assert equities.dry_run.broker_kind is BrokerKind.WHOLE_SHARES
    assert equities.dry_run.quotes == {"AAPL": Decimal("190.5")}


def test_the_rpc_url_comes_from_the_environment_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEGKEEPER_EQUITIES__RPC_URL", "https://node.example/v2/KEY123")
    equities = load(tmp_path, GOOD).equities
    assert equities.rpc_url.get_secret_value() == "https://node.example/v2/KEY123"
    assert "KEY123" not in repr(equities)
    monkeypatch.setenv("PEGKEEPER_EQUITIES__RPC_URL", "ftp://KEY123")
    with pytest.raises(ConfigError) as error:
        load(tmp_path, GOOD)
    assert "rpc_url: expected an http(s):// or ws(s):// URL" in str(error.value)
    assert "KEY123" not in str(error.value)


def test_broker_keys_come_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEGKEEPER_EQUITIES__ALPACA__KEY_ID", "PKID123")
    monkeypatch.setenv("PEGKEEPER_EQUITIES__SCHWAB__APP_SECRET", "SECRET456")
    equities = load(tmp_path, GOOD).equities
    assert equities.alpaca.key_id.get_secret_value() == "PKID123"
    assert equities.schwab.app_secret.get_secret_value() == "SECRET456"
    assert "PKID123" not in repr(equities) and "SECRET456" not in repr(equities)
    written = GOOD + '\n[equities.alpaca]\nsecret_key = "FILESECRET"\n'
    with pytest.raises(ConfigError) as error:
        load(tmp_path, written)
    assert "sets equities.alpaca.secret_key: credentials are never read from a file" in str(
        error.value
    )
    assert "PEGKEEPER_EQUITIES__ALPACA__SECRET_KEY" in str(error.value)
    assert "FILESECRET" not in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace('symbol = "MSFT"', 'symbol = "AAPL"'),
            "equities: assets[1].symbol: AAPL is named twice (also assets[0].symbol)",
        ),
        (
            lambda t: t.replace(f'tokens = ["{MSFT}"]', f'tokens = ["{AAPL}"]'),
            f"equities: assets[1].tokens[0]: {AAPL} is used twice (also assets[0].tokens[0])",
        ),
        (
            lambda t: t.replace(f'tokens = ["{MSFT}"]', f'tokens = ["{USDC}"]'),
            f"equities: assets[1].tokens[0]: {USDC} is used twice (also usdc)",
        ),
        (
            lambda t: t.replace('usdc = "', 'nothing = "').replace("nothing", "# usdc"),
            "equities: enabled = true needs usdc (the USDC token's address)",
        ),
        (
            lambda t: t.replace(f'tokens = ["{MSFT}"]', 'tokens = ["0x1234"]'),
            "equities.assets.1.tokens.0: expected an address: 0x and 40 hexadecimal digits",
        ),
        (
            lambda t: t.replace("enabled = true", 'enabled = true\nbroker = "alpaca-broker"'),
            'broker = "alpaca-broker" needs alpaca.account_id: the managed account to hedge in',
        ),
        (
            lambda t: t.replace("enabled = true", 'enabled = true\nextended_hours = ["TSLA"]'),
            "extended_hours names TSLA: not among the assets ([[equities.assets]] symbol)",
        ),
        (
            lambda t: t.replace('symbol = "MSFT"', 'symbol = "msft"'),
            "equities.assets.1.symbol: expected the broker's ticker",
        ),
        (
            lambda t: t.replace("cutoff = 12", "cutoff = 200"),
            "keep_block_hashes (128) must be at least the cutoff's depth (200)",
        ),
    ],
)
def test_a_bad_section_is_refused_with_the_key_named(
    tmp_path: Path,
    change,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, change(GOOD))
    assert message in str(error.value)
