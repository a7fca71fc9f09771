"""Several venues in one configuration: `[venue]` is the one named "primary", `[venues.<name>]`
the others; each allocation leg names its venue; credentials from the environment only."""

from pathlib import Path

import pytest

from pegkeeper.config import ConfigError, load_settings

TWO_VENUES = """
[venues.binance]
kind = "ccxt"
exchange = "binancecoinm"
leverage = 5

[allocation]
legs = [
  {instrument_id = "BTC-USD-SWAP", weight = "2"},
  {instrument_id = "BTC/USD:BTC", venue = "binance", weight = "1"},
]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pegkeeper.toml"
    path.write_text(text)
    return path


def test_named_venues_take_the_keys_of_venue_and_their_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEGKEEPER_VENUES__BINANCE__API_KEY", "binance-key")
    monkeypatch.setenv("PEGKEEPER_VENUES__BINANCE__SECRET_KEY", "binance-secret")
    settings = load_settings(_write(tmp_path, TWO_VENUES))
    assert list(settings.all_venues()) == ["primary", "binance"]
    binance = settings.venues["binance"]
    assert (binance.kind, binance.exchange, binance.leverage) == ("ccxt", "binancecoinm", 5)
    # Binance asks for no passphrase; OKX (the primary's kind) does, and none is set
    assert binance.has_credentials() and not settings.venue.has_credentials()
    assert binance.api_key.get_secret_value() == "binance-key"
    assert [(leg.instrument_id, leg.venue) for leg in settings.allocation.legs] == [
        ("BTC-USD-SWAP", "primary"),
        ("BTC/USD:BTC", "binance"),
    ]


def test_a_configuration_without_named_venues_is_the_primary_alone(tmp_path: Path) -> None:
    text = '[allocation]\nlegs = [{instrument_id = "BTC-USD-SWAP"}]\n'
    settings = load_settings(_write(tmp_path, text))
    assert settings.venues == {} and list(settings.all_venues()) == ["primary"]
    assert settings.allocation.legs[0].venue == "primary"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TWO_VENUES.replace('venue = "binance"', 'venue = "binanse"'),
            "[allocation] leg 2 (BTC/USD:BTC) names the venue 'binanse', which is not "
            "configured; venues configured: primary ([venue]), binance ([venues.binance])",
        ),
        (
            '[allocation]\nlegs = [{instrument_id = "BTC/USD:BTC", venue = "bybit"}]\n',
            "leg 1 (BTC/USD:BTC) names the venue 'bybit', which is not configured; venues "
            "configured: primary ([venue])",
        ),
        (
            TWO_VENUES + '\n[venues.bybit]\nkind = "ccxt"\nexchange = "bybit"\n',
            '[venues.bybit] carries no hedge: no [allocation] leg names venue = "bybit"',
        ),
        (
            TWO_VENUES.replace("[venues.binance]", "[venues.primary]"),
            "'primary' is the venue of [venue]: name the other venues otherwise",
        ),
        (
            TWO_VENUES.replace("[venues.binance]", "[venues.Binance]"),
            "venue name 'Binance': expected lower-case letters and digits",
        ),
        (
            TWO_VENUES + '\n[venues.binance]\nkind = "sim"\n',
            "is not valid TOML",  # the same name twice
        ),
        (
            TWO_VENUES.replace("leverage = 5", "order_expiry_seconds = 20"),
            "[venues.binance] order_expiry_seconds (20) must be shorter than [cluster] "
            "lease_ttl_seconds (15)",
        ),
        (
            TWO_VENUES.replace("leverage = 5", "kind_of = 1"),
            "venues.binance.kind_of: unknown key",
        ),
    ],
)
def test_venues_that_cannot_be_used_are_refused_naming_what_to_change(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_write(tmp_path, text))
    assert message in str(refused.value)


def test_a_named_venue_s_credentials_in_a_file_are_refused_unshown(tmp_path: Path) -> None:
    text = TWO_VENUES.replace("leverage = 5", 'secret_key = "hunter2-in-a-file"')
    with pytest.raises(ConfigError) as refused:
        load_settings(_write(tmp_path, text))
    message = str(refused.value)
    assert "sets venues.binance.secret_key" in message
    assert "PEGKEEPER_VENUES__BINANCE__SECRET_KEY" in message
    assert "hunter2" not in message


def test_the_two_venue_example_names_each_leg_s_venue() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "venues.toml"
    settings = load_settings(example)
    assert list(settings.all_venues()) == ["primary", "binance"]
    assert settings.venues["binance"].exchange == "binancecoinm"
    assert [
        (leg.instrument_id, leg.venue, str(leg.weight)) for leg in settings.allocation.legs
    ] == [
        ("BTC-USD-SWAP", "primary", "2"),
        ("BTC/USD:BTC", "binance", "1"),
    ]
