"""Funding policy `liquidation-floor`: collateral sized so that the short stays at least a floor
(20 % by default) from liquidation through the next deposit delay, whatever the recent past
says that delay may bring.

Why: stablesats keeps the trading account at a leverage of liability over collateral and 1 BTC
in the funding account. When users flee into USD in a crash the liability, and the short with
it, grow faster than a deposit (30 minutes or more) brings collateral in; the rebound that
follows then finds a short of twice the size on the old collateral (3.4 % from liquidation on
the March 2020 path of the README).

The rule. With the outlook (domain/outlook.py: the liability's growth g per hour, the mark's
volatility s per square root of an hour, the deposit delay T in hours), one delay may bring
  - growth: G = g T cents more liability, hedged at once by the hedger;
  - a move of the mark by u = k max(s, s_min) sqrt(T) either way (capped at 50 %).
need(d) is the trading-account equity now that still holds the liquidation price d away
from the mark after both, the worse of the rise and the fall: the notional of the hedge of
max(L, |E|) + G at the moved mark, times the equity over notional that puts the liquidation
price d away (the liquidation formula solved for the equity: domain/leverage.py,
`equity_for_distance`), less what the move does to the equity of the short held now
(`move_pnl`). A linear short keeps its BTC size until the hedger re-sizes it, so it counts at
the lower of the two marks. The exchange refuses orders beyond its initial margin (notional /
leverage): where that asks more equity than the floor, every level below is raised in the
same proportion (`lift`), so the hedger can always sell and the bands keep their width.

The trading account, with hysteresis (floor < target < release, in % of the mark):
  - below need(floor): brought to need(target), by a transfer from the funding account
    (instant) while it holds any, else by a deposit of that plus what brings the funding
    account to the reserve's target;
  - above need(release): what exceeds need(target) goes back to the funding account.
The funding account holds a reserve R = need(target) - need_calm(floor): what the trading
account may draw in one delay (the growth, the move, one top-up from the bare floor to the
target), need_calm being need without growth or move. Deposits start as soon as the funding
account falls under R, so they arrive before it runs dry, and bring it to
`reserve_target_ratio` R; above `reserve_release_ratio` R the surplus down to the target ratio
is withdrawn (fees: withdrawals stay rare). A funding balance or a deposit worth less than
`minimum_transfer_amount_cents` counts as nothing, a surplus under `minimum_withdrawal_cents`
stays. Nothing to hedge (flat, L under the hedge's threshold): everything goes back, as
stablesats does. Amounts are at 1-sat (1e-8) precision: brought in rounded, taken out floored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal

from pegkeeper.domain.collateral_policy import (
    CollateralAction,
    CollateralActionKind,
    CollateralDecision,
    CollateralInputs,
    sized_action,
)
from pegkeeper.domain.leverage import equity_for_distance, move_pnl, notional_at
from pegkeeper.domain.outlook import Outlook, OutlookParams
from pegkeeper.domain.units import floor_btc, round_btc

ZERO = Decimal(0)
ONE = Decimal(1)
HOURS_PER_YEAR = Decimal(365 * 24)
MAX_MOVE = Decimal("0.5")  # a fall of the mark to 0 would leave nothing to size against
PCT = Decimal(100)


@dataclass(frozen=True, slots=True)
class LiquidationFloorParams:
    floor_pct: Decimal = Decimal(20)  # the liquidation distance kept after one delay's stress
    target_pct: Decimal = Decimal(30)  # a top-up brings the projected distance here
    release_pct: Decimal = Decimal(50)  # above it, the trading account gives back to target
    price_move_sigmas: Decimal = Decimal(3)  # k
    volatility_floor_annual_pct: Decimal = Decimal(50)  # s_min, annualised over 365 x 24 h
    reserve_target_ratio: Decimal = Decimal(2)  # deposits bring the funding account to this R
    reserve_release_ratio: Decimal = Decimal(4)  # above this R the surplus is withdrawn
    minimum_transfer_amount_cents: int = 10_000  # a funding balance worth less is empty
    minimum_withdrawal_cents: int = 100_000  # smaller surpluses stay (each withdrawal pays a fee)
    minimum_liability_threshold_cents: int = 5_000  # the hedge policy's: below it, no hedge
    maintenance_margin_rate: Decimal = Decimal("0.004")
    exchange_leverage: Decimal = Decimal(4)  # the venue's cross leverage: initial margin
    inverse: bool = True  # BTC collateral of an inverse contract; False: USDT of a linear one
    estimator: OutlookParams = field(default_factory=OutlookParams)

    def __post_init__(self) -> None:
        if not 0 < self.floor_pct < self.target_pct < self.release_pct:
            raise ValueError(
                "expected 0 < floor_pct < target_pct < release_pct, got "
                f"{self.floor_pct}, {self.target_pct}, {self.release_pct}"
            )
        if not 1 <= self.reserve_target_ratio < self.reserve_release_ratio:
            raise ValueError(
                "expected 1 <= reserve_target_ratio < reserve_release_ratio, got "
                f"{self.reserve_target_ratio}, {self.reserve_release_ratio}"
            )
        for name in ("price_move_sigmas", "volatility_floor_annual_pct"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if min(self.minimum_transfer_amount_cents, self.minimum_withdrawal_cents) < 0:
            raise ValueError(
                "minimum_transfer_amount_cents and minimum_withdrawal_cents must be >= 0"
            )
        if not 0 <= self.maintenance_margin_rate < 1:
            raise ValueError(
                f"maintenance_margin_rate must be in [0, 1), got {self.maintenance_margin_rate}"
            )
        if self.exchange_leverage < 1:
            raise ValueError(f"exchange_leverage must be >= 1, got {self.exchange_leverage}")

    def equity_ratio(self, distance_pct: Decimal) -> Decimal:
        """Equity over notional that puts the liquidation price `distance_pct` % from the mark."""
        return equity_for_distance(
            -ONE, ONE, self.maintenance_margin_rate, distance_pct / PCT, self.inverse
        )

    @property
    def lift(self) -> Decimal:
        """How much every level is raised for the exchange's initial margin (1: not at all)."""
        return max(ONE, 1 / self.exchange_leverage / self.equity_ratio(self.floor_pct))

    @property
    def volatility_floor_per_sqrt_hour(self) -> Decimal:
        return self.volatility_floor_annual_pct / PCT / HOURS_PER_YEAR.sqrt()


