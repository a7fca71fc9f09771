"""The inventory side of the simulated Alpaca, switched on for one server: tokenization (mint,
redeem), the USDC wallet and the USDC/USD conversion, all on the server's book and its one
request pipeline, with their onchain effects through a `ChainEffects`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pegkeeper.sim.brokers.alpaca_chain import ChainEffects
from pegkeeper.sim.brokers.alpaca_conversions import COLLAR, AlpacaConversions
from pegkeeper.sim.brokers.alpaca_server import AlpacaSimServer
from pegkeeper.sim.brokers.alpaca_tokenization import AlpacaTokenization
from pegkeeper.sim.brokers.alpaca_wallets import AlpacaWallets


@dataclass(frozen=True, slots=True)
class RebalancingSim:
    tokenization: AlpacaTokenization
    wallets: AlpacaWallets
    conversions: AlpacaConversions


def attach_rebalancing(
    server: AlpacaSimServer,
    chain: ChainEffects,
    *,
    redemption_wallet: str,
    deposit_address: str,
    whitelisted: tuple[str, ...] = (),
    usdc_price_usd: Decimal = Decimal(1),
    collar: Decimal = COLLAR,
    min_withdrawal_usd: Decimal = Decimal(51),
    delay_ms: int = 0,
    wallet_chain: ChainEffects | None = None,
) -> RebalancingSim:
    """Adds the endpoints to `server` (before it starts); `delay_ms` is how long each request
    waits on the book's clock before its next state; `wallet_chain`: where the USDC wallet
    sends and receives, when not on `chain` (the tokens' chain)."""
    tokenization = AlpacaTokenization(
        server,
        chain,
        redemption_wallet=redemption_wallet,
        mint_delay_ms=delay_ms,
        redeem_delay_ms=delay_ms,
    )
    wallets = AlpacaWallets(
        server,
        wallet_chain or chain,
        deposit_address=deposit_address,
        whitelisted=whitelisted,
        min_withdrawal_usd=min_withdrawal_usd,
        step_delay_ms=delay_ms,
    )
    conversions = AlpacaConversions(server.book, price_usd=usdc_price_usd, collar=collar)
    server.extensions += [tokenization, wallets]
    server.order_hooks.append(conversions)
    return RebalancingSim(tokenization, wallets, conversions)
