"""One instrument on the simulated exchange: its price, settings and the account's position."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.domain.errors import VenueUnavailable
from pegkeeper.domain.instruments import Instrument
from pegkeeper.domain.margin import inverse_liquidation_price_usd, inverse_unrealised_pnl_btc
from pegkeeper.sim.book import SyntheticBook
from pegkeeper.sim.inverse import apply_fill

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

    @property
    def instrument_id(self) -> str:
        return self.instrument.instrument_id

    def mark(self) -> Decimal:
        if self.mark_price_usd is None:
            raise VenueUnavailable(f"no market price yet for {self.instrument_id}", code="50001")
        return self.mark_price_usd

    def unrealised_pnl_btc(self, price_usd: Decimal | None = None) -> Decimal:
        """At `price_usd`, the mark by default."""
        if self.size_contracts == 0 or self.avg_price_usd is None:
            return ZERO
        return inverse_unrealised_pnl_btc(
            self.size_contracts,
            self.instrument.contract_value,
            self.avg_price_usd,
            self.mark() if price_usd is None else price_usd,
        )

    def initial_margin_btc(self, size_contracts: Decimal | None = None) -> Decimal:
        """Of `size_contracts`, the position by default, at the mark and the leverage."""
        size = self.size_contracts if size_contracts is None else size_contracts
        if size == 0:
            return ZERO
        return abs(size) * self.instrument.contract_value / self.mark() / self.leverage

    def apply_fill(self, signed_contracts: Decimal, price_usd: Decimal) -> Decimal:
        """Updates the position; returns the realised P&L in BTC, unrounded."""
        outcome = apply_fill(
            self.size_contracts,
            self.avg_price_usd,
            signed_contracts,
            price_usd,
            self.instrument.contract_value,
        )
        self.size_contracts = outcome.size_contracts
        self.avg_price_usd = outcome.avg_price_usd
        return outcome.realised_pnl_btc

    def refresh_liquidation_price(self, balance_btc: Decimal, maintenance_rate: Decimal) -> None:
        if self.size_contracts == 0 or self.avg_price_usd is None:
            self.liquidation_price_usd = None
            return
        self.liquidation_price_usd = inverse_liquidation_price_usd(
            self.size_contracts,
            self.instrument.contract_value,
            self.avg_price_usd,
            balance_btc,
            maintenance_rate,
        )

    def crosses_liquidation(self, price_usd: Decimal) -> bool:
        liquidation_price = self.liquidation_price_usd
        if liquidation_price is None:
            return False
        if self.size_contracts < 0:
            return price_usd >= liquidation_price
        return price_usd <= liquidation_price
