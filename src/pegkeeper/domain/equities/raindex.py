"""Reading a Raindex fill (specs/equities.md, "Reading a fill"): the maker's side of a
TakeOrder or a Clear, its direction, amounts in exact decimals and the price, for both
generations of events. Every event becomes an OnchainFill or a SkippedLog with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_DOWN,
    ROUND_FLOOR,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import TypeVar

from pegkeeper.domain.equities.assets import EquityUniverse, TokenRole
from pegkeeper.domain.equities.chain import (
    ClearEvent,
    Generation,
    Io,
    OnchainFill,
    OnchainSide,
    RaindexEvent,
    RaindexOrder,
    SkippedLog,
    SkipReason,
    TokenInfo,
)
from pegkeeper.domain.errors import InvalidInput

SHARE_DECIMALS = 18  # underlying stock shares, as the stock tokens carry them
USDC_DECIMALS = 6

_WORD_BITS = 256
_EXPONENT_BITS = 32
_COEFFICIENT_BITS = _WORD_BITS - _EXPONENT_BITS
# Wide enough for any product or quotient of 256-bit amounts; Inexact trapped, so a result
# that would need rounding raises instead of changing a digit silently.
_EXACT = Context(prec=400, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])

_WIDE = Context(prec=_EXACT.prec, traps=[InvalidOperation])

_T = TypeVar("_T")


def decode_float(word: int) -> Decimal:
    """A rain.math.float word (bytes32 as an unsigned integer): the high 32 bits a signed
    exponent, the low 224 bits a signed coefficient; value = coefficient * 10^exponent, exact."""
    if not 0 <= word < 1 << _WORD_BITS:
        raise InvalidInput(f"a Float word must be an unsigned 256-bit integer, not {word}")
    exponent = _signed(word >> _COEFFICIENT_BITS, _EXPONENT_BITS)
    coefficient = _signed(word & ((1 << _COEFFICIENT_BITS) - 1), _COEFFICIENT_BITS)
    digits = tuple(int(d) for d in str(abs(coefficient)))
    return Decimal((1 if coefficient < 0 else 0, digits, exponent))


def _signed(value: int, bits: int) -> int:
    """`value`'s low `bits` bits read as a two's complement integer."""
    return value - (1 << bits) if value >> (bits - 1) else value


def truncate_to(amount: Decimal, decimals: int) -> Decimal:
    """`amount` truncated toward zero to `decimals` places (never rounded up)."""
    return _quantize(amount, decimals, ROUND_DOWN)


def floor_to(amount: Decimal, decimals: int) -> Decimal:
    """`amount` rounded down (toward minus infinity) to `decimals` places."""
    return _quantize(amount, decimals, ROUND_FLOOR)


def _quantize(amount: Decimal, decimals: int, rounding: str) -> Decimal:
    if decimals < 0:
        raise InvalidInput(f"decimals must be 0 or more, not {decimals}")
    if not amount.is_finite():
        raise InvalidInput(f"an amount must be a finite number, not {amount}")
    try:
        return amount.quantize(Decimal(1).scaleb(-decimals), rounding=rounding, context=_WIDE)
    except InvalidOperation as exc:
        raise InvalidInput(f"{amount} has too many digits to hold at {decimals} decimals") from exc


@dataclass(frozen=True, slots=True)
class MakerTrade:
    """The configured owner's side of one event: what its order received and gave, raw."""

    generation: Generation
    input_token: str  # what the maker received
    input_raw: int
    input_decimals: int | None  # V4: from the IO
    output_token: str  # what the maker gave
    output_raw: int
    output_decimals: int | None


def maker_trade(event: RaindexEvent, owner: str) -> MakerTrade | None:
    """The owner's side (alice if both sides are the owner's), with TakeOrder's amounts turned
    from the taker's perspective into the order's; None when no side is the owner's.
    Raises InvalidInput when an IO index points outside the order's IO list."""
    owner = owner.lower()
    if isinstance(event, ClearEvent):
        if event.alice.owner.lower() == owner:
            return _side(
                event.generation,
                event.alice,
                (event.alice_input_io_index, event.alice_input),
                (event.alice_output_io_index, event.alice_output),
            )
        if event.bob.owner.lower() == owner:
            return _side(
                event.generation,
                event.bob,
                (event.bob_input_io_index, event.bob_input),
                (event.bob_output_io_index, event.bob_output),
            )
        return None
    if event.order.owner.lower() != owner:
        return None
    # The event is the taker's view: what the taker gave is what the order received.
    return _side(
        event.generation,
        event.order,
        (event.input_io_index, event.taker_output),
        (event.output_io_index, event.taker_input),
    )


def _side(
    generation: Generation,
    order: RaindexOrder,
    received: tuple[int, int],
    gave: tuple[int, int],
) -> MakerTrade:
    input_io = _io_at(order.inputs, received[0], "input")
    output_io = _io_at(order.outputs, gave[0], "output")
    return MakerTrade(
        generation=generation,
        input_token=input_io.token.lower(),
        input_raw=received[1],
        input_decimals=input_io.decimals,
        output_token=output_io.token.lower(),
        output_raw=gave[1],
        output_decimals=output_io.decimals,
    )


def _io_at(ios: tuple[Io, ...], index: int, kind: str) -> Io:
    if not 0 <= index < len(ios):
        raise InvalidInput(f"{kind} IO index {index} is outside the order's {len(ios)} {kind}s")
    return ios[index]


class _Skip(Exception):
    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Leg:
    token: str
    raw: int
    io_decimals: int | None


