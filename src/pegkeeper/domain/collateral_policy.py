"""Funding policies: how much collateral the exchange's trading account should hold for the
short, and which move gets it there. They decide; the funding service acts.

Every amount is in the collateral currency (BTC for inverse contracts) at 1-sat precision.
`stablesats` is Galoy stablesats' rule set kept exactly, rule by rule in the spec's order
(specs/hedging.md); `galoy-dealer` is the Galoy dealer's variant before it, with its leverage
measured against the mark price rather than as liability over collateral.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from pegkeeper.domain.hedge_policy import round_contracts
from pegkeeper.domain.outlook import Outlook, OutlookParams
from pegkeeper.domain.units import floor_btc, round_btc

ZERO = Decimal(0)


class CollateralActionKind(StrEnum):
    HOLD = "hold"
    TRANSFER_TO_TRADING = "transfer_to_trading"  # exchange: funding account -> trading account
    TRANSFER_TO_FUNDING = "transfer_to_funding"  # exchange: trading account -> funding account
    DEPOSIT = "deposit"  # onchain: the operator's wallet -> the exchange's funding account
    WITHDRAW = "withdraw"  # onchain: the exchange's funding account -> the operator's wallet

    @property
    def takes_collateral_out(self) -> bool:
        """Moves money away from the trading account or off the exchange."""
        return self in (CollateralActionKind.TRANSFER_TO_FUNDING, CollateralActionKind.WITHDRAW)


@dataclass(frozen=True, slots=True)
class CollateralAction:
    kind: CollateralActionKind
    amount: Decimal = ZERO  # collateral currency, whole sats; 0 for hold

    @classmethod
    def hold(cls) -> CollateralAction:
        return _HOLD

    @property
    def is_hold(self) -> bool:
        return self.kind is CollateralActionKind.HOLD


_HOLD = CollateralAction(CollateralActionKind.HOLD)  # the decision most often made: one instance


@dataclass(frozen=True, slots=True)
class CollateralInputs:
    liability_cents: int  # L: synthetic USD owed, >= 0
    exposure_cents: int  # E: signed USD exposure of the hedge (a short is negative)
    price_cents: Decimal  # P: price of one unit of collateral (BTC) in cents, at the mark
    collateral: Decimal  # C: trading-account equity, collateral currency
    funding_balance: Decimal  # F: funding-account balance, collateral currency
    contract_value_cents: Decimal = Decimal(10_000)  # the liability is rounded to contracts
    # Read by the policies that look past the balances (liquidation-floor), ignored by the
    # others: the contract's mark (a linear contract's collateral is priced at 1 USD, so
    # price_cents does not tell it; None: price_cents / 100, an inverse contract's), and what
    # the recent past says about the next deposit delay (None: nothing seen yet).
    mark_price_usd: Decimal | None = None
    outlook: Outlook | None = None

    def __post_init__(self) -> None:
        if self.liability_cents < 0:
            raise ValueError(f"liability_cents must be >= 0, got {self.liability_cents}")
        if self.price_cents <= 0:
            raise ValueError(f"price_cents must be positive, got {self.price_cents}")
        if self.contract_value_cents <= 0:
            raise ValueError("contract_value_cents must be positive")
        if self.mark_price_usd is not None and self.mark_price_usd <= 0:
            raise ValueError(f"mark_price_usd must be positive, got {self.mark_price_usd}")

    @property
    def exposure(self) -> Decimal:
        """E_btc: the hedge's size in collateral at the mark (unsigned)."""
        return Decimal(abs(self.exposure_cents)) / self.price_cents


@dataclass(frozen=True, slots=True)
class CollateralDecision:
    inputs: CollateralInputs
    action: CollateralAction
    rule: str  # which rule decided, for the audit trail
    policy: str


class CollateralPolicy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def high_bound_leverage(self) -> Decimal:
        """Above this leverage a deposit still on its way is late: its fee is bumped."""
        ...

    @property
    def outlook(self) -> OutlookParams | None:
        """How to estimate the history the policy reads in CollateralInputs.outlook; None:
        the policy reads none."""
        ...

    def decide(self, inputs: CollateralInputs) -> CollateralDecision: ...


