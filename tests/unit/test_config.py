"""Settings: file, environment, defaults, and errors that name the bad key."""

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from pegkeeper.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pegkeeper.toml"


def keys_of(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= keys_of(annotation, key + ".")
        else:
            keys.add(key)
    return keys


def keys_in(table: dict[str, object], prefix: str = "") -> set[str]:
    keys = set()
    for name, value in table.items():
        if isinstance(value, dict) and value:  # an empty table is a key: `quotes = {}`
            keys |= keys_in(value, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_the_example_documents_every_key_with_its_default() -> None:
    documented = keys_in(tomllib.loads(EXAMPLE.read_text()))
    assert documented == keys_of(Settings)
    assert load_settings(EXAMPLE).model_dump() == load_settings().model_dump()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[http]\nport = 9000\n")
    monkeypatch.setenv("PEGKEEPER_HTTP__PORT", "9100")
    assert load_settings(path).http.port == 9100
    monkeypatch.delenv("PEGKEEPER_HTTP__PORT")
    assert load_settings(path).http.port == 9000


def test_no_config_is_the_embedded_demo(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.venue.kind == "okx" and not settings.venue.has_credentials()
    assert settings.demo.enabled
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'pegkeeper.db'}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[http]\nport = "abc"\n', "http.port: Input should be a valid integer"),
        ("[http]\nprot = 1\n", "http.prot: unknown key"),
        (
            "[hedger]\ncheck_interval_seconds = -1\n",
            "hedger.check_interval_seconds: Input should be greater than 0",
        ),
        (
            "[hedger.stablesats]\nlow_bound_ratio_shorting = 0.99\n",
            "hedger.stablesats: expected 0 < low_bound_ratio_shorting",
        ),
        ("[http\nport = 1\n", "is not valid TOML"),
        (
            "[funding]\ndeposit_fee_rate_sat_vb = 50\nmax_fee_rate_sat_vb = 20\n",
            "funding: max_fee_rate_sat_vb must be at least deposit_fee_rate_sat_vb",
        ),
        (
            '[allocation]\nlegs = [{instrument_id = "BTC-USD-SWAP"}, '
            '{instrument_id = "BTC-USD-SWAP"}]\n',
            "allocation: each instrument once, got BTC-USD-SWAP more than once",
        ),
        (
            "[funding.stablesats]\nlow_bound_ratio_leverage = 5\n",
            "funding.stablesats: expected 0 < low_bound <= low_safebound",
        ),
    ],
)
def test_errors_name_the_key_and_what_was_expected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_settings(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_credentials_are_refused_in_a_file_and_taken_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[venue]\nkind = "okx"\nsecret_key = "s3cr3t-in-a-file"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "PEGKEEPER_VENUE__SECRET_KEY" in str(refused.value)
    assert "s3cr3t-in-a-file" not in str(refused.value)
    path.write_text('[venue]\nkind = "okx"\n')
    for name, value in [("API_KEY", "k"), ("SECRET_KEY", "s3cr3t"), ("PASSPHRASE", "p")]:
        monkeypatch.setenv(f"PEGKEEPER_VENUE__{name}", value)
    venue = load_settings(path).venue
    assert venue.has_credentials() and venue.secret_key.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(venue) and "s3cr3t" not in str(venue.model_dump())


def test_wallet_credentials_and_the_webhook_url_are_read_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[funding.wallet]\nbitcoind_password = "hunter2"\n'
        '[alerts]\nwebhook_url = "https://hooks.slack.com/services/T/B/token"\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    message = str(refused.value)
    assert "PEGKEEPER_FUNDING__WALLET__BITCOIND_PASSWORD" in message
    assert "PEGKEEPER_ALERTS__WEBHOOK_URL" in message
    assert "hunter2" not in message and "token" not in message
    path.write_text('[funding.wallet]\nkind = "bitcoind"\n')
    monkeypatch.setenv("PEGKEEPER_FUNDING__WALLET__BITCOIND_PASSWORD", "hunter2")
    monkeypatch.setenv("PEGKEEPER_ALERTS__WEBHOOK_URL", "https://example.invalid/hook")
    settings = load_settings(path)
    assert settings.funding.wallet.bitcoind_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings.funding.wallet)
    assert settings.alerts.webhook_url.get_secret_value() == "https://example.invalid/hook"
