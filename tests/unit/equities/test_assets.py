"""The configured universe of hedged assets: addresses lower-cased, roles by address only,
and a bad configuration refused with the key named."""

import pytest

from pegkeeper.domain.equities.assets import EquityAsset, EquityUniverse, TokenRole
from pegkeeper.domain.errors import InvalidInput

from .builders import OWNER, T_AAPL, T_MSFT, USDC, WT_AAPL, universe, upper


def test_addresses_are_lower_cased_and_roles_found_in_any_case() -> None:
    mixed = "0x" + "A1" * 20
    u = EquityUniverse.of(
        upper(OWNER),
        upper(USDC),
        (EquityAsset("AAPL", (mixed,), (upper(WT_AAPL),)),),
    )
    assert u.order_owner == OWNER and u.usdc == USDC
    assert u.assets == (EquityAsset("AAPL", (T_AAPL,), (WT_AAPL,)),)
    assert u.role(mixed) == TokenRole("AAPL", wrapped=False)
    assert u.role(T_AAPL) == TokenRole("AAPL", wrapped=False)
    assert u.role(upper(WT_AAPL)) == TokenRole("AAPL", wrapped=True)
    assert u.symbols == ("AAPL",)


def test_usdc_and_unknown_addresses_have_no_stock_role() -> None:
    u = universe()
    assert u.role(USDC) is None
    assert u.is_usdc(upper(USDC))
    assert u.role("0x" + "99" * 20) is None
    assert u.role(T_MSFT) == TokenRole("MSFT", wrapped=False)


def test_universes_with_the_same_configuration_are_equal() -> None:
    assert universe() == universe()
    assert hash(universe()) == hash(universe())


@pytest.mark.parametrize(
    ("assets", "words"),
    [
        ((EquityAsset("AAPL", (T_AAPL,)), EquityAsset("AAPL", (T_MSFT,))), ["AAPL", "twice"]),
        ((EquityAsset("AAPL", (T_AAPL, T_AAPL)),), [T_AAPL, "AAPL token"]),
        ((EquityAsset("AAPL", (T_AAPL,)), EquityAsset("MSFT", (T_AAPL,))), [T_AAPL, "MSFT"]),
        ((EquityAsset("AAPL", (T_AAPL,), (T_AAPL,)),), [T_AAPL, "wrapped token"]),
        ((EquityAsset("AAPL", (USDC,)),), [USDC, "USDC"]),
        ((EquityAsset("AAPL", ("0x1234",)),), ["AAPL token", "0x1234", "40 hexadecimal"]),
        ((EquityAsset("AAPL", ()),), ["AAPL", "at least one token"]),
        ((EquityAsset("", (T_AAPL,)),), ["''", "ticker"]),
        ((EquityAsset("aapl", (T_AAPL,)),), ["'aapl'", "upper-case"]),
    ],
)
def test_a_bad_asset_is_refused_naming_it(
    assets: tuple[EquityAsset, ...], words: list[str]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        EquityUniverse.of(OWNER, USDC, assets)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    ("owner", "usdc", "key"),
    [("", USDC, "order owner"), (OWNER, "0xnot", "USDC"), (OWNER, USDC[:-1], "USDC")],
)
def test_bad_owner_or_usdc_address_is_refused(owner: str, usdc: str, key: str) -> None:
    with pytest.raises(InvalidInput, match=key):
        EquityUniverse.of(owner, usdc, (EquityAsset("AAPL", (T_AAPL,)),))


def test_a_wrapper_only_asset_and_tickers_with_a_class_are_accepted() -> None:
    u = EquityUniverse.of(OWNER, USDC, (EquityAsset("BRK.B", (), (WT_AAPL,)),))
    assert u.role(WT_AAPL) == TokenRole("BRK.B", wrapped=True)
