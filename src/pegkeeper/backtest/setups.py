"""Setups: named sets of settings overrides that the backtester runs side by side.

A setup is the hedge policy (`[hedger] policy`), the funding policy (`[funding] policy`) and
the allocation of the hedge (`[allocation]`), written as dotted settings keys, e.g.
`{"hedger.policy": "maker-band", "funding.policy": "stablesats"}`. `pegkeeper backtest` runs
`stablesats` (Galoy's rules) beside `pegkeeper` (the product's default) and says which it
would choose (backtest/choice.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from pegkeeper.config import Settings

Overrides = Mapping[str, Any]  # dotted settings key -> value

PERPETUAL_ONLY: Overrides = {"allocation.legs": []}  # the whole hedge on the one instrument

# The product's default: maker-band's hedge, the collateral kept above its liquidation floor,
# the hedge split between the perpetual and the rolling quarterly by carry.
CARRY_LEGS: Overrides = {
    "allocation.legs": [
        {"instrument_id": "BTC-USD-SWAP"},
        {"instrument_id": "BTC-USD-QUARTERLY"},
    ],
    "allocation.carry.enabled": True,
}
PRODUCT_DEFAULT: Overrides = MappingProxyType(
    {"hedger.policy": "maker-band", "funding.policy": "liquidation-floor", **CARRY_LEGS}
)
STABLESATS: Overrides = MappingProxyType(
    {"hedger.policy": "stablesats", "funding.policy": "stablesats", **PERPETUAL_ONLY}
)
SETUPS: Mapping[str, Overrides] = MappingProxyType(
    {"stablesats": STABLESATS, "pegkeeper": PRODUCT_DEFAULT}
)
DEFAULT_SETUPS = ("stablesats", "pegkeeper")  # what `pegkeeper backtest` compares by default


class SetupError(ValueError):
    """An unknown setup, or overrides that the settings refuse; the message names the key."""


@dataclass(frozen=True, slots=True)
class Setup:
    """What one run of a backtest is called and what it changes in the settings."""

    name: str
    overrides: Overrides


def named_setup(name: str) -> Setup:
    if name not in SETUPS:
        raise SetupError(f"unknown setup {name!r}; expected one of {', '.join(SETUPS)}")
    return Setup(name, SETUPS[name])


def policy_setup(policy: str) -> Setup:
    """A hedge policy alone: everything else (the funding policy too) from the settings."""
    return Setup(policy, {"hedger.policy": policy})


def apply_overrides(settings: Settings, overrides: Overrides) -> Settings:
    """`settings` with each dotted key set to its value, validated as a whole."""
    if not overrides:
        return settings
    data = settings.model_dump(by_alias=True)
    for key, value in overrides.items():
        _set(data, key, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise SetupError(_describe(error, overrides)) from None


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    *sections, name = key.split(".")
    table = data
    for depth, section in enumerate(sections):
        inner = table.get(section)
        if not isinstance(inner, dict):
            where = ".".join(sections[: depth + 1])
            what = "an unknown section" if inner is None else "not a section"
            raise SetupError(f"{key}: {where} is {what}; expected a dotted settings key")
        table = inner
    if name not in table:
        raise SetupError(f"{key}: unknown key (see examples/pegkeeper.toml for every key)")
    table[name] = value


def _describe(error: ValidationError, overrides: Overrides) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        given = f" (got {overrides[key]!r})" if key in overrides else ""
        lines.append(f"{key}: {message}{given}")
    return "; ".join(lines)
