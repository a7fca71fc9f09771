"""Settings of the hedge policies beside stablesats' (in config.py): `[hedger.maker_band]`."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MakerBandPolicySettings(BaseModel):
    """The `maker-band` policy (domain/band_policy.py): an exact hedge kept within a band of
    contracts, post-only orders inside the urgent bound, market orders beyond it."""

    model_config = ConfigDict(extra="forbid")

    minimum_liability_threshold_cents: int = Field(5_000, ge=0)
    band_ratio: Decimal = Field(Decimal("0.02"), ge=0, lt=1)
    min_band_contracts: int = Field(2, ge=0)
    urgent_ratio: Decimal = Field(Decimal("0.04"), ge=0, lt=1)
    min_urgent_contracts: int = Field(4, ge=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> MakerBandPolicySettings:
        if self.urgent_ratio < self.band_ratio:
            raise ValueError(
                f"expected band_ratio <= urgent_ratio, got {self.band_ratio} > {self.urgent_ratio}"
            )
        if self.min_urgent_contracts < self.min_band_contracts:
            raise ValueError(
                "expected min_band_contracts <= min_urgent_contracts, got "
                f"{self.min_band_contracts} > {self.min_urgent_contracts}"
            )
        return self