def classify(
    event: RaindexEvent,
    universe: EquityUniverse,
    tokens: Mapping[str, TokenInfo],
    shares_per_token: Mapping[str, Decimal],
) -> OnchainFill | SkippedLog:
    """The fill this event is for the configured owner, or the reason it is skipped.
    `tokens` has the TokenInfo of the trade's tokens (needed for V5 decimals; a missing one is
    TOKEN_UNREADABLE), `shares_per_token` the ratio of a wrapped stock token at the event's
    block. Stock amounts: V4 scaled by the IO's decimals, V5 decoded Floats; both truncated to
    the token's decimals (18 for stock tokens), USDC floored to 6 dp, wrapped amounts converted
    to underlying shares (truncated to 18 dp)."""
    try:
        return _fill(event, universe, tokens, shares_per_token)
    except _Skip as skip:
        return SkippedLog(event.ref, skip.reason, skip.detail)


def _fill(
    event: RaindexEvent,
    universe: EquityUniverse,
    tokens: Mapping[str, TokenInfo],
    shares_per_token: Mapping[str, Decimal],
) -> OnchainFill:
    try:
        trade = maker_trade(event, universe.order_owner)
    except InvalidInput as exc:
        raise _Skip(SkipReason.UNDECODABLE, str(exc)) from exc
    if trade is None:
        raise _Skip(SkipReason.NOT_OUR_ORDER, f"no side is owned by {universe.order_owner}")
    received = _Leg(trade.input_token, trade.input_raw, trade.input_decimals)
    gave = _Leg(trade.output_token, trade.output_raw, trade.output_decimals)
    stock, usdc, side, role = _pair(universe, tokens, received, gave)
    ratio = _ratio(stock.token, role, shares_per_token)
    try:
        token_amount = _amount(trade.generation, stock, tokens, is_usdc=False)
        usdc_raw = _amount(trade.generation, usdc, tokens, is_usdc=True)
        usdc_amount = floor_to(usdc_raw, USDC_DECIMALS)
        shares = truncate_to(_EXACT.multiply(token_amount, ratio), SHARE_DECIMALS)
    except (InvalidInput, DecimalException) as exc:
        raise _Skip(SkipReason.UNDECODABLE, f"an amount does not fit: {exc}") from exc
    if shares <= 0:
        raise _Skip(SkipReason.ZERO_SHARES, f"{shares} shares of {stock.token} is not positive")
    if usdc_amount <= 0:
        raise _Skip(
            SkipReason.NON_POSITIVE_PRICE,
            f"{usdc_amount} USDC for {shares} shares of {role.symbol} is not a positive price",
        )
    return OnchainFill(
        ref=event.ref,
        generation=trade.generation,
        symbol=role.symbol,
        side=side,
        shares=shares,
        usdc=usdc_amount,
        token=stock.token,
        shares_per_token=ratio,
    )


def _pair(
    universe: EquityUniverse,
    tokens: Mapping[str, TokenInfo],
    received: _Leg,
    gave: _Leg,
) -> tuple[_Leg, _Leg, OnchainSide, TokenRole]:
    """(stock leg, USDC leg, what the maker did, the stock's role), or why not stock/USDC."""
    received_role = universe.role(received.token)
    gave_role = universe.role(gave.token)
    unknown = [
        leg.token
        for leg, role in ((received, received_role), (gave, gave_role))
        if role is None and not universe.is_usdc(leg.token)
    ]
    if unknown:
        named = ", ".join(_named(t, tokens) for t in unknown)
        raise _Skip(SkipReason.UNKNOWN_TOKEN, f"no configured asset or USDC is {named}")
    if received_role is not None and gave_role is None:
        return received, gave, OnchainSide.BOUGHT, received_role
    if gave_role is not None and received_role is None:
        return gave, received, OnchainSide.SOLD, gave_role
    raise _Skip(
        SkipReason.NOT_STOCK_USDC,
        f"received {_named(received.token, tokens)} for {_named(gave.token, tokens)}: "
        "not one stock token against USDC",
    )


def _amount(
    generation: Generation, leg: _Leg, tokens: Mapping[str, TokenInfo], *, is_usdc: bool
) -> Decimal:
    """The leg's amount in whole tokens, truncated to the token's precision (USDC's is
    floored later, at 6 dp)."""
    if generation is Generation.V4:
        decimals = leg.io_decimals
        if decimals is None:
            decimals = _token_decimals(leg.token, tokens)
        return Decimal(leg.raw).scaleb(-decimals, _EXACT)
    amount = decode_float(leg.raw)
    if is_usdc:
        return amount
    return truncate_to(amount, _token_decimals(leg.token, tokens))


def _token_decimals(token: str, tokens: Mapping[str, TokenInfo]) -> int:
    info = _lookup(tokens, token)
    if info is None:
        raise _Skip(SkipReason.TOKEN_UNREADABLE, f"the decimals of {token} are not known")
    return info.decimals


def _ratio(token: str, role: TokenRole, shares_per_token: Mapping[str, Decimal]) -> Decimal:
    if not role.wrapped:
        return Decimal(1)
    ratio = _lookup(shares_per_token, token)
    if ratio is None or not ratio.is_finite() or ratio <= 0:
        shown = "unknown" if ratio is None else str(ratio)
        raise _Skip(
            SkipReason.TOKEN_UNREADABLE,
            f"the shares per token of {role.symbol} wrapper {token} are {shown}",
        )
    return ratio


def _lookup(mapping: Mapping[str, _T], address: str) -> _T | None:
    found = mapping.get(address)
    if found is not None:
        return found
    for key, value in mapping.items():
        if key.lower() == address:
            return value
    return None


def _named(token: str, tokens: Mapping[str, TokenInfo]) -> str:
    info = _lookup(tokens, token)
    return f"{token} ({info.label})" if info is not None and info.label else token
