"""The ports of inventory rebalancing (specs/equities.md, "Rebalancing"): the chain, where
pegkeeper signs its own transactions and reads balances at a pinned block; the attestation
service of the bridge; and the broker's tokenization, wallet and USDC conversion endpoints.

Chain amounts are integers of the token's smallest unit. Every method raises a ChainError or
a VenueError (domain.errors) when the other side did not answer; an uncertain request is looked
up (`outcome`, `tokenization_request_by_issuer_id`, `wallet_transfers`, `conversion`) before it
is repeated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from pegkeeper.domain.equities.transfers import (
    BridgeBurn,
    BridgeMessage,
    CashConversion,
    ContractCall,
    SignedTx,
    TokenizationKind,
    TokenizationRequest,
    TxOutcome,
    WalletTransfer,
)
from pegkeeper.domain.orders import OrderSide


class ChainSigner(Protocol):
    """One signing account: its transactions are signed here, so their hashes are known and
    stored before they are sent."""

    @property
    def address(self) -> str: ...

    async def chain_nonce(self, pending: bool) -> int:
        """The account's next nonce: counting its pending transactions, or mined ones only."""
        ...

    async def next_nonce(self, stored_next: int) -> int:
        """max(`stored_next`, the node's pending nonce): the caller reserves it in the store."""
        ...

    async def sign(
        self, call: ContractCall, nonce: int, max_fee_per_gas_wei: int | None = None
    ) -> SignedTx: ...

    async def send(self, tx: SignedTx) -> None:
        """Idempotent: the same signed bytes sent again are not a second transaction.
        TransactionRefused: not taken, and never will be."""
        ...

    async def outcome(self, tx_hash: str, nonce: int, confirmations: int) -> TxOutcome: ...

    async def receipt(self, tx_hash: str, confirmations: int) -> TxOutcome:
        """Any account's transaction (the broker's mint, a deposit): SUCCEEDED with its
        transfers once `confirmations` deep; REPLACED is not told apart from UNSEEN."""
        ...

    async def bump(self, tx: SignedTx, call: ContractCall, factor: Decimal) -> SignedTx:
        """The same call at the same nonce with higher fees: it replaces `tx` if mined first."""
        ...


class ChainBalances(Protocol):
    """Reads at a block; ChainLagging when the node's head is below it."""

    async def pin(self, min_block: int = 0) -> int:
        """The block to read at: the node's head, at least `min_block`."""
        ...

    async def vault_balance(self, owner: str, token: str, vault_id: int, block: int) -> int: ...

    async def token_balance(self, token: str, holder: str, block: int) -> int: ...

    async def allowance(self, token: str, owner: str, spender: str, block: int) -> int: ...

    async def wrapper_assets(self, wrapper: str, shares_units: int, block: int) -> int:
        """ERC-4626 convertToAssets at `block`."""
        ...

    async def bridge_nonce_used(self, message_transmitter: str, nonce: bytes, block: int) -> bool:
        """Whether the destination chain already minted the message with this nonce."""
        ...


class Attestations(Protocol):
    async def messages(self, source_domain: int, tx_hash: str) -> tuple[BridgeMessage, ...]:
        """The burn transaction's messages; () while the service has not seen it."""
        ...


class InventoryBroker(Protocol):
    """The Alpaca Broker API's tokenization, wallets and the `USDCUSD` conversion."""

    async def request_mint(
        self, symbol: str, qty_shares: Decimal, wallet_address: str, issuer_request_id: str
    ) -> TokenizationRequest: ...

    async def tokenization_request_by_issuer_id(
        self, issuer_request_id: str
    ) -> TokenizationRequest:
        """NotFound when the broker has no request with this id."""
        ...

    async def tokenization_requests(
        self, kind: TokenizationKind, since_ms: int
    ) -> list[TokenizationRequest]: ...

    async def deposit_address(self, asset: str) -> str: ...

    async def withdraw_usdc(self, amount_usdc: Decimal, address: str) -> WalletTransfer: ...

    async def wallet_transfers(self, since_ms: int) -> list[WalletTransfer]: ...

    async def convert(
        self,
        client_order_id: str,
        side: OrderSide,
        *,
        notional_usd: Decimal | None = None,
        qty_usdc: Decimal | None = None,
    ) -> CashConversion: ...

    async def conversion(self, client_order_id: str) -> CashConversion:
        """NotFound when the broker has no order with this client id."""
        ...

    async def usdc_balance(self) -> Decimal: ...


class ContractCalls(Protocol):
    """The calls of the moves, ABI-encoded: ERC-20, the ERC-4626 wrapper, the Raindex vault."""

    def transfer(self, token: str, recipient: str, amount_units: int) -> ContractCall: ...

    def approve(self, token: str, spender: str, amount_units: int) -> ContractCall: ...

    def wrap(self, wrapper: str, assets_units: int, receiver: str) -> ContractCall: ...

    def unwrap(self, wrapper: str, shares_units: int, owner: str) -> ContractCall:
        """Redeems the owner's shares to the owner."""
        ...

    def vault_deposit(
        self, orderbook: str, token: str, vault_id: int, amount_units: int
    ) -> ContractCall: ...

    def vault_withdraw(
        self, orderbook: str, token: str, vault_id: int, target_units: int
    ) -> ContractCall: ...

    def burn(self, burn: BridgeBurn) -> ContractCall:
        """The bridge's depositForBurn on the source chain."""
        ...

    def receive(self, message_transmitter: str, message: BridgeMessage) -> ContractCall:
        """The bridge's receiveMessage on the destination chain: mints once per nonce."""
        ...

    def message_nonce(self, message: BridgeMessage) -> bytes: ...
