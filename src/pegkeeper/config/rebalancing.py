"""Settings of `[equities.rebalancing]`: moving inventory between the chain and the broker
(specs/equities.md, "Rebalancing"). Only the Alpaca Broker API can mint and redeem, so it needs
`[equities] broker = "alpaca-broker"`.

The signing key is the maker's (the vaults are its address's): from the environment only,
PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY, 0x and 64 hexadecimal digits; never shown.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.moves import MoveStep

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PRIVATE_KEY = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _address(value: str) -> str:
    if value and not ADDRESS.match(value):
        raise ValueError("expected an address: 0x and 40 hexadecimal digits")
    return value.lower()


Address = Annotated[str, AfterValidator(_address)]


class BandSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Decimal = Field(gt=0, lt=1)  # the onchain share a move brings it back to
    deviation: Decimal = Field(gt=0, lt=1)  # how far from the target before a move

    @model_validator(mode="after")
    def _inside(self) -> BandSettings:
        if self.target - self.deviation < 0 or self.target + self.deviation > 1:
            raise ValueError(
                f"target {self.target} +- deviation {self.deviation} leaves 0..1: narrow it"
            )
        return self


class BridgeSettings(BaseModel):
    """Where the broker's wallet chain is not the orderbook's: USDC crosses by burning on one
    chain and minting on the other (Circle CCTP v2), with the attestation service between."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    wallet_rpc_url: SecretStr = SecretStr("")  # the broker wallet's chain; may carry a key
    wallet_usdc: Address = ""  # USDC on the wallet's chain
    wallet_domain: int = Field(0, ge=0)  # CCTP domain ids (Ethereum 0, Base 6)
    orderbook_domain: int = Field(6, ge=0)
    wallet_token_messenger: Address = ""
    wallet_message_transmitter: Address = ""
    orderbook_token_messenger: Address = ""
    orderbook_message_transmitter: Address = ""
    attestation_url: str = "https://iris-api.circle.com"
    max_fee_units: int = Field(0, ge=0)  # the fast-transfer fee a burn allows, USDC units
    min_finality_threshold: int = Field(2000, ge=0)  # 2000: finalized (standard transfer)

    @model_validator(mode="after")
    def _check(self) -> BridgeSettings:
        if not self.enabled:
            return self
        named = {
            "wallet_rpc_url": self.wallet_rpc_url.get_secret_value(),
            "wallet_usdc": self.wallet_usdc,
            "wallet_token_messenger": self.wallet_token_messenger,
            "wallet_message_transmitter": self.wallet_message_transmitter,
            "orderbook_token_messenger": self.orderbook_token_messenger,
            "orderbook_message_transmitter": self.orderbook_message_transmitter,
        }
        missing = [key for key, value in named.items() if not value]
        if missing:
            raise ValueError(f"bridge enabled = true needs {', '.join(missing)}")
        if self.wallet_domain == self.orderbook_domain:
            raise ValueError(
                f"bridge: wallet_domain and orderbook_domain are both {self.wallet_domain}: a "
                "bridge joins two chains (disable it when the broker's wallet is on the "
                "orderbook's chain)"
            )
        return self


class RebalancingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    signer_key: SecretStr = SecretStr("")
    issuer: str = "st0x"  # the tokenization issuer, as Alpaca names it
    network: str = "base"  # the chain the tokens are minted on, as Alpaca names it
    redemption_wallet: Address = ""  # the issuer's: stock tokens sent here are redeemed
    vault_ids: dict[str, int] = Field(default_factory=dict)  # by symbol, and "USD" for USDC
    stock_band: BandSettings = BandSettings(target=Decimal("0.5"), deviation=Decimal("0.05"))
    cash_band: BandSettings = BandSettings(target=Decimal("0.6"), deviation=Decimal("0.05"))
    bands: dict[str, BandSettings] = Field(default_factory=dict)  # per asset, over the above
    max_shares_per_move: Decimal = Field(Decimal(1_000), gt=0)
    max_usd_per_move: Decimal = Field(Decimal(50_000), gt=0)
    interval_seconds: float = Field(30.0, gt=0)
    confirmations: int = Field(1, ge=1, le=1_000)
    fee_bump_after_seconds: float = Field(120.0, gt=0)
    fee_bump_factor: Decimal = Field(Decimal("1.25"), ge=Decimal("1.1"), le=10)
    step_timeouts_seconds: dict[str, float] = Field(default_factory=dict)  # by step name
    # the chain's native token in USD, to count gas in the equities P&L (required when enabled)
    gas_token_price_usd: Decimal = Field(Decimal(0), ge=0)
    bridge: BridgeSettings = BridgeSettings()

    @model_validator(mode="after")
    def _check(self) -> RebalancingSettings:
        steps = {step.value for step in MoveStep}
        unknown = sorted(set(self.step_timeouts_seconds) - steps)
        if unknown:
            raise ValueError(
                f"step_timeouts_seconds names {', '.join(unknown)}: expected step names "
                f"({', '.join(sorted(steps))})"
            )
        bad = [name for name, seconds in self.step_timeouts_seconds.items() if seconds <= 0]
        if bad:
            raise ValueError(f"step_timeouts_seconds: {', '.join(bad)} must be > 0 seconds")
        key = self.signer_key.get_secret_value()
        if key and not PRIVATE_KEY.match(key):
            raise ValueError("signer_key: expected 0x and 64 hexadecimal digits (not shown)")
        if self.enabled:
            self._check_required()
        return self

    def _check_required(self) -> None:
        missing = []
        if not self.signer_key.get_secret_value():
            missing.append("signer_key (PEGKEEPER_EQUITIES__REBALANCING__SIGNER_KEY)")
        if not self.redemption_wallet:
            missing.append("redemption_wallet (the issuer's redemption address)")
        if self.gas_token_price_usd <= 0:
            missing.append("gas_token_price_usd (the native token's price, to count gas)")
        if CASH_ASSET not in self.vault_ids:
            missing.append(f"vault_ids.{CASH_ASSET} (the USDC vault's id)")
        if missing:
            raise ValueError(f"rebalancing enabled = true needs {', '.join(missing)}")
