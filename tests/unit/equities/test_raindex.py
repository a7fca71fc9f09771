"""Reading a Raindex fill (specs/equities.md, "Reading a fill"): Float words, the maker's side,
the taker's-perspective trap, amounts and their roundings, direction, wrapped tokens, and a
skip with its reason for every log that is not a hedgeable fill."""

from decimal import Decimal

import pytest

from pegkeeper.domain.equities.chain import (
    ClearEvent,
    Generation,
    Io,
    OnchainFill,
    OnchainSide,
    RaindexOrder,
    SkippedLog,
    SkipReason,
    TakeOrderEvent,
    TokenInfo,
)
from pegkeeper.domain.equities.raindex import (
    MakerTrade,
    classify,
    decode_float,
    floor_to,
    maker_trade,
    truncate_to,
)
from pegkeeper.domain.errors import InvalidInput

from .builders import OTHER, OWNER, SPOOF, T_AAPL, T_MSFT, USDC, WT_AAPL, ref, universe, upper

D = Decimal
E18 = 10**18
TWO = 0xFFFFFFEE00000000000000000000000000000000000000001BC16D674EC80000
PRICE_WORD = 0xFFFFFFE500000000000000000000000000000002057D2CD516A29B6174400000
TOKENS = {
    T_AAPL: TokenInfo(T_AAPL, 18, "tAAPL"),
    WT_AAPL: TokenInfo(WT_AAPL, 18, "wtAAPL"),
    T_MSFT: TokenInfo(T_MSFT, 18, "tMSFT"),
    USDC: TokenInfo(USDC, 6, "USDC"),
}


def word(coefficient: int, exponent: int) -> int:
    """A Float word built by hand: exponent in the high 32 bits, coefficient in the low 224,
    both two's complement."""
    return ((exponent & 0xFFFFFFFF) << 224) | (coefficient & ((1 << 224) - 1))


def v4_io(token: str, decimals: int) -> Io:
    return Io(token, decimals)


def v5_io(token: str) -> Io:
    return Io(token, None)


def order(owner: str, inputs: tuple[Io, ...], outputs: tuple[Io, ...]) -> RaindexOrder:
    return RaindexOrder(owner, inputs, outputs)


def take(
    o: RaindexOrder,
    taker_input: int,
    taker_output: int,
    generation: Generation = Generation.V4,
    input_io_index: int = 0,
    output_io_index: int = 0,
) -> TakeOrderEvent:
    return TakeOrderEvent(
        ref(200, 3),
        generation,
        o,
        input_io_index,
        output_io_index,
        taker_input=taker_input,
        taker_output=taker_output,
    )


def clear(
    alice: RaindexOrder,
    bob: RaindexOrder,
    amounts: tuple[int, int, int, int],
    generation: Generation = Generation.V4,
) -> ClearEvent:
    """`amounts` = (alice input, alice output, bob input, bob output)."""
    return ClearEvent(
        ref(300, 7),
        generation,
        alice,
        bob,
        0,
        0,
        0,
        0,
        alice_input=amounts[0],
        alice_output=amounts[1],
        bob_input=amounts[2],
        bob_output=amounts[3],
    )


def fill(
    event: TakeOrderEvent | ClearEvent, ratios: dict[str, Decimal] | None = None
) -> OnchainFill:
    result = classify(event, universe(), TOKENS, ratios or {})
    assert isinstance(result, OnchainFill), result
    return result


def skipped(
    event: TakeOrderEvent | ClearEvent,
    tokens: dict[str, TokenInfo] | None = None,
    ratios: dict[str, Decimal] | None = None,
) -> SkippedLog:
    result = classify(event, universe(), TOKENS if tokens is None else tokens, ratios or {})
    assert isinstance(result, SkippedLog), result
    assert result.ref == event.ref
    return result


SELLS_AAPL_V4 = order(OWNER, (v4_io(USDC, 6),), (v4_io(T_AAPL, 18),))
BUYS_AAPL_V4 = order(OWNER, (v4_io(T_AAPL, 18),), (v4_io(USDC, 6),))
SELLS_AAPL_V5 = order(OWNER, (v5_io(USDC),), (v5_io(T_AAPL),))


# Float words


def test_the_production_float_words_of_the_spec() -> None:
    assert decode_float(TWO) == D(2)
    assert decode_float(PRICE_WORD) == D("160.15507752")


