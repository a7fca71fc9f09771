"""What the rebalancer's two counterparties answer (specs/equities.md, "Rebalancing"): the
chain, for the transactions pegkeeper signs itself, and the Alpaca Broker API, for tokenization
(mint, redeem), wallet transfers and the USD <-> USDC conversion.

Chain amounts are integers of the token's smallest unit; broker amounts are Decimals as the
broker states them. A transaction is signed locally before it is sent, so its hash is known,
and stored, before anything can reach the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pegkeeper.domain.orders import OrderSide


@dataclass(frozen=True, slots=True)
class ContractCall:
    """A call pegkeeper will sign: the contract, its ABI-encoded data, what it does in words."""

    to: str  # 0x address
    data: bytes
    purpose: str  # e.g. "wrap 10 AAPL", for logs and the audit trail
    gas_limit: int = 300_000


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction, kept before it is sent so that it can be sent again unchanged
    (same hash) or replaced at the same nonce with a higher fee."""

    tx_hash: str  # 0x-prefixed, lower case
    sender: str  # the signer's address, lower case
    nonce: int
    max_fee_per_gas_wei: int
    raw_hex: str  # the signed bytes, 0x-prefixed: public once sent, never a secret


class TxStatus(StrEnum):
    UNSEEN = "unseen"  # the node knows no such transaction
    PENDING = "pending"  # in the node's pool, not mined
    SUCCEEDED = "succeeded"  # mined with status 1, at least the configured confirmations deep
    REVERTED = "reverted"  # mined with status 0
    REPLACED = "replaced"  # its nonce was used by another transaction of the same signer


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    """An ERC-20 Transfer log of a receipt."""

    token: str  # lower case
    sender: str
    recipient: str
    amount_units: int


@dataclass(frozen=True, slots=True)
class TxOutcome:
    tx_hash: str
    status: TxStatus
    block_number: int | None = None
    transfers: tuple[TokenTransfer, ...] = ()  # from the receipt's logs, in log order
    fee_wei: int = 0  # gas used x effective gas price, once mined

    def received(self, token: str, recipient: str) -> int:
        """Units of `token` the receipt moved to `recipient`: what a step actually got, which
        may differ from what it asked for."""
        token, recipient = token.lower(), recipient.lower()
        return sum(
            t.amount_units for t in self.transfers if t.token == token and t.recipient == recipient
        )


class TokenizationKind(StrEnum):
    MINT = "mint"
    REDEEM = "redeem"


class TokenizationStatus(StrEnum):
    PENDING = "pending"  # Alpaca's `pending` and any state not known yet
    COMPLETED = "completed"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self is not TokenizationStatus.PENDING


@dataclass(frozen=True, slots=True)
class TokenizationRequest:
    request_id: str  # Alpaca's tokenization_request_id
    kind: TokenizationKind
    status: TokenizationStatus
    symbol: str  # the underlying
    qty: Decimal  # shares
    issuer_request_id: str  # pegkeeper's id for a mint; "" for a redeem it did not name
    tx_hash: str  # the mint's or the redemption transfer's hash, lower case; "" until known
    fees_usd: Decimal = Decimal(0)
    created_ms: int = 0


class WalletTransferStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (WalletTransferStatus.COMPLETE, WalletTransferStatus.FAILED)


class WalletDirection(StrEnum):
    OUTGOING = "OUTGOING"  # from the Alpaca wallet to an address
    INCOMING = "INCOMING"  # a deposit the broker detected


@dataclass(frozen=True, slots=True)
class WalletTransfer:
    transfer_id: str
    direction: WalletDirection
    asset: str  # "USDC"
    amount: Decimal  # as Alpaca states it
    status: WalletTransferStatus
    address: str  # the destination (outgoing) or the sender (incoming), lower case
    tx_hash: str = ""  # lower case, "" until the broker states it
    fees: Decimal = Decimal(0)
    created_ms: int = 0


class ConversionState(StrEnum):
    WORKING = "working"
    FILLED = "filled"
    FAILED = "failed"  # rejected (the collar), canceled, expired: may carry a partial fill


@dataclass(frozen=True, slots=True)
class CashConversion:
    """A `USDCUSD` order: buy USDC with USD (cash to the chain) or sell it (cash home)."""

    client_order_id: str
    side: OrderSide  # BUY: USD -> USDC
    state: ConversionState
    filled_qty_usdc: Decimal  # as filled, up to 9 dp; the chain side floors it to 6
    filled_notional_usd: Decimal
    message: str = ""  # the broker's reason for a failure


BRIDGE_STATUS_COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class BridgeBurn:
    """A burn on the source chain, minted to `recipient` on the destination's domain."""

    token_messenger: str
    amount_units: int
    destination_domain: int
    recipient: str
    burn_token: str
    max_fee_units: int = 0
    min_finality_threshold: int = 2000


@dataclass(frozen=True, slots=True)
class BridgeMessage:
    """One message of a burn transaction as the bridge's attestation service states it."""

    status: str  # "complete", "pending_confirmations"
    nonce: str  # 0x hex as the service states it
    message: bytes  # the attested message; empty until complete
    attestation: bytes  # the attesters' signatures; empty until complete

    @property
    def complete(self) -> bool:
        return (
            self.status == BRIDGE_STATUS_COMPLETE and bool(self.message) and bool(self.attestation)
        )
