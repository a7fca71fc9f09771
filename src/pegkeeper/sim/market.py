"""One instrument on the simulated exchange: its price, settings and the account's position.

Inverse contracts (USD face value) are margined and settled in BTC; linear ones (BTC face
value) in the quote currency, USDT. Every amount a method returns is in `settle_currency`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.errors import VenueUnavailable
from pegkeeper.domain.instruments import ContractType, Instrument
from pegkeeper.domain.margin import (
    inverse_liquidation_price_usd,
    inverse_unrealised_pnl_btc,
    linear_liquidation_price_usd,
    linear_unrealised_pnl_quote,
)
from pegkeeper.sim.book import BookLevel, SyntheticBook
from pegkeeper.sim.inverse import apply_fill, harmonic_average_price_usd
from pegkeeper.sim.linear import apply_linear_fill, arithmetic_average_price_usd

ZERO = Decimal(0)


@dataclass(slots=True)
class Market:
    instrument: Instrument
    funding_rate: Decimal
    leverage: Decimal
    mark_price_usd: Decimal | None = None
    price_ms: int | None = None
    next_funding_ms: int | None = None
    size_contracts: Decimal = ZERO  # signed: a short is negative
    avg_price_usd: Decimal | None = None
    liquidation_price_usd: Decimal | None = None
    book: SyntheticBook | None = None  # built on demand, dropped on every price change
    delivered_ms: int | None = None  # a dated future after its expiry
    settled_rates: list[tuple[int, Decimal]] = field(default_factory=list)  # (time, rate)

    @property
    def instrument_id(self) -> str:
        return self.instrument.instrument_id

    @property
    def settle_currency(self) -> str:
        return self.instrument.settle_currency

    @property
    def is_inverse(self) -> bool:
        return self.instrument.contract_type is ContractType.INVERSE

    def mark(self) -> Decimal:
        if self.mark_price_usd is None:
            raise VenueUnavailable(f"no market price yet for {self.instrument_id}", code="50001")
        return self.mark_price_usd

    def value(self, size_contracts: Decimal, price_usd: Decimal) -> Decimal:
        """Unsigned value of `size_contracts` at `price_usd`, in the settlement currency."""
        face = self.instrument.contract_value
        if self.is_inverse:
            return abs(size_contracts) * face / price_usd
        return abs(size_contracts) * face * price_usd

    def average_price_usd(self, levels: Iterable[BookLevel]) -> Decimal:
        if self.is_inverse:
            return harmonic_average_price_usd(levels)
        return arithmetic_average_price_usd(levels)

    def unrealised_pnl(self, price_usd: Decimal | None = None) -> Decimal:
        """At `price_usd`, the mark by default."""
        if self.size_contracts == 0 or self.avg_price_usd is None:
            return ZERO
        mark = self.mark() if price_usd is None else price_usd
        face = self.instrument.contract_value
        if self.is_inverse:
            return inverse_unrealised_pnl_btc(self.size_contracts, face, self.avg_price_usd, mark)
        return linear_unrealised_pnl_quote(self.size_contracts, face, self.avg_price_usd, mark)

    def initial_margin(self, size_contracts: Decimal | None = None) -> Decimal:
        """Of `size_contracts`, the position by default, at the mark and the leverage."""
        size = self.size_contracts if size_contracts is None else size_contracts
        if size == 0:
            return ZERO
        return self.value(size, self.mark()) / self.leverage

    def apply_fill(self, signed_contracts: Decimal, price_usd: Decimal) -> Decimal:
        """Updates the position; returns the realised P&L, unrounded."""
        apply = apply_fill if self.is_inverse else apply_linear_fill
        outcome = apply(
            self.size_contracts,
            self.avg_price_usd,
            signed_contracts,
            price_usd,
            self.instrument.contract_value,
        )
        self.size_contracts = outcome.size_contracts
        self.avg_price_usd = outcome.avg_price_usd
        return outcome.realised_pnl_btc

    def refresh_liquidation_price(self, balance: Decimal, maintenance_rate: Decimal) -> None:
        if self.size_contracts == 0 or self.avg_price_usd is None:
            self.liquidation_price_usd = None
            return
        compute = inverse_liquidation_price_usd if self.is_inverse else linear_liquidation_price_usd
        self.liquidation_price_usd = compute(
            self.size_contracts,
            self.instrument.contract_value,
            self.avg_price_usd,
            balance,
            maintenance_rate,
        )

    def crosses_liquidation(self, price_usd: Decimal) -> bool:
        liquidation_price = self.liquidation_price_usd
        if liquidation_price is None:
            return False
        if self.size_contracts < 0:
            return price_usd >= liquidation_price
        return price_usd <= liquidation_price