@pytest.mark.parametrize(
    ("coefficient", "exponent", "value"),
    [
        (-12345, -2, "-123.45"),
        (5, 3, "5000"),
        (-1, 0, "-1"),
        (0, -18, "0"),
        (7, -30, "0.000000000000000000000000000007"),
        ((1 << 223) - 1, 0, str((1 << 223) - 1)),
        (-(1 << 223), 0, str(-(1 << 223))),
        (1, -(1 << 31), "1E-2147483648"),
    ],
)
def test_signed_exponents_and_coefficients_decode_exactly(
    coefficient: int, exponent: int, value: str
) -> None:
    assert decode_float(word(coefficient, exponent)) == D(value)


@pytest.mark.parametrize("bad", [-1, 1 << 256])
def test_a_word_outside_256_bits_is_refused(bad: int) -> None:
    with pytest.raises(InvalidInput, match="256-bit"):
        decode_float(bad)


# roundings


@pytest.mark.parametrize(
    ("amount", "decimals", "truncated", "floored"),
    [
        ("1.999", 2, "1.99", "1.99"),
        ("-1.991", 2, "-1.99", "-2.00"),
        ("0.1234567899", 9, "0.123456789", "0.123456789"),
        ("160.15507752", 6, "160.155077", "160.155077"),
        ("7.5000000000000000000000000375", 18, "7.5", "7.5"),
        (
            "123456789012345678901234567890.1234567890123456789",
            18,
            "123456789012345678901234567890.123456789012345678",
            "123456789012345678901234567890.123456789012345678",
        ),
    ],
)
def test_truncation_never_rounds_up_and_floor_goes_down(
    amount: str, decimals: int, truncated: str, floored: str
) -> None:
    assert truncate_to(D(amount), decimals) == D(truncated)
    assert floor_to(D(amount), decimals) == D(floored)


def test_bad_precision_or_amount_is_refused() -> None:
    with pytest.raises(InvalidInput, match="decimals"):
        truncate_to(D(1), -1)
    with pytest.raises(InvalidInput, match="finite"):
        truncate_to(D("NaN"), 6)
    with pytest.raises(InvalidInput, match="too many digits"):
        truncate_to(D("1E+500"), 18)


# the maker's side


