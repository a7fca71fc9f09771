"""The operator's simulated chain wired to the simulated exchanges it pays (one per venue stood
in for by the simulator): what makes a payment from the wallet a deposit at the exchange, and
an exchange's withdrawal a payment to the wallet.

`sync(now_ms)` brings the chain, and what it delivers, up to `now_ms`: payments to an
exchange's deposit address that a block confirmed are handed to that exchange then (as a
deposit seen onchain, with the transaction's id), and the exchanges' withdrawals to the
wallet's own addresses that completed are credited to it, once each.
"""

from __future__ import annotations

from pegkeeper.domain.units import btc_to_sats, sats_to_btc
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.wallet import Wallet as ExchangeWallet


class ChainLink:
    def __init__(self, chain: SimChain, exchanges: list[ExchangeWallet] | None = None) -> None:
        self.chain = chain
        self._exchanges = list(exchanges or [])
        self._credited_withdrawals: set[str] = set()

    def pay_into(self, exchange: ExchangeWallet) -> None:
        """Another simulated exchange the wallet deposits to and withdraws from."""
        self._exchanges.append(exchange)

    def sync(self, now_ms: int) -> None:
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
