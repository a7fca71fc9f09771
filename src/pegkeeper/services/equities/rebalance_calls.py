"""The rebalancer's contracts and the calls of its moves, for the configured addresses: each
stock's token, its ERC-4626 wrapper (when the vault holds it wrapped) and vault, USDC and its
vault, the orderbook (whose vaults these are) and the broker's redemption wallet.

Allowances are given once, at start, for every spender a move needs (the wrapper takes the
stock, the orderbook takes what is deposited): a move's steps then carry one transaction each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from pegkeeper.domain.equities.move_records import MoveRecord
from pegkeeper.domain.equities.transfers import ContractCall, TxStatus
from pegkeeper.domain.errors import InvalidInput
from pegkeeper.domain.units import (
    STOCK_TOKEN_UNITS_PER_SHARE,
    stock_units_to_shares,
    stock_units_truncated,
    usdc_units_to_usdc,
)
from pegkeeper.ports.inventory import ChainBalances, ChainSigner, ContractCalls

log = structlog.get_logger("pegkeeper.equities.rebalancer")

UNLIMITED_ALLOWANCE = 2**256 - 1
_ENOUGH_ALLOWANCE = 2**255  # an allowance this high is an unlimited one still being spent


@dataclass(frozen=True, slots=True)
class StockVault:
    symbol: str
    token: str  # the stock token: one token, one share (18 decimals)
    wrapper: str  # the ERC-4626 wrapper the vault holds, or "" (the vault holds the token)
    vault_id: int

    @property
    def vault_token(self) -> str:
        return self.wrapper or self.token


@dataclass(frozen=True, slots=True)
class VaultAccounts:
    orderbook: str
    usdc: str
    usdc_vault_id: int
    redemption_wallet: str
    stocks: Mapping[str, StockVault]
    token_messenger: str = ""  # the bridge's on this chain, when cash crosses one


class ChainCalls:
    def __init__(
        self,
        accounts: VaultAccounts,
        calls: ContractCalls,
        signer: ChainSigner,
        balances: ChainBalances,
    ) -> None:
        self.accounts = accounts
        self._calls = calls
        self._signer = signer
        self._balances = balances

    @property
    def usdc(self) -> str:
        return self.accounts.usdc

    @property
    def usdc_vault_id(self) -> int:
        return self.accounts.usdc_vault_id

    def stock(self, symbol: str) -> StockVault:
        try:
            return self.accounts.stocks[symbol]
        except KeyError:
            known = ", ".join(sorted(self.accounts.stocks)) or "none"
            raise InvalidInput(f"no vault configured for {symbol}; configured: {known}") from None

    def wrap(self, stock: StockVault, units: int) -> ContractCall:
        return self._calls.wrap(stock.wrapper, units, self._signer.address)

    def unwrap(self, stock: StockVault, units: int) -> ContractCall:
        return self._calls.unwrap(stock.wrapper, units, self._signer.address)

    def deposit(self, token: str, vault_id: int, units: int) -> ContractCall:
        return self._calls.vault_deposit(self.accounts.orderbook, token, vault_id, units)

    def withdraw(self, token: str, vault_id: int, units: int) -> ContractCall:
        return self._calls.vault_withdraw(self.accounts.orderbook, token, vault_id, units)

    def to_redemption(self, stock: StockVault, units: int) -> ContractCall:
        return self._calls.transfer(stock.token, self.accounts.redemption_wallet, units)

    def transfer_usdc(self, recipient: str, units: int) -> ContractCall:
        return self._calls.transfer(self.accounts.usdc, recipient, units)

    def transfer(self, token: str, recipient: str, units: int) -> ContractCall:
        return self._calls.transfer(token, recipient, units)

    async def vault_units_for_shares(self, stock: StockVault, shares: Decimal) -> int:
        """The vault token's units holding `shares` (wrapped at the wrapper's ratio now),
        truncated: a withdrawal never asks for more than the move."""
        units = stock_units_truncated(shares)
        if not stock.wrapper:
            return units
        block = await self._balances.pin()
        assets_per_token = await self._balances.wrapper_assets(
            stock.wrapper, STOCK_TOKEN_UNITS_PER_SHARE, block
        )
        return units * STOCK_TOKEN_UNITS_PER_SHARE // assets_per_token

    def amount_of(self, token: str | None, move: MoveRecord, units: int) -> Decimal:
        """Units of the move's token as shares or USDC."""
        if move.kind.is_cash:
            return usdc_units_to_usdc(units)
        return stock_units_to_shares(units)

    def spenders(self) -> list[tuple[str, str]]:
        """(token, spender) pairs the moves need allowances for."""
        pairs = [(self.accounts.usdc, self.accounts.orderbook)]
        if self.accounts.token_messenger:
            pairs.append((self.accounts.usdc, self.accounts.token_messenger))
        for stock in self.accounts.stocks.values():
            pairs.append((stock.vault_token, self.accounts.orderbook))
            if stock.wrapper:
                pairs.append((stock.token, stock.wrapper))
        return pairs

    async def missing_allowances(self) -> list[ContractCall]:
        """The approvals still to give (unlimited), at the head."""
        return await missing_approvals(
            self._balances, self._calls, self._signer.address, self.spenders()
        )


async def missing_approvals(
    balances: ChainBalances, builder: ContractCalls, owner: str, pairs: list[tuple[str, str]]
) -> list[ContractCall]:
    block = await balances.pin()
    missing = []
    for token, spender in pairs:
        allowed = await balances.allowance(token, owner, spender, block)
        if allowed < _ENOUGH_ALLOWANCE:
            missing.append(builder.approve(token, spender, UNLIMITED_ALLOWANCE))
    return missing


async def give_allowances(calls: ChainCalls, signer: ChainSigner) -> list[str]:
    """Signs and sends the missing approvals at the chain's next nonces; the hashes sent. An
    approval sent twice (a restart before it was mined) sets the same allowance again."""
    return await send_approvals(signer, await calls.missing_allowances())


async def send_approvals(signer: ChainSigner, calls: list[ContractCall]) -> list[str]:
    sent = []
    for call in calls:
        nonce = await signer.next_nonce(0)
        tx = await signer.sign(call, nonce)
        await signer.send(tx)
        log.info("allowance given", purpose=call.purpose, tx_hash=tx.tx_hash)
        sent.append(tx.tx_hash)
    return sent


async def allowances_mined(signer: ChainSigner, hashes: list[str]) -> bool:
    for tx_hash in hashes:
        if (await signer.receipt(tx_hash, 1)).status is not TxStatus.SUCCEEDED:
            return False
    return True
