"""Hedge policies by name, with their parameters from `[hedger]`."""

from __future__ import annotations

from pegkeeper.config import Settings
from pegkeeper.domain.band_policy import BAND_POLICY_NAME, BandHedgeParams, BandHedgePolicy
from pegkeeper.domain.hedge_policy import HedgePolicy, StablesatsHedgeParams, StablesatsHedgePolicy

POLICY_NAMES = ("stablesats", BAND_POLICY_NAME)


class UnknownPolicy(ValueError):
    """A policy name that is not one of POLICY_NAMES."""


def hedge_policy(settings: Settings, name: str | None = None) -> HedgePolicy:
    """The policy `name` (by default `[hedger] policy`) with its configured parameters."""
    chosen = name or settings.hedger.policy
    if chosen == "stablesats":
        return StablesatsHedgePolicy(
            StablesatsHedgeParams(**settings.hedger.stablesats.model_dump())
        )
    if chosen == BAND_POLICY_NAME:
        return BandHedgePolicy(BandHedgeParams(**settings.hedger.maker_band.model_dump()))
    raise UnknownPolicy(
        f"unknown hedge policy {chosen!r}; expected one of {', '.join(POLICY_NAMES)}"
    )
