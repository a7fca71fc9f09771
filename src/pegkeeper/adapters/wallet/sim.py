"""The Wallet port over the simulated chain, wired to the simulated exchanges it pays (one per
venue stood in for by the simulator).

Time is read from the clock at every call and the chain is brought up to it: payments to an
exchange's deposit address that a block confirmed are handed to that exchange then (as a
deposit seen onchain, with the transaction's id), and the exchanges' withdrawals to this
wallet that completed are credited.
"""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.collateral import WalletTransaction
from pegkeeper.domain.units import btc_to_sats, sats_to_btc
from pegkeeper.ports import Clock
from pegkeeper.sim.chain import ChainTx, SimChain
from pegkeeper.sim.wallet import Wallet as ExchangeWallet


class SimWallet:
    name = "sim"

    def __init__(
        self, chain: SimChain, clock: Clock, exchange: ExchangeWallet | None = None
    ) -> None:
        self.chain = chain
        self._clock = clock
        self._exchanges = [] if exchange is None else [exchange]
        self._credited_withdrawals: set[str] = set()

    def pay_into(self, exchange: ExchangeWallet) -> None:
        """Another simulated exchange this wallet deposits to and withdraws from."""
        self._exchanges.append(exchange)

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
        now_ms = self._clock.now_ms()
        by_address = {exchange.address("BTC"): exchange for exchange in self._exchanges}
        for mined in self.chain.advance(now_ms):
            paid = by_address.get(mined.address)
            if paid is not None:
                amount = sats_to_btc(mined.amount_sats)
                paid.receive(amount, "BTC", mined.confirmed_ms, tx_id=mined.tx_id)
        for exchange in self._exchanges:
            exchange.advance(now_ms)
            self._credit_withdrawals(exchange, now_ms)

    def _credit_withdrawals(self, exchange: ExchangeWallet, now_ms: int) -> None:
        for withdrawal in exchange.withdrawals("BTC"):
            done = withdrawal.state == "2"
            ours = self.chain.owns(withdrawal.to_address)
            if done and ours and withdrawal.client_id not in self._credited_withdrawals:
                self._credited_withdrawals.add(withdrawal.client_id)
                sats = btc_to_sats(withdrawal.amount)
                self.chain.receive(withdrawal.to_address, sats, now_ms, withdrawal.client_id)

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