def _check_ordered(values: tuple[Decimal, ...], names: str) -> None:
    if values[0] <= 0 or not all(a <= b for a, b in itertools.pairwise(values)):
        raise ValueError(f"expected 0 < {names}, got {[str(v) for v in values]}")


@dataclass(frozen=True, slots=True)
class StablesatsCollateralParams:
    minimum_liability_threshold_cents: int = 5_000  # the hedge policy's: below it, no hedge
    minimum_transfer_amount_cents: int = 10_000
    minimum_funding_balance_btc: Decimal = Decimal(1)
    low_bound_ratio_leverage: Decimal = Decimal(2)
    low_safebound_ratio_leverage: Decimal = Decimal(3)
    high_safebound_ratio_leverage: Decimal = Decimal(3)
    high_bound_ratio_leverage: Decimal = Decimal(4)
    high_bound_buffer_percentage: Decimal = Decimal("0.9")

    def __post_init__(self) -> None:
        _check_ordered(
            (
                self.low_bound_ratio_leverage,
                self.low_safebound_ratio_leverage,
                self.high_safebound_ratio_leverage,
                self.high_bound_ratio_leverage,
            ),
            "low_bound <= low_safebound <= high_safebound <= high_bound (leverage)",
        )
        if not 0 < self.high_bound_buffer_percentage <= 1:
            raise ValueError("high_bound_buffer_percentage must be in (0, 1]")
        if self.minimum_funding_balance_btc < 0 or self.minimum_transfer_amount_cents < 0:
            raise ValueError("minimum funding balance and transfer amount must be >= 0")


class _Terms(NamedTuple):
    """The spec's definitions, computed once per decision (a tuple: cheaper to build than a
    frozen dataclass, and the policies build one per decision)."""

    liability: Decimal  # L_btc: the liability, rounded to whole contracts, in collateral
    exposure: Decimal  # E_btc
    zero_funding: Decimal  # zeroF: a funding balance worth less than this counts as empty


def _terms(inputs: CollateralInputs, minimum_transfer_amount_cents: int, whole: bool) -> _Terms:
    price = inputs.price_cents
    liability = Decimal(inputs.liability_cents)
    if whole:
        contract = inputs.contract_value_cents
        liability = round_contracts(liability / contract) * contract
    zero_funding = _tenth(minimum_transfer_amount_cents) / price
    return _Terms(liability / price, inputs.exposure, zero_funding)


@functools.cache
def _tenth(cents: int) -> Decimal:
    """A tenth of a parameter in cents, made once: every decision divides it by the price."""
    return Decimal(cents) / 10


def sized_action(
    kind: CollateralActionKind, amount: Decimal, rule: str
) -> tuple[CollateralAction, str]:
    """`kind` of `amount`, or hold when the amount rounds to nothing."""
    if amount <= 0:
        return CollateralAction.hold(), f"{rule}-rounds-to-zero"
    return CollateralAction(kind, amount), rule


