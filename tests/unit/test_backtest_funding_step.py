"""The backtester's built-in funding step: collateral by leverage at the mark."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.adapters.clock import ManualClock
from pegkeeper.domain.instruments import BTC_USD_SWAP
from pegkeeper.domain.orders import OrderSide
from pegkeeper.sim.backtest.funding_step import CollateralSettings, TransferFunding
from pegkeeper.sim.engine import SimEngine
from pegkeeper.sim.events import AccountType

T0 = 1_700_000_000_000
DEPOSIT_MS = 1_800_000


def short_of_20_000_usd(funding_btc: str) -> tuple[SimEngine, ManualClock, TransferFunding]:
    """200 contracts short at exactly 10 000 (no fee, no spread) on 1 BTC: leverage 2."""
    engine = SimEngine(
        taker_fee_rate=Decimal(0),
        half_spread_usd=Decimal(0),
        deposit_confirmation_ms=2 * DEPOSIT_MS,
    )
    engine.credit_trading(Decimal(1))
    if Decimal(funding_btc) > 0:
        engine.credit_funding(Decimal(funding_btc))
    clock = ManualClock(T0)
    engine.set_price(T0, Decimal(10_000))
    engine.place_market_order("s1", "BTC-USD-SWAP", OrderSide.SELL, Decimal(200), T0)
    step = TransferFunding(
        engine, clock, BTC_USD_SWAP, lambda: 2_000_000, CollateralSettings(), Decimal("0.0001"),
        DEPOSIT_MS,
    )  # fmt: skip
    return engine, clock, step


def move(engine: SimEngine, clock: ManualClock, price: int, seconds: float = 60) -> Decimal:
    clock.advance(seconds)
    engine.set_price(clock.now_ms(), Decimal(price))
    return Decimal(price)


async def test_a_rising_price_brings_collateral_from_the_funding_account() -> None:
    engine, clock, step = short_of_20_000_usd("0.5")
    await step.cycle("startup")
    assert engine.transfers == ()  # leverage 2: at the low bound, not under it
    # 11 000: equity 1 - 20 000 * (1/10 000 - 1/11 000) = 0.818 BTC, notional 1.818: 2.22
    assert not step.on_price(move(engine, clock, 11_000))
    # 13 000: equity 0.538, notional 1.538: 2.86
    assert not step.on_price(move(engine, clock, 13_000))
    # 15 000: equity 0.3333, notional 1.3333: leverage 4 > 3.6
    assert step.on_price(move(engine, clock, 15_000))
    await step.cycle("price")
    # wanted 1.3333 / 3 = 0.4444; short of it by 0.11111111..., rounded up to the sat
    (transfer,) = engine.transfers
    assert (transfer.amount_btc, transfer.from_account) == (
        Decimal("0.11111112"),
        AccountType.FUNDING,
    )
    assert engine.balances().funding_balance == Decimal("0.38888888")
    assert not step.on_price(Decimal(15_000))  # leverage back to 3


async def test_what_the_funding_account_lacks_comes_onchain_later() -> None:
    engine, clock, step = short_of_20_000_usd("0.05")
    await step.cycle("startup")
    assert step.on_price(move(engine, clock, 15_000))
    await step.cycle("price")
    # the 0.05 BTC there moves at once; the missing 0.06111112 and the reserve (half the
    # wanted 0.4444: 0.22222222) are deposited: 0.28333334 BTC
    (transfer,) = engine.transfers
    assert transfer.amount_btc == Decimal("0.05")
    (deposit,) = engine.wallet.deposits()
    assert deposit.amount == Decimal("0.28333334")
    # equity 0.3833 for a notional 1.3333: leverage 3.48, inside; nothing until it arrives
    assert not step.on_price(move(engine, clock, 15_000, seconds=DEPOSIT_MS / 1000 - 61))
    assert step.on_price(move(engine, clock, 15_000, seconds=61))
    await step.cycle("price")
    assert engine.balances().funding_balance == Decimal("0.28333334")
    assert len(engine.transfers) == 1  # leverage was already inside its bounds


async def test_a_funding_account_holding_too_much_is_drained_onchain() -> None:
    engine, _, step = short_of_20_000_usd("5")
    await step.cycle("startup")
    # wanted 2 / 3 BTC, reserve half of it: 0.33333333...; 5 - 0.3333... - fee 0.0001, down
    (withdrawal,) = engine.wallet.withdrawals()
    assert (withdrawal.amount, withdrawal.fee) == (Decimal("4.66656666"), Decimal("0.0001"))
    assert engine.balances().funding_balance == Decimal("0.33333334")
