"""Settings of the funding manager ([funding]), its alerts ([alerts]) and the allocation of
the hedge across instruments ([allocation]).

The bitcoind URL and credentials and the webhook URL (which carries a token) are read from
the environment only: PEGKEEPER_FUNDING__WALLET__BITCOIND_URL, __BITCOIND_USER,
__BITCOIND_PASSWORD and PEGKEEPER_ALERTS__WEBHOOK_URL. A file that sets them is refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from pegkeeper.config.carry import CarrySettings
from pegkeeper.domain.floor_policy import LiquidationFloorParams
from pegkeeper.domain.outlook import OutlookParams
from pegkeeper.domain.venue import PRIMARY_VENUE

# Keys that hold secrets: never read from a file, never shown in an error.
ENV_ONLY_KEYS = {
    "funding.wallet": ("bitcoind_url", "bitcoind_user", "bitcoind_password"),
    "alerts": ("webhook_url",),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _ordered(values: list[Decimal], names: str) -> None:
    if values != sorted(values) or values[0] <= 0:
        raise ValueError(f"expected 0 < {names}, got {[str(v) for v in values]}")


class StablesatsFundingSettings(_Section):
    minimum_transfer_amount_cents: int = Field(10_000, ge=0)
    minimum_funding_balance_btc: Decimal = Field(Decimal(1), ge=0)
    low_bound_ratio_leverage: Decimal = Decimal(2)
    low_safebound_ratio_leverage: Decimal = Decimal(3)
    high_safebound_ratio_leverage: Decimal = Decimal(3)
    high_bound_ratio_leverage: Decimal = Decimal(4)
    high_bound_buffer_percentage: Decimal = Field(Decimal("0.9"), gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> StablesatsFundingSettings:
        _ordered(
            [
                self.low_bound_ratio_leverage,
                self.low_safebound_ratio_leverage,
                self.high_safebound_ratio_leverage,
                self.high_bound_ratio_leverage,
            ],
            "low_bound <= low_safebound <= high_safebound <= high_bound (leverage)",
        )
        return self


class GaloyDealerFundingSettings(_Section):
    withdraw_all_below_cents: int = Field(10_000, ge=0)
    minimum_transfer_amount_cents: int = Field(10_000, ge=0)
    minimum_funding_balance_btc: Decimal = Field(Decimal(1), ge=0)
    low_bound_ratio_leverage: Decimal = Decimal("1.2")
    low_safebound_ratio_leverage: Decimal = Decimal("1.8")
    high_safebound_ratio_leverage: Decimal = Decimal("2.25")
    high_bound_ratio_leverage: Decimal = Decimal(3)
    high_bound_buffer_percentage: Decimal = Field(Decimal("0.9"), gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> GaloyDealerFundingSettings:
        _ordered(
            [
                self.low_bound_ratio_leverage,
                self.low_safebound_ratio_leverage,
                self.high_safebound_ratio_leverage,
                self.high_bound_ratio_leverage,
            ],
            "low_bound <= low_safebound <= high_safebound <= high_bound (leverage)",
        )
        return self


class LiquidationFloorFundingSettings(_Section):
    """`[funding.liquidation_floor]`: domain/floor_policy.py explains each number."""

    floor_pct: Decimal = Decimal(20)  # liquidation distance kept through one delay's stress
    target_pct: Decimal = Decimal(30)  # a top-up brings the projected distance here
    release_pct: Decimal = Decimal(50)  # above it, the trading account gives back to target
    price_move_sigmas: Decimal = Decimal(3)
    volatility_floor_annual_pct: Decimal = Decimal(50)
    reserve_target_ratio: Decimal = Decimal(2)
    reserve_release_ratio: Decimal = Decimal(4)
    minimum_transfer_amount_cents: int = 10_000
    minimum_withdrawal_cents: int = 100_000
    window_minutes: int = Field(60, gt=0)  # the growth and the volatility are measured over it
    sample_seconds: int = Field(60, gt=0)
    deposit_delay_minutes: int = Field(60, ge=0)  # at least; longer deposits seen raise it

    @model_validator(mode="after")
    def _check(self) -> LiquidationFloorFundingSettings:
        self.params()  # the domain's checks, with their messages
        return self

    def params(
        self,
        *,
        maintenance_margin_rate: Decimal = Decimal("0.004"),
        exchange_leverage: Decimal = Decimal(4),
        inverse: bool = True,
        minimum_liability_threshold_cents: int = 5_000,
    ) -> LiquidationFloorParams:
        return LiquidationFloorParams(
            floor_pct=self.floor_pct,
            target_pct=self.target_pct,
            release_pct=self.release_pct,
            price_move_sigmas=self.price_move_sigmas,
            volatility_floor_annual_pct=self.volatility_floor_annual_pct,
            reserve_target_ratio=self.reserve_target_ratio,
            reserve_release_ratio=self.reserve_release_ratio,
            minimum_transfer_amount_cents=self.minimum_transfer_amount_cents,
            minimum_withdrawal_cents=self.minimum_withdrawal_cents,
            minimum_liability_threshold_cents=minimum_liability_threshold_cents,
            maintenance_margin_rate=maintenance_margin_rate,
            exchange_leverage=exchange_leverage,
            inverse=inverse,
            estimator=OutlookParams(
                window_seconds=self.window_minutes * 60,
                sample_seconds=self.sample_seconds,
                deposit_delay_seconds=self.deposit_delay_minutes * 60,
            ),
        )


class WalletSettings(_Section):
    # sim: a simulated chain wired to the simulated exchange (the demo); bitcoind: a Bitcoin
    # Core node's wallet over JSON-RPC; none: no onchain moves (they are refused and alerted).
    kind: Literal["sim", "bitcoind", "none"] = "sim"
    bitcoind_url: SecretStr = SecretStr("")  # http://host:8332, from the environment
    bitcoind_wallet: str = ""  # the node's wallet name; empty: its default wallet
    bitcoind_user: SecretStr = SecretStr("")
    bitcoind_password: SecretStr = SecretStr("")
    timeout_seconds: float = Field(10.0, gt=0)
    sim_balance_btc: Decimal = Field(Decimal(10), ge=0)  # the simulated wallet's starting coins
    sim_block_interval_seconds: float = Field(600.0, gt=0)
    sim_min_fee_rate_sat_vb: Decimal = Field(Decimal(1), ge=1)  # raise it to congest the mempool


class FundingSettingsModel(_Section):
    enabled: bool = True
    policy: Literal["stablesats", "galoy-dealer", "liquidation-floor"] = "stablesats"
    check_interval_seconds: float = Field(10.0, gt=0)
    lookup_window_seconds: float = Field(30.0, gt=0)  # unanswered transfer not found: lost
    deposit_lookup_window_seconds: float = Field(600.0, gt=0)  # no send found: held, alert
    deposit_timeout_seconds: float = Field(3_600.0, gt=0)  # not credited by then: lost, alert
    deposit_fee_rate_sat_vb: Decimal = Field(Decimal(5), ge=1)
    fee_bump_after_seconds: float = Field(600.0, gt=0)  # unconfirmed this long: bump
    fee_bump_step_sat_vb: Decimal = Field(Decimal(5), gt=0)
    max_fee_rate_sat_vb: Decimal = Field(Decimal(100), ge=1)
    deposit_jitter_max_sats: int = Field(1_000, ge=1)  # 1 to this many sats added
    withdrawal_address: str = ""  # empty: a new address of the wallet for each withdrawal
    maintenance_margin_rate: Decimal = Field(Decimal("0.004"), ge=0, lt=1)
    leverage_snapshot_interval_seconds: float = Field(60.0, gt=0)
    account_check_interval_seconds: float = Field(3_600.0, gt=0)
    usdt_minimum_funding_balance: Decimal = Field(Decimal(1_000), ge=0)  # linear swaps' USDT
    stablesats: StablesatsFundingSettings = StablesatsFundingSettings()
    galoy_dealer: GaloyDealerFundingSettings = GaloyDealerFundingSettings()
    liquidation_floor: LiquidationFloorFundingSettings = LiquidationFloorFundingSettings()
    wallet: WalletSettings = WalletSettings()

    @model_validator(mode="after")
    def _check_fees(self) -> FundingSettingsModel:
        if self.max_fee_rate_sat_vb < self.deposit_fee_rate_sat_vb:
            raise ValueError(
                "max_fee_rate_sat_vb must be at least deposit_fee_rate_sat_vb "
                f"({self.deposit_fee_rate_sat_vb})"
            )
        return self

    @property
    def high_bound_leverage(self) -> Decimal:
        """The policy's highest leverage; liquidation-floor's at its floor (an inverse short,
        before the exchange's initial margin lifts it: its policy object says after)."""
        if self.policy == "liquidation-floor":
            return self._leverage_at(self.liquidation_floor.floor_pct)
        return self._chosen.high_bound_ratio_leverage

    @property
    def low_bound_leverage(self) -> Decimal:
        """The policy's lowest leverage; liquidation-floor's at its release distance."""
        if self.policy == "liquidation-floor":
            return self._leverage_at(self.liquidation_floor.release_pct)
        return self._chosen.low_bound_ratio_leverage

    def _leverage_at(self, distance_pct: Decimal) -> Decimal:
        params = self.liquidation_floor.params(maintenance_margin_rate=self.maintenance_margin_rate)
        return 1 / params.equity_ratio(distance_pct)

    @property
    def _chosen(self) -> StablesatsFundingSettings | GaloyDealerFundingSettings:
        return self.stablesats if self.policy == "stablesats" else self.galoy_dealer


class AlertsSettingsModel(_Section):
    webhook_url: SecretStr = SecretStr("")  # empty: alerts are logged and stored only
    format: Literal["slack", "discord", "telegram", "json"] = "json"
    telegram_chat_id: str = ""  # format = "telegram"
    timeout_seconds: float = Field(5.0, gt=0)
    liquidation_distance_floor_pct: Decimal = Field(Decimal(20), gt=0, lt=100)
    feed_stale_after_seconds: float = Field(120.0, gt=0)
    hedge_outside_brackets_seconds: float = Field(300.0, gt=0)
    repeat_after_seconds: float = Field(1_800.0, gt=0)  # an ongoing condition, again after


class LegSettings(_Section):
    instrument_id: str  # on its venue; BTC-USD-QUARTERLY: the quarterly future, rolled
    weight: Decimal = Field(Decimal(1), gt=0)
    venue: str = PRIMARY_VENUE  # [venue], or the name of a [venues.<name>] section


class AllocationSettings(_Section):
    # Empty: the whole liability on [hedger] instrument_id. Otherwise the liability is split
    # across these instruments by weight, each hedged on its own.
    legs: list[LegSettings] = Field(default_factory=list)
    roll_lead_hours: float = Field(24.0, ge=0, le=24 * 60)  # a quarterly rolls this early
    carry: CarrySettings = CarrySettings()  # the weights moved by carry (config/carry.py)

    @model_validator(mode="after")
    def _check_legs(self) -> AllocationSettings:
        ids = [leg.instrument_id for leg in self.legs]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"each instrument once, got {', '.join(repeated)} more than once")
        return self