@dataclass(frozen=True, slots=True)
class StablesatsCollateralPolicy:
    params: StablesatsCollateralParams = field(default_factory=StablesatsCollateralParams)
    name: str = "stablesats"

    @property
    def high_bound_leverage(self) -> Decimal:
        return self.params.high_bound_ratio_leverage

    @property
    def outlook(self) -> OutlookParams | None:
        return None

    def decide(self, inputs: CollateralInputs) -> CollateralDecision:
        action, rule = self._action(inputs)
        return CollateralDecision(inputs, action, rule, self.name)

    def _action(self, inputs: CollateralInputs) -> tuple[CollateralAction, str]:
        p = self.params
        t = _terms(inputs, p.minimum_transfer_amount_cents, whole=True)
        liability_cents, collateral, funding = (
            inputs.liability_cents,
            inputs.collateral,
            inputs.funding_balance,
        )
        flat = inputs.exposure_cents == 0
        hedged_liability = liability_cents > p.minimum_liability_threshold_cents
        small_liability = liability_cents < p.minimum_transfer_amount_cents
        if flat and collateral == 0 and hedged_liability and funding < t.zero_funding:
            amount = round_btc(t.liability / p.high_safebound_ratio_leverage)
            return self._deposit_with_refill(amount, funding, "1-first-collateral-deposit")
        if flat and collateral == 0 and hedged_liability:
            amount = min(funding, round_btc(t.liability / p.high_safebound_ratio_leverage))
            return sized_action(
                CollateralActionKind.TRANSFER_TO_TRADING, amount, "2-first-collateral-transfer"
            )
        if flat and small_liability and collateral > 0:
            amount = floor_btc(collateral)
            return sized_action(
                CollateralActionKind.TRANSFER_TO_FUNDING, amount, "3-unhedged-collateral-out"
            )
        if flat and small_liability and collateral == 0 and funding >= t.zero_funding:
            return sized_action(
                CollateralActionKind.WITHDRAW, floor_btc(funding), "4-unhedged-withdraw-all"
            )
        if hedged_liability and t.liability > p.high_bound_ratio_leverage * collateral:
            amount = round_btc(t.liability / p.high_safebound_ratio_leverage - collateral)
            return self._transfer_or_deposit(amount, funding, t, "5-liability-over-high-bound")
        if t.exposure < p.low_bound_ratio_leverage * collateral:
            amount = floor_btc(collateral - t.exposure / p.low_safebound_ratio_leverage)
            return sized_action(
                CollateralActionKind.TRANSFER_TO_FUNDING, amount, "6-under-low-bound-out"
            )
        buffer = p.high_bound_buffer_percentage
        minimum_funding = p.minimum_funding_balance_btc
        if not flat and funding > minimum_funding / buffer:
            amount = floor_btc(funding - minimum_funding)
            return sized_action(CollateralActionKind.WITHDRAW, amount, "7-funding-surplus-withdraw")
        if t.exposure > buffer * p.high_bound_ratio_leverage * collateral:
            amount = round_btc(t.exposure / p.high_safebound_ratio_leverage - collateral)
            return self._transfer_or_deposit(amount, funding, t, "8-exposure-near-high-bound")
        if not flat and funding < buffer * minimum_funding:
            amount = round_btc(minimum_funding - funding)
            return sized_action(CollateralActionKind.DEPOSIT, amount, "9-funding-refill-deposit")
        return CollateralAction.hold(), "10-inside-bounds"

    def _refill(self, funding: Decimal) -> Decimal:
        return max(ZERO, self.params.minimum_funding_balance_btc - funding)

    def _deposit_with_refill(
        self, amount: Decimal, funding: Decimal, rule: str
    ) -> tuple[CollateralAction, str]:
        """Onchain: `amount`, plus what brings the funding account back to its minimum."""
        return sized_action(
            CollateralActionKind.DEPOSIT, round_btc(amount + self._refill(funding)), rule
        )

    def _transfer_or_deposit(
        self, amount: Decimal, funding: Decimal, t: _Terms, rule: str
    ) -> tuple[CollateralAction, str]:
        """From the funding account while it holds anything; onchain only when it is empty."""
        if funding >= t.zero_funding:
            return sized_action(
                CollateralActionKind.TRANSFER_TO_TRADING, min(funding, amount), rule
            )
        if amount <= 0:
            return CollateralAction.hold(), f"{rule}-rounds-to-zero"
        return self._deposit_with_refill(amount, funding, f"{rule}-deposit")


