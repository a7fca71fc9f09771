"""Instruments and their contract math.

An inverse contract (OKX BTC-USD-SWAP) has a face value in USD and is margined in BTC; a linear
contract (BTC-USDT-SWAP) has a face value in BTC and is margined in USDT; a dated future has an
expiry and no funding. Exposure is always expressed in USD cents, signed: a short is negative.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.units import CENTS_PER_USD, round_half_even_int


class ContractType(StrEnum):
    INVERSE = "inverse"
    LINEAR = "linear"


class InstrumentKind(StrEnum):
    SWAP = "swap"
    FUTURE = "future"


@dataclass(frozen=True, slots=True)
class Instrument:
    instrument_id: str
    kind: InstrumentKind
    contract_type: ContractType
    contract_value: Decimal  # USD per contract when inverse, BTC per contract when linear
    settle_currency: str  # BTC for inverse, USDT for linear
    lot_size_contracts: Decimal = Decimal(1)
    min_size_contracts: Decimal = Decimal(1)
    expiry_ms: int | None = None
    tick_size_usd: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        if self.contract_value <= 0:
            raise ValueError(f"{self.instrument_id}: contract_value must be positive")
        if (self.kind is InstrumentKind.FUTURE) != (self.expiry_ms is not None):
            raise ValueError(f"{self.instrument_id}: a future needs an expiry, a swap has none")

    @property
    def has_funding(self) -> bool:
        return self.kind is InstrumentKind.SWAP

    def notional_usd(self, size_contracts: Decimal, price_usd: Decimal) -> Decimal:
        """Unsigned USD value of a position of `size_contracts` at `price_usd`."""
        if self.contract_type is ContractType.INVERSE:
            return abs(size_contracts) * self.contract_value
        return abs(size_contracts) * self.contract_value * price_usd

    def exposure_cents(self, size_contracts: Decimal, price_usd: Decimal) -> int:
        """Signed USD exposure in cents (a short is negative), to the nearest cent."""
        notional_cents = self.notional_usd(size_contracts, price_usd) * CENTS_PER_USD
        signed = notional_cents if size_contracts >= 0 else -notional_cents
        return round_half_even_int(signed)

    def contract_value_cents(self, price_usd: Decimal) -> Decimal:
        """USD cents one contract is worth at `price_usd`."""
        if self.contract_type is ContractType.INVERSE:
            return self.contract_value * CENTS_PER_USD
        return self.contract_value * price_usd * CENTS_PER_USD


BTC_USD_SWAP = Instrument(
    instrument_id="BTC-USD-SWAP",
    kind=InstrumentKind.SWAP,
    contract_type=ContractType.INVERSE,
    contract_value=Decimal(100),
    settle_currency="BTC",
)

BTC_USDT_SWAP = Instrument(
    instrument_id="BTC-USDT-SWAP",
    kind=InstrumentKind.SWAP,
    contract_type=ContractType.LINEAR,
    contract_value=Decimal("0.01"),
    settle_currency="USDT",
    lot_size_contracts=Decimal("0.01"),
    min_size_contracts=Decimal("0.01"),
)


def collateral_currency(instrument_id: str) -> str:
    """OKX's linear swaps settle in USDT; its inverse swaps and futures in BTC."""
    return "USDT" if "USDT" in instrument_id.upper() else "BTC"


def quarterly_expiries_ms(now_ms: int, count: int = 2) -> list[int]:
    """The next `count` quarterly expiries after `now_ms`: the last Friday of March, June,
    September and December at 08:00 UTC, as OKX's quarterly futures."""
    year = datetime.fromtimestamp(now_ms / 1000, tz=UTC).year
    found: list[int] = []
    while len(found) < count:
        expiries = _expiries_of_year(year)
        found.extend(e for e in expiries[bisect.bisect_right(expiries, now_ms) :])
        year += 1
    return found[:count]


@functools.cache
def _expiries_of_year(year: int) -> tuple[int, ...]:
    """The four quarterly expiries of `year` (a hedger asks on every cycle: kept)."""
    return tuple(int(_last_friday_0800(year, month).timestamp() * 1000) for month in (3, 6, 9, 12))


def _last_friday_0800(year: int, month: int) -> datetime:
    first_of_next = datetime(year + month // 12, month % 12 + 1, 1, 8, tzinfo=UTC)
    last_day = first_of_next - timedelta(days=1)
    friday = 4
    return last_day - timedelta(days=(last_day.weekday() - friday) % 7)


def btc_usd_future(expiry_ms: int) -> Instrument:
    """OKX's inverse BTC-USD future expiring at `expiry_ms`: BTC-USD-YYMMDD, 100 USD a
    contract, margined in BTC."""
    day = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC).strftime("%y%m%d")
    return Instrument(
        instrument_id=f"BTC-USD-{day}",
        kind=InstrumentKind.FUTURE,
        contract_type=ContractType.INVERSE,
        contract_value=Decimal(100),
        settle_currency="BTC",
        expiry_ms=expiry_ms,
    )
