"""The Wallet port over the simulated chain, wired to the simulated exchanges it pays (one per
venue stood in for by the simulator: sim/chain_link.py).

Time is read from the clock at every call and the chain, with what it delivers, is brought up
to it.
"""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.collateral import WalletTransaction
from pegkeeper.ports import Clock
from pegkeeper.sim.chain import ChainTx, SimChain
from pegkeeper.sim.chain_link import ChainLink
from pegkeeper.sim.wallet import Wallet as ExchangeWallet


class SimWallet:
    name = "sim"

    def __init__(
        self, chain: SimChain, clock: Clock, exchange: ExchangeWallet | None = None
    ) -> None:
        self.chain = chain
        self._clock = clock
        self._link = ChainLink(chain, [] if exchange is None else [exchange])

    def pay_into(self, exchange: ExchangeWallet) -> None:
        """Another simulated exchange this wallet deposits to and withdraws from."""
        self._link.pay_into(exchange)

    async def new_address(self) -> str:
        self.sync()
        return self.chain.new_address()

    async def balance_sats(self) -> int:
        self.sync()
        return self.chain.balance_sats

    async def send(
        self, address: str, amount_sats: int, fee_rate_sat_vb: Decimal, comment: str
    ) -> str:
        self.sync()
        return self.chain.send(address, amount_sats, fee_rate_sat_vb, comment).tx_id

    async def transaction(self, tx_id: str) -> WalletTransaction:
        self.sync()
        return self._view(self.chain.transaction(tx_id))

    async def find_sent(self, comment: str, since_ms: int) -> list[WalletTransaction]:
        self.sync()
        return [self._view(tx) for tx in self.chain.sent_with(comment)]

    async def bump_fee(self, tx_id: str, fee_rate_sat_vb: Decimal) -> str:
        self.sync()
        return self.chain.bump_fee(tx_id, fee_rate_sat_vb).tx_id

    def sync(self) -> None:
        """Bring the chain, and what it delivers, up to the clock's time."""
        self._link.sync(self._clock.now_ms())

    def _view(self, tx: ChainTx) -> WalletTransaction:
        return WalletTransaction(
            tx_id=tx.tx_id,
            amount_sats=tx.amount_sats,
            fee_sats=tx.fee_sats,
            fee_rate_sat_vb=tx.fee_rate_sat_vb,
            confirmations=self.chain.confirmations(tx),
            replaceable=True,
            replaced_by_tx_id=tx.replaced_by,
            comment=tx.comment,
        )