@dataclass(frozen=True, slots=True)
class GaloyDealerCollateralParams:
    minimum_liability_threshold_cents: int = 5_000  # 50 USD: below it nothing is hedged
    withdraw_all_below_cents: int = 10_000  # 100 USD: unhedged, everything leaves
    minimum_transfer_amount_cents: int = 10_000  # a funding balance under 10 USD is empty
    minimum_funding_balance_btc: Decimal = Decimal(1)  # withdrawals keep this in funding
    low_bound_ratio_leverage: Decimal = Decimal("1.2")
    low_safebound_ratio_leverage: Decimal = Decimal("1.8")
    high_safebound_ratio_leverage: Decimal = Decimal("2.25")
    high_bound_ratio_leverage: Decimal = Decimal(3)
    high_bound_buffer_percentage: Decimal = Decimal("0.9")

    def __post_init__(self) -> None:
        _check_ordered(
            (
                self.low_bound_ratio_leverage,
                self.low_safebound_ratio_leverage,
                self.high_safebound_ratio_leverage,
                self.high_bound_ratio_leverage,
            ),
            "low_bound <= low_safebound <= high_safebound <= high_bound (leverage)",
        )
        if not 0 < self.high_bound_buffer_percentage <= 1:
            raise ValueError("high_bound_buffer_percentage must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class GaloyDealerCollateralPolicy:
    """The Galoy dealer's five rules. Its "deposit" brings collateral to the trading account:
    from the funding account first, onchain only for what the funding account lacks; its
    "withdraw" goes trading -> funding, and onchain only for what exceeds the minimum funding
    balance (a sixth rule, the second step of every withdrawal)."""

    params: GaloyDealerCollateralParams = field(default_factory=GaloyDealerCollateralParams)
    name: str = "galoy-dealer"

    @property
    def high_bound_leverage(self) -> Decimal:
        return self.params.high_bound_ratio_leverage

    @property
    def outlook(self) -> OutlookParams | None:
        return None

    def decide(self, inputs: CollateralInputs) -> CollateralDecision:
        action, rule = self._action(inputs)
        return CollateralDecision(inputs, action, rule, self.name)

    def _action(self, inputs: CollateralInputs) -> tuple[CollateralAction, str]:
        p = self.params
        t = _terms(inputs, p.minimum_transfer_amount_cents, whole=False)
        collateral, funding = inputs.collateral, inputs.funding_balance
        flat = inputs.exposure_cents == 0
        target = p.high_safebound_ratio_leverage
        if (
            flat
            and collateral == 0
            and inputs.liability_cents > p.minimum_liability_threshold_cents
        ):
            return self._bring_in(round_btc(t.liability / target), funding, t, "1-first-deposit")
        if flat and inputs.liability_cents < p.withdraw_all_below_cents:
            if collateral > 0:
                amount = floor_btc(collateral)
                return sized_action(
                    CollateralActionKind.TRANSFER_TO_FUNDING, amount, "2-withdraw-all"
                )
            return self._surplus(funding, t, "2-withdraw-all-onchain")
        if t.liability > p.high_bound_ratio_leverage * collateral:
            amount = round_btc(t.liability / target - collateral)
            return self._bring_in(amount, funding, t, "3-liability-over-high-bound")
        if t.exposure < p.low_bound_ratio_leverage * collateral:
            amount = floor_btc(collateral - t.exposure / p.low_safebound_ratio_leverage)
            return sized_action(
                CollateralActionKind.TRANSFER_TO_FUNDING, amount, "4-under-low-bound"
            )
        if t.exposure > p.high_bound_buffer_percentage * p.high_bound_ratio_leverage * collateral:
            amount = round_btc(t.exposure / target - collateral)
            return self._bring_in(amount, funding, t, "5-exposure-near-high-bound")
        return self._surplus(funding, t, "6-funding-surplus-withdraw")

    def _bring_in(
        self, amount: Decimal, funding: Decimal, t: _Terms, rule: str
    ) -> tuple[CollateralAction, str]:
        if amount > 0 and funding >= t.zero_funding:
            return sized_action(
                CollateralActionKind.TRANSFER_TO_TRADING, min(funding, amount), rule
            )
        return sized_action(CollateralActionKind.DEPOSIT, amount, f"{rule}-onchain")

    def _surplus(self, funding: Decimal, t: _Terms, rule: str) -> tuple[CollateralAction, str]:
        surplus = floor_btc(funding - self.params.minimum_funding_balance_btc)
        if surplus < t.zero_funding:
            return CollateralAction.hold(), "inside-bounds"
        return CollateralAction(CollateralActionKind.WITHDRAW, surplus), rule


POLICIES = ("stablesats", "galoy-dealer", "liquidation-floor")
