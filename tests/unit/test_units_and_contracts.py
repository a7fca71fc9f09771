"""Units, roundings, instruments and inverse-contract margin math, checked by hand."""

from decimal import Decimal

import pytest

from pegkeeper.domain import margin, units
from pegkeeper.domain.instruments import (
    BTC_USD_SWAP,
    BTC_USDT_SWAP,
    ContractType,
    Instrument,
    InstrumentKind,
)

D = Decimal


def test_roundings_say_which_way() -> None:
    assert units.floor_int(D("-1.5")) == -2 and units.ceil_int(D("-1.5")) == -1
    assert units.round_half_even_int(D("2.5")) == 2 and units.round_half_even_int(D("3.5")) == 4
    assert units.round_half_up_int(D("2.5")) == 3
    assert units.round_btc(D("0.000000015")) == D("0.00000002")  # half to even: 1.5 -> 2 sats
    assert units.round_btc(D("0.000000025")) == D("0.00000002")  # 2.5 -> 2 sats
    assert units.floor_btc(D("0.000000019")) == D("0.00000001")
    assert units.ceil_btc(D("0.000000011")) == D("0.00000002")


def test_conversions_are_exact_or_refused() -> None:
    assert units.btc_to_sats(D("1.23456789")) == 123_456_789
    with pytest.raises(ValueError, match="not a whole number of sats"):
        units.btc_to_sats(D("0.000000001"))
    assert units.sats_to_btc(1) == D("0.00000001")
    assert units.cents_to_usd(12345) == D("123.45")
    assert units.usd_to_cents_round_half_even(D("0.125")) == 12  # 12.5 cents -> 12
    assert units.to_decimal("7938.39") == D("7938.39")
    with pytest.raises(TypeError, match="floats"):
        units.to_decimal(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        units.to_decimal("NaN")


def test_inverse_and_linear_exposure() -> None:
    # inverse: 98 contracts of 100 USD short = -9 800 USD whatever the price
    assert BTC_USD_SWAP.exposure_cents(D(-98), D(5000)) == -980_000
    assert BTC_USD_SWAP.contract_value_cents(D(5000)) == 10_000
    # linear: 0.01 BTC a contract; 150 contracts long at 40 000 USD = 1.5 BTC = 60 000 USD
    assert BTC_USDT_SWAP.exposure_cents(D(150), D(40_000)) == 6_000_000
    assert BTC_USDT_SWAP.contract_value_cents(D(40_000)) == 40_000
    assert BTC_USD_SWAP.has_funding


def test_instrument_validation() -> None:
    with pytest.raises(ValueError, match="contract_value"):
        Instrument("X", InstrumentKind.SWAP, ContractType.INVERSE, D(0), "BTC")
    with pytest.raises(ValueError, match="expiry"):
        Instrument("X", InstrumentKind.FUTURE, ContractType.INVERSE, D(100), "BTC")
    future = Instrument(
        "BTC-USD-200327", InstrumentKind.FUTURE, ContractType.INVERSE, D(100), "BTC", expiry_ms=1
    )
    assert not future.has_funding


def test_inverse_pnl_and_liquidation_by_hand() -> None:
    # short 100 contracts (10 000 USD) opened at 10 000; mark 8 000:
    # pnl = -100 * 100 * (1/10 000 - 1/8 000) = -10 000 * (-0.000025) = 0.25 BTC
    assert margin.inverse_unrealised_pnl_btc(D(-100), D(100), D(10_000), D(8_000)) == D("0.25")
    assert margin.inverse_unrealised_pnl_btc(D(0), D(100), D(10_000), D(8_000)) == 0
    # liquidation of that short with 0.5 BTC and MMR 0.5 %:
    # 10 000 * 0.995 * 10 000 / (10 000 - 10 000 * 0.5) = 19 900
    short = margin.inverse_liquidation_price_usd(D(-100), D(100), D(10_000), D("0.5"), D("0.005"))
    assert short == D(19_900)
    # a short backed by more BTC than its notional is never liquidated
    assert (
        margin.inverse_liquidation_price_usd(D(-100), D(100), D(10_000), D(1), D("0.005")) is None
    )
    # long 100 at 10 000 with 0.5 BTC: 10 000 * 1.005 * 10 000 / (5 000 + 10 000) = 6 700
    long = margin.inverse_liquidation_price_usd(D(100), D(100), D(10_000), D("0.5"), D("0.005"))
    assert long == D(6_700)
    assert margin.inverse_liquidation_price_usd(D(0), D(100), D(1), D(1), D(0)) is None


def test_leverage_and_distance() -> None:
    notional = margin.inverse_notional_btc(D(-100), D(100), D(8_000))
    assert notional == D("1.25")
    assert margin.leverage(notional, D("0.5")) == D("2.5")
    assert margin.leverage(notional, D(0)) is None
    assert margin.liquidation_distance_pct(D(10_000), D(12_000)) == D(20)
    assert margin.liquidation_distance_pct(D(10_000), None) is None


def test_client_ids_and_order_intents_are_validated() -> None:
    from pegkeeper.domain.errors import InvalidInput
    from pegkeeper.domain.orders import OrderIntent, OrderKind, OrderSide, validate_client_id

    assert validate_client_id("pk" + "a" * 30) == "pk" + "a" * 30
    for bad in ("", "a" * 33, "pk-1", "pk 1"):
        with pytest.raises(InvalidInput, match="1 to 32 letters or digits"):
            validate_client_id(bad)
    with pytest.raises(InvalidInput, match="needs a side and a positive size"):
        OrderIntent("pk1", "BTC-USD-SWAP", OrderKind.MARKET, OrderSide.SELL, D(0), "d", "c", 0)
    close = OrderIntent("pk2", "BTC-USD-SWAP", OrderKind.CLOSE_POSITION, None, D(0), "d", "c", 0)
    assert close.side is None