def test_take_order_amounts_are_turned_from_the_takers_side_to_the_orders() -> None:
    # The taker received 1.5 tAAPL (the order's output) and gave 300.123456 USDC (its input).
    event = take(SELLS_AAPL_V4, taker_input=15 * E18 // 10, taker_output=300_123456)
    assert maker_trade(event, OWNER) == MakerTrade(
        Generation.V4, USDC, 300_123456, 6, T_AAPL, 15 * E18 // 10, 18
    )


def test_the_owner_is_matched_in_any_case() -> None:
    event = take(order(upper(OWNER), (v4_io(USDC, 6),), (v4_io(T_AAPL, 18),)), 1, 2)
    assert maker_trade(event, upper(OWNER)) is not None
    assert maker_trade(event, OWNER) is not None
    assert maker_trade(event, OTHER) is None


def test_clear_takes_the_owners_side_and_alice_when_both_are() -> None:
    ours = order(OWNER, (v4_io(USDC, 6),), (v4_io(T_AAPL, 18),))
    theirs = order(OTHER, (v4_io(T_AAPL, 18),), (v4_io(USDC, 6),))
    amounts = (100_000000, E18 // 2, 2 * E18, 99_000000)
    as_alice = maker_trade(clear(ours, theirs, amounts), OWNER)
    assert as_alice == MakerTrade(Generation.V4, USDC, 100_000000, 6, T_AAPL, E18 // 2, 18)
    as_bob = maker_trade(clear(theirs, ours, amounts), OWNER)
    assert as_bob == MakerTrade(Generation.V4, USDC, 2 * E18, 6, T_AAPL, 99_000000, 18)
    both = order(OWNER, (v4_io(T_MSFT, 18),), (v4_io(USDC, 6),))
    assert maker_trade(clear(ours, both, amounts), OWNER) == as_alice
    assert maker_trade(clear(theirs, theirs, amounts), OWNER) is None


def test_an_io_index_outside_the_order_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="input IO index 2 is outside the order's 1 inputs"):
        maker_trade(take(SELLS_AAPL_V4, 1, 1, input_io_index=2), OWNER)


# hedgeable fills


def test_v4_maker_sold_stock_for_usdc() -> None:
    f = fill(take(SELLS_AAPL_V4, taker_input=15 * E18 // 10, taker_output=300_123456))
    assert (f.symbol, f.side, f.shares, f.usdc) == (
        "AAPL",
        OnchainSide.SOLD,
        D("1.5"),
        D("300.123456"),
    )
    assert f.signed_shares == D("-1.5")
    assert f.price_usd == D("200.082304")  # 300.123456 / 1.5
    assert (f.token, f.shares_per_token, f.generation) == (T_AAPL, D(1), Generation.V4)
    assert f.ref == ref(200, 3)


def test_v4_maker_bought_stock_for_usdc() -> None:
    f = fill(take(BUYS_AAPL_V4, taker_input=199_990000, taker_output=E18))
    assert (f.side, f.shares, f.usdc, f.signed_shares) == (
        OnchainSide.BOUGHT,
        D(1),
        D("199.99"),
        D(1),
    )


def test_v4_scales_by_the_ios_decimals_without_token_info() -> None:
    six_dp_stock = order(OWNER, (v4_io(USDC, 6),), (v4_io(T_MSFT, 6),))
    result = classify(take(six_dp_stock, 2_500000, 500_000000), universe(), {}, {})
    assert isinstance(result, OnchainFill)
    assert (result.symbol, result.shares, result.usdc) == ("MSFT", D("2.5"), D(500))


def test_v5_floats_are_not_scaled_and_usdc_is_floored_to_6_dp() -> None:
    # The maker gave 2.0 tAAPL and received 160.15507752 USDC (taker_output).
    f = fill(
        take(SELLS_AAPL_V5, taker_input=TWO, taker_output=PRICE_WORD, generation=Generation.V5)
    )
    assert (f.side, f.shares, f.usdc) == (OnchainSide.SOLD, D(2), D("160.155077"))
    assert f.price_usd == D("80.0775385")


def test_v5_stock_amounts_are_truncated_to_the_tokens_decimals() -> None:
    nineteen_dp = word(11234567890123456789, -19)  # 1.1234567890123456789
    event = take(SELLS_AAPL_V5, nineteen_dp, word(5, 0), generation=Generation.V5)
    assert fill(event).shares == D("1.123456789012345678")
    six_dp_token = {**TOKENS, T_AAPL: TokenInfo(T_AAPL, 6, "tAAPL")}
    result = classify(event, universe(), six_dp_token, {})
    assert isinstance(result, OnchainFill) and result.shares == D("1.123456")


def test_v5_clear_where_bob_is_the_owner() -> None:
    theirs = order(OTHER, (v5_io(T_AAPL),), (v5_io(USDC),))
    ours = order(OWNER, (v5_io(T_AAPL),), (v5_io(USDC),))
    # bob (ours) received 3 tAAPL and gave 450.5 USDC: the maker bought
    amounts = (word(4505, -1), word(3, 0), word(3, 0), word(4505, -1))
    f = fill(clear(theirs, ours, amounts, Generation.V5))
    assert (f.side, f.shares, f.usdc, f.price_usd) == (
        OnchainSide.BOUGHT,
        D(3),
        D("450.5"),
        D("150.1666666666666666666666667"),
    )


def test_wrapped_amounts_become_underlying_shares_priced_per_share() -> None:
    sells_wrapped = order(OWNER, (v5_io(USDC),), (v5_io(WT_AAPL),))
    event = take(sells_wrapped, word(2, 0), word(420, 0), generation=Generation.V5)
    f = fill(event, {WT_AAPL: D("1.05")})
    assert (f.shares, f.usdc, f.price_usd) == (D("2.1"), D(420), D(200))
    assert (f.token, f.shares_per_token) == (WT_AAPL, D("1.05"))
    after_split = fill(event, {upper(WT_AAPL): D("2.1")})  # 2:1 split on top of 1.05
    assert (after_split.shares, after_split.price_usd) == (D("4.2"), D(100))


def test_wrapped_shares_are_truncated_to_18_dp() -> None:
    sells_wrapped = order(OWNER, (v5_io(USDC),), (v5_io(WT_AAPL),))
    event = take(sells_wrapped, word(1, 0), word(100, 0), generation=Generation.V5)
    f = fill(event, {WT_AAPL: D("1.0000000000000000019")})
    assert f.shares == D("1.000000000000000001")


# skipped logs


def test_not_our_order() -> None:
    s = skipped(take(order(OTHER, (v4_io(USDC, 6),), (v4_io(T_AAPL, 18),)), E18, 100))
    assert s.reason is SkipReason.NOT_OUR_ORDER and OWNER in s.detail


def test_a_spoofed_token_that_calls_itself_wtaapl_is_unknown() -> None:
    spoofed = {**TOKENS, SPOOF: TokenInfo(SPOOF, 18, "wtAAPL")}
    event = take(
        order(OWNER, (v5_io(USDC),), (v5_io(SPOOF),)), word(1, 0), word(100, 0), Generation.V5
    )
    s = skipped(event, spoofed)
    assert s.reason is SkipReason.UNKNOWN_TOKEN
    assert s.detail == f"no configured asset or USDC is {SPOOF} (wtAAPL)"


def test_an_unknown_quote_token_is_unknown() -> None:
    s = skipped(take(order(OWNER, (v4_io(SPOOF, 6),), (v4_io(T_AAPL, 18),)), E18, 100))
    assert s.reason is SkipReason.UNKNOWN_TOKEN and SPOOF in s.detail


@pytest.mark.parametrize(
    ("received", "gave"),
    [(T_AAPL, WT_AAPL), (WT_AAPL, T_AAPL), (T_AAPL, T_MSFT), (USDC, USDC)],
)
def test_pairs_that_are_not_stock_against_usdc(received: str, gave: str) -> None:
    event = take(order(OWNER, (v4_io(received, 18),), (v4_io(gave, 18),)), E18, E18)
    s = skipped(event)
    assert s.reason is SkipReason.NOT_STOCK_USDC
    assert received in s.detail and gave in s.detail


def test_zero_shares() -> None:
    assert skipped(take(SELLS_AAPL_V4, 0, 100_000000)).reason is SkipReason.ZERO_SHARES
    below_18_dp = take(SELLS_AAPL_V5, word(1, -19), word(1, 0), generation=Generation.V5)
    assert skipped(below_18_dp).reason is SkipReason.ZERO_SHARES
    negative = take(SELLS_AAPL_V5, word(-2, 0), word(1, 0), generation=Generation.V5)
    assert skipped(negative).reason is SkipReason.ZERO_SHARES


def test_non_positive_price() -> None:
    assert skipped(take(SELLS_AAPL_V4, E18, 0)).reason is SkipReason.NON_POSITIVE_PRICE
    dust = take(SELLS_AAPL_V5, word(1, 0), word(9, -7), generation=Generation.V5)  # floors to 0
    assert skipped(dust).reason is SkipReason.NON_POSITIVE_PRICE
    negative = take(SELLS_AAPL_V5, word(1, 0), word(-5, 0), generation=Generation.V5)
    assert skipped(negative).reason is SkipReason.NON_POSITIVE_PRICE


def test_a_v5_stock_token_without_decimals_is_unreadable() -> None:
    event = take(SELLS_AAPL_V5, TWO, PRICE_WORD, generation=Generation.V5)
    s = skipped(event, {USDC: TOKENS[USDC]})
    assert s.reason is SkipReason.TOKEN_UNREADABLE and T_AAPL in s.detail


@pytest.mark.parametrize("ratio", [None, D(0), D(-1), D("NaN")])
def test_a_wrapper_without_a_usable_ratio_is_unreadable(ratio: Decimal | None) -> None:
    sells_wrapped = order(OWNER, (v5_io(USDC),), (v5_io(WT_AAPL),))
    event = take(sells_wrapped, word(1, 0), word(100, 0), generation=Generation.V5)
    s = skipped(event, ratios={} if ratio is None else {WT_AAPL: ratio})
    assert s.reason is SkipReason.TOKEN_UNREADABLE and WT_AAPL in s.detail


def test_malformed_events_are_skipped_as_undecodable_never_raised() -> None:
    bad_index = take(SELLS_AAPL_V4, E18, 1, output_io_index=5)
    assert skipped(bad_index).reason is SkipReason.UNDECODABLE
    huge = take(SELLS_AAPL_V5, word(1, (1 << 31) - 1), word(1, 0), generation=Generation.V5)
    s = skipped(huge)
    assert s.reason is SkipReason.UNDECODABLE and "does not fit" in s.detail


def test_v4_without_io_decimals_reads_the_tokens_decimals() -> None:
    no_decimals = order(OWNER, (Io(USDC, None),), (Io(T_AAPL, None),))
    f = fill(take(no_decimals, taker_input=E18 // 4, taker_output=50_000000))
    assert (f.shares, f.usdc) == (D("0.25"), D(50))
    s = skipped(take(no_decimals, E18, 1), tokens={USDC: TOKENS[USDC]})
    assert s.reason is SkipReason.TOKEN_UNREADABLE and T_AAPL in s.detail
