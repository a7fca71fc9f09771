"""Units of money and the explicit roundings between them.

Money is Decimal or an integer of the smallest unit (sats, cents). Every function that drops
precision says in its name which way it rounds, so a reader can check whom it favours.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

SATS_PER_BTC = 100_000_000
CENTS_PER_USD = 100
ONE_SAT_BTC = Decimal("0.00000001")
ONE_CENT_USD = Decimal("0.01")
BPS_PER_ONE = Decimal(10_000)  # basis points in a whole: x (1 + bps / BPS_PER_ONE)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS  # the year rates are annualised on: funding x 3 x 365, basis x 365 / days


def floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def ceil_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def round_half_even_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def round_half_up_int(value: Decimal) -> int:
    """Nearest integer, halves away from zero for positives (as 'round' in the hedge spec)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def round_btc(amount_btc: Decimal) -> Decimal:
    """Nearest whole sat (half-even)."""
    return amount_btc.quantize(ONE_SAT_BTC, rounding=ROUND_HALF_EVEN)


def floor_btc(amount_btc: Decimal) -> Decimal:
    """Whole sats, rounded down."""
    return amount_btc.quantize(ONE_SAT_BTC, rounding=ROUND_FLOOR)


def ceil_btc(amount_btc: Decimal) -> Decimal:
    """Whole sats, rounded up."""
    return amount_btc.quantize(ONE_SAT_BTC, rounding=ROUND_CEILING)


# Amounts of any currency that a venue books to 8 decimals: a sat for BTC, the finest USDT unit
# OKX settles. The same roundings as the BTC ones above, named for what they do to any currency.
ONE_E8 = ONE_SAT_BTC


def round_1e8(amount: Decimal) -> Decimal:
    """Nearest 1e-8 (half-even)."""
    return amount.quantize(ONE_E8, rounding=ROUND_HALF_EVEN)


def floor_1e8(amount: Decimal) -> Decimal:
    return amount.quantize(ONE_E8, rounding=ROUND_FLOOR)


def ceil_1e8(amount: Decimal) -> Decimal:
    return amount.quantize(ONE_E8, rounding=ROUND_CEILING)


USDC_UNITS_PER_USDC = 10**6  # USDC has 6 decimals onchain


def usdc_units_floor(amount_usdc: Decimal) -> int:
    """USDC to whole onchain units (6 dp), rounded down: what a chain step may move of an
    amount the broker states to more decimals (a USDC/USD fill has 9)."""
    return floor_int(amount_usdc * USDC_UNITS_PER_USDC)


STOCK_TOKEN_UNITS_PER_SHARE = 10**18  # stock tokens (and their wrappers) have 18 decimals


def stock_units_truncated(shares: Decimal) -> int:
    """Shares to whole stock-token units (18 dp), truncated: never more than was asked."""
    return floor_int(shares * STOCK_TOKEN_UNITS_PER_SHARE)


def stock_units_to_shares(units: int) -> Decimal:
    return Decimal(units) / STOCK_TOKEN_UNITS_PER_SHARE


def usdc_units_to_usdc(units: int) -> Decimal:
    return Decimal(units) / USDC_UNITS_PER_USDC


def btc_to_sats(amount_btc: Decimal) -> int:
    """Exact conversion; refuses amounts finer than one sat rather than rounding silently."""
    sats = amount_btc * SATS_PER_BTC
    if sats != sats.to_integral_value():
        raise ValueError(f"{amount_btc} BTC is not a whole number of sats; round it first")
    return int(sats)


def sats_to_btc(amount_sats: int) -> Decimal:
    return Decimal(amount_sats) / SATS_PER_BTC


def cents_to_usd(amount_cents: int) -> Decimal:
    return Decimal(amount_cents) / CENTS_PER_USD


def usd_to_cents_round_half_even(amount_usd: Decimal) -> int:
    return round_half_even_int(amount_usd * CENTS_PER_USD)


def to_decimal(value: str | int | Decimal) -> Decimal:
    """Parse a wire number (OKX sends every number as a string); floats are refused."""
    if isinstance(value, float):
        raise TypeError("floats are not accepted for money; pass a string or Decimal")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result
