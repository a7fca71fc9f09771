"""A simulated Bitcoin chain with the operator's wallet on it, for the demo and the simulator.

Pure and deterministic: time moves only through `advance`. A block is found every
`block_interval_ms`; it confirms every transaction in the mempool whose fee rate is at least
the chain's `min_fee_rate_sat_vb` (raise it to simulate a congested mempool, where only a fee
bump gets a transaction mined). Every transaction signals replace-by-fee; a replacement pays
the same outputs with a higher fee, and the one it replaced never confirms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal

from pegkeeper.domain.errors import InvalidInput, NotFound, OrderRejected

TX_VSIZE_VB = 141  # one P2WPKH input, a payment and a change output


@dataclass(frozen=True, slots=True)
class ChainTx:
    tx_id: str
    address: str
    amount_sats: int
    fee_sats: int
    fee_rate_sat_vb: Decimal
    comment: str
    sent_ms: int
    confirmed_ms: int | None = None
    block_height: int | None = None
    replaced_by: str = ""
    incoming: bool = False  # paid to this wallet (a withdrawal from the exchange)


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A payment from the wallet mined in a block: it reaches its destination now."""

    tx_id: str
    address: str
    amount_sats: int
    confirmed_ms: int


class SimChain:
    def __init__(
        self,
        start_ms: int,
        balance_sats: int = 0,
        *,
        block_interval_ms: int = 600_000,
        min_fee_rate_sat_vb: Decimal = Decimal(1),
    ) -> None:
        if block_interval_ms <= 0:
            raise ValueError("block_interval_ms must be positive")
        self.block_interval_ms = block_interval_ms
        self.min_fee_rate_sat_vb = min_fee_rate_sat_vb
        self.height = 0
        self._next_block_ms = start_ms + block_interval_ms
        self._now_ms = start_ms
        self._balance_sats = balance_sats
        self._txs: dict[str, ChainTx] = {}
        self._addresses: list[str] = []

    # -- the wallet ----------------------------------------------------------------------------

    @property
    def balance_sats(self) -> int:
        return self._balance_sats

    @property
    def next_block_ms(self) -> int:
        """When the next block is found."""
        return self._next_block_ms

    def new_address(self) -> str:
        digest = hashlib.sha256(f"pegkeeper-sim-wallet-{len(self._addresses)}".encode())
        address = "bcrt1q" + digest.hexdigest()[:38]
        self._addresses.append(address)
        return address

    def owns(self, address: str) -> bool:
        return address in self._addresses

    def send(
        self, address: str, amount_sats: int, fee_rate_sat_vb: Decimal, comment: str
    ) -> ChainTx:
        """Refused (OrderRejected, no effect) without the funds or with a bad fee rate."""
        if amount_sats <= 0:
            raise InvalidInput(f"amount must be a positive number of sats, got {amount_sats}")
        if not address:
            raise OrderRejected("Invalid address", code="-5")
        if fee_rate_sat_vb < 1:
            raise OrderRejected(
                "Fee rate (below 1 sat/vB) is below the minimum relay fee", code="-8"
            )
        fee_sats = fee_of(fee_rate_sat_vb)
        if amount_sats + fee_sats > self._balance_sats:
            raise OrderRejected("Insufficient funds", code="-6")
        self._balance_sats -= amount_sats + fee_sats
        tx = ChainTx(
            tx_id=self._tx_id(address, amount_sats, fee_rate_sat_vb),
            address=address,
            amount_sats=amount_sats,
            fee_sats=fee_sats,
            fee_rate_sat_vb=fee_rate_sat_vb,
            comment=comment,
            sent_ms=self._now_ms,
        )
        self._txs[tx.tx_id] = tx
        return tx

    def bump_fee(self, tx_id: str, fee_rate_sat_vb: Decimal) -> ChainTx:
        """A replacement paying `fee_rate_sat_vb`; the old transaction will never confirm."""
        old = self.transaction(tx_id)
        if old.confirmed_ms is not None:
            raise OrderRejected("Transaction already confirmed", code="-8")
        if old.replaced_by:
            raise OrderRejected(
                f"Cannot bump transaction {tx_id} which was already bumped", code="-8"
            )
        if fee_rate_sat_vb < old.fee_rate_sat_vb + 1:
            raise OrderRejected(
                f"Insufficient total fee: the new fee rate must exceed {old.fee_rate_sat_vb} "
                "sat/vB by the incremental relay fee (1 sat/vB)",
                code="-8",
            )
        fee_sats = fee_of(fee_rate_sat_vb)
        extra = fee_sats - old.fee_sats
        if extra > self._balance_sats:
            raise OrderRejected("Insufficient funds to bump the fee", code="-6")
        self._balance_sats -= extra
        new = replace(
            old,
            tx_id=self._tx_id(old.address, old.amount_sats, fee_rate_sat_vb),
            fee_sats=fee_sats,
            fee_rate_sat_vb=fee_rate_sat_vb,
            sent_ms=self._now_ms,
        )
        self._txs[old.tx_id] = replace(old, replaced_by=new.tx_id)
        self._txs[new.tx_id] = new
        return new

    def receive(self, address: str, amount_sats: int, now_ms: int, label: str = "") -> ChainTx:
        """A payment to this wallet seen in a block (a withdrawal from the exchange)."""
        if not self.owns(address):
            raise InvalidInput(f"{address} is not an address of this wallet")
        self.advance(now_ms)
        tx = ChainTx(
            tx_id=self._tx_id(address, amount_sats, Decimal(0)),
            address=address,
            amount_sats=amount_sats,
            fee_sats=0,
            fee_rate_sat_vb=Decimal(0),
            comment=label,
            sent_ms=now_ms,
            confirmed_ms=now_ms,
            block_height=self.height,
            incoming=True,
        )
        self._txs[tx.tx_id] = tx
        self._balance_sats += amount_sats
        return tx

    def transaction(self, tx_id: str) -> ChainTx:
        tx = self._txs.get(tx_id)
        if tx is None:
            raise NotFound(f"Invalid or non-wallet transaction id {tx_id}", code="-5")
        return tx

    def confirmations(self, tx: ChainTx) -> int:
        """Blocks since it was mined; 0 in the mempool; minus the replacement's when replaced."""
        if tx.block_height is not None:
            return self.height - tx.block_height + 1
        if tx.replaced_by:
            return -max(0, self.confirmations(self.transaction(tx.replaced_by)))
        return 0

    def sent(self) -> list[ChainTx]:
        """Every payment from this wallet, replaced ones included, oldest first."""
        return [t for t in self._txs.values() if not t.incoming]

    def sent_with(self, comment: str) -> list[ChainTx]:
        return [t for t in self.sent() if t.comment == comment]

    # -- time ----------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> list[Confirmed]:
        """Mines the blocks due by `now_ms`; returns the wallet's payments they confirmed."""
        if now_ms < self._now_ms:
            return []
        self._now_ms = now_ms
        mined: list[Confirmed] = []
        while self._next_block_ms <= now_ms:
            mined += self._mine(self._next_block_ms)
            self._next_block_ms += self.block_interval_ms
        return mined

    def _mine(self, block_ms: int) -> list[Confirmed]:
        self.height += 1
        mined = []
        for tx in list(self._txs.values()):
            waiting = tx.confirmed_ms is None and not tx.replaced_by
            if waiting and tx.fee_rate_sat_vb >= self.min_fee_rate_sat_vb:
                self._txs[tx.tx_id] = replace(tx, confirmed_ms=block_ms, block_height=self.height)
                mined.append(Confirmed(tx.tx_id, tx.address, tx.amount_sats, block_ms))
        return mined

    def _tx_id(self, address: str, amount_sats: int, rate: Decimal) -> str:
        seed = f"{len(self._txs)}-{address}-{amount_sats}-{rate}-{self._now_ms}"
        return hashlib.sha256(seed.encode()).hexdigest()


def fee_of(fee_rate_sat_vb: Decimal) -> int:
    """The fee of a standard payment at `fee_rate_sat_vb`, whole sats rounded up."""
    return int((fee_rate_sat_vb * TX_VSIZE_VB).to_integral_value(rounding=ROUND_CEILING))