@dataclass(frozen=True, slots=True)
class _Terms:
    mark: Decimal  # USD
    short_cents: int  # |E|
    protected_cents: int  # max(L, |E|)
    growth_cents: Decimal  # G
    move: Decimal  # u
    minimum_move: Decimal  # a balance worth less is empty, collateral currency
    minimum_withdrawal: Decimal


@dataclass(frozen=True, slots=True)
class _Needs:
    """need(d) at the three levels, and the reserve, for one decision."""

    floor: Decimal
    target: Decimal
    release: Decimal
    reserve: Decimal


@dataclass(frozen=True, slots=True)
class LiquidationFloorPolicy:
    params: LiquidationFloorParams = field(default_factory=LiquidationFloorParams)
    name: str = "liquidation-floor"
    # fixed by the params, computed once: equity over notional at the floor, the target and
    # the release, lifted; s_min per square root of an hour
    _ratios: tuple[Decimal, Decimal, Decimal] = field(init=False, repr=False, compare=False)
    _volatility_floor: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = self.params
        lift = p.lift
        floor, target, release = (
            p.equity_ratio(d) * lift for d in (p.floor_pct, p.target_pct, p.release_pct)
        )
        object.__setattr__(self, "_ratios", (floor, target, release))
        object.__setattr__(self, "_volatility_floor", p.volatility_floor_per_sqrt_hour)

    @property
    def high_bound_leverage(self) -> Decimal:
        """The leverage at the floor with nothing projected: a deposit on its way while the
        account is beyond it is late (its fee is bumped)."""
        p = self.params
        return min(1 / p.equity_ratio(p.floor_pct), p.exchange_leverage)

    @property
    def outlook(self) -> OutlookParams:
        return self.params.estimator

    def decide(self, inputs: CollateralInputs) -> CollateralDecision:
        action, rule = self._action(inputs)
        return CollateralDecision(inputs=inputs, action=action, rule=rule, policy=self.name)

    def wanted(self, inputs: CollateralInputs) -> tuple[Decimal, Decimal]:
        """(trading, funding): where a top-up and a deposit bring the accounts, for these
        inputs: need(target) and the reserve's target (the backtest starts there)."""
        needs = self._needs(self._terms(inputs))
        return round_btc(needs.target), round_btc(needs.reserve * self.params.reserve_target_ratio)

    def _action(self, inputs: CollateralInputs) -> tuple[CollateralAction, str]:
        p, t = self.params, self._terms(inputs)
        collateral, funding = inputs.collateral, inputs.funding_balance
        if (
            inputs.exposure_cents == 0
            and inputs.liability_cents < p.minimum_liability_threshold_cents
        ):
            return self._unhedged(collateral, funding, t)
        needs = self._needs(t)
        refill = needs.reserve * p.reserve_target_ratio
        if collateral < needs.floor:
            return self._bring_in(round_btc(needs.target - collateral), funding, refill, t)
        if collateral > needs.release:
            amount = floor_btc(collateral - needs.target)
            return sized_action(
                CollateralActionKind.TRANSFER_TO_FUNDING, amount, "3-above-release-out"
            )
        if funding < needs.reserve:
            amount = round_btc(refill - funding)
            if amount < t.minimum_move:
                return CollateralAction.hold(), "4-reserve-short-under-minimum"
            return CollateralAction(CollateralActionKind.DEPOSIT, amount), "4-reserve-short-deposit"
        if funding > needs.reserve * p.reserve_release_ratio:
            return self._withdraw(floor_btc(funding - refill), t, "5-reserve-surplus-withdraw")
        return CollateralAction.hold(), "6-inside-bands"

    def _unhedged(
        self, collateral: Decimal, funding: Decimal, t: _Terms
    ) -> tuple[CollateralAction, str]:
        if collateral > 0:
            amount = floor_btc(collateral)
            return sized_action(
                CollateralActionKind.TRANSFER_TO_FUNDING, amount, "1-unhedged-collateral-out"
            )
        return self._withdraw(floor_btc(funding), t, "1-unhedged-withdraw-all")

    def _withdraw(self, amount: Decimal, t: _Terms, rule: str) -> tuple[CollateralAction, str]:
        if amount <= 0 or amount < t.minimum_withdrawal:
            return CollateralAction.hold(), f"{rule}-under-minimum"
        return CollateralAction(CollateralActionKind.WITHDRAW, amount), rule

    def _bring_in(
        self, amount: Decimal, funding: Decimal, refill: Decimal, t: _Terms
    ) -> tuple[CollateralAction, str]:
        """From the funding account while it holds anything; onchain only when it is empty,
        with the reserve's refill."""
        if funding >= t.minimum_move:
            kind = CollateralActionKind.TRANSFER_TO_TRADING
            return sized_action(kind, min(funding, amount), "2-below-floor-transfer")
        deposit = round_btc(amount + refill - funding)
        return sized_action(CollateralActionKind.DEPOSIT, deposit, "2-below-floor-deposit")

    # -- sizes ---------------------------------------------------------------------------------

    def _terms(self, inputs: CollateralInputs) -> _Terms:
        p = self.params
        mark = inputs.mark_price_usd
        if mark is None:
            if not p.inverse:
                raise ValueError("a linear contract's inputs need mark_price_usd (the BTC mark)")
            mark = inputs.price_cents / PCT
        outlook = inputs.outlook or CALM
        move, growth = _stress(outlook, p.price_move_sigmas, self._volatility_floor)
        short = abs(inputs.exposure_cents)
        return _Terms(
            mark=mark,
            short_cents=short,
            protected_cents=max(inputs.liability_cents, short),
            growth_cents=growth,
            move=move,
            minimum_move=Decimal(p.minimum_transfer_amount_cents) / inputs.price_cents,
            minimum_withdrawal=Decimal(p.minimum_withdrawal_cents) / inputs.price_cents,
        )

    def _needs(self, t: _Terms) -> _Needs:
        """need(d) = the worse of a rise and a fall of the mark by u, with the growth G:
        notional after x equity ratio at d - gain of the short held now; the reserve from the
        bare floor (no growth, no move) to the target."""
        rise_notional, rise_gain = self._after(t, t.move, t.growth_cents)
        fall_notional, fall_gain = self._after(t, -t.move, t.growth_cents)
        floor, target, release = (
            max(rise_notional * ratio - rise_gain, fall_notional * ratio - fall_gain)
            for ratio in self._ratios
        )
        calm_notional, _ = self._after(t, ZERO, ZERO)
        reserve = max(ZERO, target - calm_notional * self._ratios[0])
        return _Needs(floor, target, release, reserve)

    def _after(self, t: _Terms, move: Decimal, growth: Decimal) -> tuple[Decimal, Decimal]:
        """(notional, gain) after the mark moves by `move` and the liability grows by `growth`
        cents: the hedge's notional at the moved mark, and what the move adds to the equity
        of the short held now (negative: a loss), in the collateral currency."""
        inverse = self.params.inverse
        new_mark = t.mark * (1 + move)
        held_now = -self._face(t.short_cents, t.mark)
        hedged_then = -(
            self._face(t.protected_cents, min(t.mark, new_mark)) + self._face(growth, new_mark)
        )
        notional = notional_at(hedged_then, new_mark, inverse)
        return notional, move_pnl(held_now, t.mark, new_mark, inverse)

    def _face(self, cents: int | Decimal, mark: Decimal) -> Decimal:
        """The hedge of `cents`: its face in USD (inverse), or in BTC at `mark` (linear)."""
        usd = Decimal(cents) / PCT
        return usd if self.params.inverse else usd / mark


CALM = Outlook()


@functools.lru_cache(maxsize=64)
def _stress(
    outlook: Outlook, sigmas: Decimal, volatility_floor: Decimal
) -> tuple[Decimal, Decimal]:
    """(u, G) of one deposit delay: the move of the mark, the growth of the liability in cents."""
    hours = outlook.deposit_delay_hours
    sigma = max(outlook.volatility_per_sqrt_hour, volatility_floor)
    move = min(sigmas * sigma * hours.sqrt(), MAX_MOVE)
    return move, outlook.liability_growth_cents_per_hour * hours
