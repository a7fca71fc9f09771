"""The OKX simulator ready to run: an engine with OKX's BTC instruments and starting balances,
its wire server, and a price path played into it.

Instruments: BTC-USD-SWAP (inverse), BTC-USDT-SWAP (linear) and the current and next
quarterly BTC-USD futures, all priced from the one path (no basis).

With `bitcoind` settings it also serves the operator's wallet as a Bitcoin Core node's
JSON-RPC (under /bitcoind), on a simulated chain whose confirmed payments to the exchange's
deposit address are deposits, so that a pegkeeper in another process deposits onchain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pegkeeper.adapters.clock import ScaledClock
from pegkeeper.domain.instruments import (
    BTC_USD_SWAP,
    BTC_USDT_SWAP,
    Instrument,
    btc_usd_future,
    quarterly_expiries_ms,
)
from pegkeeper.domain.units import btc_to_sats
from pegkeeper.ports import Clock
from pegkeeper.sim.bitcoind_rpc import SimBitcoind
from pegkeeper.sim.chain import SimChain
from pegkeeper.sim.chain_link import ChainLink
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.okx_server.app import OkxSimServer
from pegkeeper.sim.okx_server.auth import Credentials
from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.faults import Faults, parse_assignment
from pegkeeper.sim.player import PricePlayer, tick_in_force
from pegkeeper.sim.price_path import PriceTick, bundled_demo_path, load_price_path

DEFAULT_CREDENTIALS = Credentials(
    api_key="pegkeeper-sim-key",
    secret_key="pegkeeper-sim-secret",
    passphrase="pegkeeper-sim-passphrase",
)


@dataclass(frozen=True, slots=True)
class SimBitcoindSettings:
    """The operator's wallet served as a Bitcoin Core node's, with its own simulated chain."""

    balance_btc: Decimal = Decimal(10)
    block_interval_ms: int = 600_000
    wallet: str = "pegkeeper"
    user: str = "pegkeeper-sim"
    password: str = "pegkeeper-sim-rpc"


@dataclass(frozen=True, slots=True)
class SimExchangeSettings:
    host: str = "127.0.0.1"
    port: int = 8443
    credentials: Credentials = DEFAULT_CREDENTIALS
    price_path: Path | None = None  # None: the bundled day of 1-minute prices (2020-03-12)
    speed: float = 1.0  # simulated seconds per real second
    trading_btc: Decimal = Decimal(2)
    funding_btc: Decimal = Decimal(1)
    trading_usdt: Decimal = Decimal(20_000)
    funding_usdt: Decimal = Decimal(0)
    taker_fee_rate: Decimal = Decimal("0.0005")
    maker_fee_rate: Decimal = Decimal("0.0002")
    funding_rate: Decimal = Decimal("0.0001")
    leverage: int = 4
    deposit_confirmation_ms: int = 600_000  # onchain deposits: credited after half, final after
    withdrawal_ms: int = 600_000  # onchain withdrawals: broadcast after half, final after
    positions_push_seconds: float = 5.0
    faults: tuple[str, ...] = field(default_factory=tuple)  # "name=value", as on the CLI
    bitcoind: SimBitcoindSettings | None = None  # None: no wallet served


def load_ticks(settings: SimExchangeSettings) -> list[PriceTick]:
    return load_price_path(settings.price_path or bundled_demo_path())


def build_engine(
    settings: SimExchangeSettings,
    start_ms: int,
    first_price: Decimal,
    instruments: list[Instrument] | None = None,
) -> SimEngine:
    """An engine listing `instruments`, by default OKX's (see the module's docstring)."""
    if instruments is None:
        futures = [btc_usd_future(expiry) for expiry in quarterly_expiries_ms(start_ms, 2)]
        instruments = [BTC_USD_SWAP, BTC_USDT_SWAP, *futures]
    engine = SimEngine(
        instruments,
        funding_rate=settings.funding_rate,
        taker_fee_rate=settings.taker_fee_rate,
        maker_fee_rate=settings.maker_fee_rate,
        leverage=settings.leverage,
        deposit_confirmation_ms=settings.deposit_confirmation_ms,
        withdrawal_ms=settings.withdrawal_ms,
    )
    engine.set_prices(start_ms, first_price)
    for amount, account, currency in (
        (settings.trading_btc, "trading", "BTC"),
        (settings.funding_btc, "funding", "BTC"),
        (settings.trading_usdt, "trading", "USDT"),
        (settings.funding_usdt, "funding", "USDT"),
    ):
        if amount > 0:
            credit = engine.credit_trading if account == "trading" else engine.credit_funding
            credit(amount, currency)
    return engine


def faults_from(assignments: tuple[str, ...] | list[str]) -> Faults:
    """Raises ValueError naming a bad fault."""
    faults = Faults()
    for assignment in assignments:
        faults.set(*parse_assignment(assignment))
    return faults


class SimExchange:
    """With `clock`, the engine runs on that clock and the path plays at its own timestamps
    (the in-process demo shares the runtime's clock); without, the path is shifted to start
    now and played at `speed`, so the exchange's timestamps are real ones at speed 1. With
    `clock` and `resume_ms` (a restarted demo), the exchange opens at that time, at the price
    the path has then, and plays on from there."""

    def __init__(
        self,
        settings: SimExchangeSettings,
        clock: Clock | None = None,
        ticks: list[PriceTick] | None = None,
        resume_ms: int | None = None,
    ) -> None:
        self.settings = settings
        ticks = ticks if ticks is not None else load_ticks(settings)
        start_ms = None
        if clock is None:
            start_ms, resume_ms = time.time_ns() // 1_000_000, None
            clock = ScaledClock(start_ms=start_ms, speed=settings.speed)
        self.clock = clock
        opening = ticks[0] if start_ms is None else PriceTick(start_ms, ticks[0].price_usd)
        if resume_ms is not None:
            opening = PriceTick(resume_ms, tick_in_force(ticks, resume_ms).price_usd)
        self.engine = build_engine(settings, opening.ts_ms, opening.price_usd)
        self.ctx = SimContext(
            self.engine, clock, settings.credentials, faults_from(settings.faults)
        )
        self.bitcoind = _bitcoind(settings.bitcoind, self.ctx)
        self.server = OkxSimServer(
            self.ctx,
            settings.host,
            settings.port,
            positions_push_seconds=settings.positions_push_seconds,
            bitcoind=self.bitcoind,
        )
        self.tick_listeners: list[Callable[[PriceTick], None]] = []  # after each played tick
        self.player = PricePlayer(
            self.engine,
            ticks,
            clock,
            self._on_tick,
            loop=True,
            start_ms=start_ms,
            every_instrument=True,
            after_ms=resume_ms,
        )

    async def start(self) -> None:
        await self.server.start()

    async def run(self) -> None:
        """Plays the prices until cancelled; `start` first."""
        await self.player.run()

    async def stop(self) -> None:
        await self.server.stop()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await self.run()
        finally:
            await self.stop()

    def banner(self) -> list[str]:
        credentials = self.settings.credentials
        server = self.server
        lines = [
            f"pegkeeper sim-exchange: OKX v5 on {server.rest_url}",
            f"  REST:        {server.rest_url}/api/v5",
            f"  WebSockets:  {server.ws_url}/public, {server.ws_url}/private",
            f"  api key:     {credentials.api_key}",
            f"  secret key:  {credentials.secret_key}",
            f"  passphrase:  {credentials.passphrase}",
            f"  instruments: {', '.join(self.engine.live_instrument_ids)}",
            f"  controls:    {server.rest_url}/sim/v1/faults, /sim/v1/state, /sim/v1/requests",
        ]
        wallet = self.settings.bitcoind
        if wallet is not None:
            lines.append(
                f"  bitcoind:    {server.bitcoind_url} (wallet {wallet.wallet}, "
                f"user {wallet.user}, password {wallet.password})"
            )
        active = self.ctx.faults.active()
        if active:
            lines.append("  faults:      " + ", ".join(f"{k}={v}" for k, v in active.items()))
        return lines

    async def _on_tick(self, tick: PriceTick) -> None:
        self.server.prices_changed()
        for listener in self.tick_listeners:
            listener(tick)


def _bitcoind(settings: SimBitcoindSettings | None, ctx: SimContext) -> SimBitcoind | None:
    """The served wallet, its chain starting at the exchange's time and paying into it."""
    if settings is None:
        return None
    balance_sats = btc_to_sats(settings.balance_btc)
    chain = SimChain(ctx.now_ms(), balance_sats, block_interval_ms=settings.block_interval_ms)
    link = ChainLink(chain, [ctx.engine.wallet])
    ctx.onchain = link.sync
    return SimBitcoind(
        chain,
        wallet=settings.wallet,
        user=settings.user,
        password=settings.password,
        sync=ctx.advance,
    )


async def run_sim_exchange(settings: SimExchangeSettings, announce: bool = True) -> None:
    exchange = SimExchange(settings)
    await exchange.start()
    if announce:
        print("\n".join(exchange.banner()), flush=True)
    try:
        await exchange.run()
    finally:
        await exchange.stop()


def run_blocking(settings: SimExchangeSettings) -> None:
    asyncio.run(run_sim_exchange(settings))
