"""What the simulated Alpaca does onchain: mint the stock tokens of a completed mint, send the
USDC of a withdrawal, and read the ERC-20 transfers into its own addresses (the redemption
wallet, the USDC deposit address). `ChainEffects` is that boundary; `MemoryChain` keeps it in
memory for fast tests, `alpaca_web3_chain.Web3Chain` does it on a node (anvil).

Stock tokens have 18 decimals and USDC 6, as the test tokens do; amounts onchain are integers
of the smallest unit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple, Protocol

STOCK_DECIMALS = 18
USDC_DECIMALS = 6
ZERO_ADDRESS = "0x" + "0" * 40


class ChainTransfer(NamedTuple):
    """An ERC-20 Transfer log: which token, from whom, how many units, in which transaction."""

    token: str  # lower case
    sender: str  # lower case
    amount_units: int
    tx_hash: str  # 0x, lower case
    block: int


class ChainEffects(Protocol):
    @property
    def usdc_token(self) -> str:
        """The USDC token's address, lower case."""
        ...

    def symbol_of(self, token: str) -> str | None:
        """The underlying symbol of a stock token (None: not a stock token)."""
        ...

    async def mint_tokens(self, symbol: str, wallet_address: str, qty: Decimal) -> str:
        """Mints `qty` shares' worth of the symbol's token to the wallet; the tx hash."""
        ...

    async def send_usdc(self, address: str, amount: Decimal) -> str:
        """Sends `amount` USDC (6 dp) to the address; the tx hash."""
        ...

    async def transfers_to(self, address: str, since_block: int) -> list[ChainTransfer]:
        """Every transfer of a known token (stock tokens, USDC) into `address`, from block
        `since_block` on, in chain order."""
        ...


def stock_units(qty: Decimal) -> int:
    """Shares to stock-token units (18 dp); Alpaca's quantities have at most 9 dp, so exact."""
    return int((qty * 10**STOCK_DECIMALS).to_integral_value(rounding=ROUND_DOWN))


def stock_qty_truncated(amount_units: int) -> Decimal:
    """Stock-token units to shares at Alpaca's 9 decimals, truncated."""
    shares = Decimal(amount_units).scaleb(-STOCK_DECIMALS)
    return shares.quantize(Decimal("1e-9"), rounding=ROUND_DOWN)


def usdc_units(amount: Decimal) -> int:
    """USDC to units (6 dp), rounded down."""
    return int((amount * 10**USDC_DECIMALS).to_integral_value(rounding=ROUND_DOWN))


def usdc_amount(amount_units: int) -> Decimal:
    return Decimal(amount_units).scaleb(-USDC_DECIMALS)


@dataclass(slots=True)
class _Log:
    token: str
    sender: str
    recipient: str
    amount_units: int
    tx_hash: str
    block: int


class MemoryChain:
    """A chain in memory: tokens by symbol, balances, and the Transfer logs in order, one
    block per transaction."""

    def __init__(self, symbols: tuple[str, ...] = ("AAPL",)) -> None:
        self.tokens = {symbol: _address(f"token:{symbol}") for symbol in symbols}
        self._usdc = _address("token:USDC")
        self.balances: dict[tuple[str, str], int] = {}
        self.logs: list[_Log] = []
        self.block = 0

    @property
    def usdc_token(self) -> str:
        return self._usdc

    def symbol_of(self, token: str) -> str | None:
        return next((s for s, t in self.tokens.items() if t == token.lower()), None)

    def balance(self, token: str, holder: str) -> int:
        return self.balances.get((token.lower(), holder.lower()), 0)

    async def mint_tokens(self, symbol: str, wallet_address: str, qty: Decimal) -> str:
        return self.transfer(self.tokens[symbol], ZERO_ADDRESS, wallet_address, stock_units(qty))

    async def send_usdc(self, address: str, amount: Decimal) -> str:
        return self.transfer(self._usdc, ZERO_ADDRESS, address, usdc_units(amount))

    async def transfers_to(self, address: str, since_block: int) -> list[ChainTransfer]:
        return [
            ChainTransfer(log.token, log.sender, log.amount_units, log.tx_hash, log.block)
            for log in self.logs
            if log.recipient == address.lower() and log.block >= since_block
        ]

    def transfer(self, token: str, sender: str, recipient: str, amount_units: int) -> str:
        """Moves units (from the zero address: mints them) in a new block; the tx hash."""
        token, sender, recipient = token.lower(), sender.lower(), recipient.lower()
        if sender != ZERO_ADDRESS:
            held = self.balance(token, sender)
            if held < amount_units:
                raise ValueError(f"{sender} holds {held} units of {token}, not {amount_units}")
            self.balances[(token, sender)] = held - amount_units
        self.balances[(token, recipient)] = self.balance(token, recipient) + amount_units
        self.block += 1
        tx_hash = "0x" + hashlib.sha256(f"{self.block}:{token}:{recipient}".encode()).hexdigest()
        self.logs.append(_Log(token, sender, recipient, amount_units, tx_hash, self.block))
        return tx_hash


def _address(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]
