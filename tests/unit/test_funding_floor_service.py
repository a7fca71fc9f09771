"""The funding manager with the `liquidation-floor` policy: it feeds the outlook estimator what
it sees (marks, the liability, deposits credited) and hands its reading to the policy, in a
cycle and on the price ticks and liability changes that cost no request."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.collateral_policy import CollateralInputs
from pegkeeper.domain.floor_policy import LiquidationFloorParams, LiquidationFloorPolicy
from pegkeeper.domain.outlook import Outlook, OutlookParams
from tests.funding_world import PRICE, FundingWorld, funding_world

D = Decimal
LIABILITY = 3_000_000  # 30 000 USD: 3 BTC at 10 000


def floor_policy(deposit_delay_seconds: int = 3_600) -> LiquidationFloorPolicy:
    estimator = OutlookParams(
        window_seconds=3_600, sample_seconds=60, deposit_delay_seconds=deposit_delay_seconds
    )
    return LiquidationFloorPolicy(
        LiquidationFloorParams(exchange_leverage=D(10), estimator=estimator)
    )


async def world_at_rest(policy: LiquidationFloorPolicy) -> FundingWorld:
    """The short of the liability, the trading account at the policy's target and the funding
    account at its reserve's target, for an outlook that has seen nothing yet."""
    calm = CollateralInputs(LIABILITY, -LIABILITY, PRICE * 100, D(0), D(0), outlook=Outlook())
    trading, funding = policy.wanted(calm)
    world = await funding_world(
        trading_btc=str(trading),
        funding_btc=str(funding),
        liability_cents=LIABILITY,
        short_contracts=300,
        policy=policy,
    )
    record = await world.service.cycle("startup")
    assert record is not None and record.action == "hold", record
    return world


async def test_the_outlook_in_the_policys_inputs_is_what_the_manager_saw() -> None:
    world = await world_at_rest(floor_policy())
    total = LIABILITY
    for minute in range(1, 31):  # 1 000 USD more every minute for half an hour
        world.advance(60)
        total += 100_000
        await world.post(100_000, key=f"flow{minute}")
        world.service.on_liability(total)
        world.service.on_price(PRICE)
    await world.service.cycle("periodic")
    state = world.service.state
    assert state is not None and state.liability_cents == 6_000_000
    # a rise of 30 000 USD in the one-hour window; a flat mark; the configured delay
    assert state.inputs.outlook == Outlook(D(3_000_000), D(0), D(3_600))


async def test_a_credited_deposit_sets_the_delay_when_it_took_longer() -> None:
    world = await funding_world(liability_cents=LIABILITY, policy=floor_policy(600))
    await world.service.cycle("startup")  # nothing on the exchange: a deposit
    (deposit,) = [r for r in world.store.funding.operations.values()]
    assert deposit.operation.kind.value == "deposit"
    world.advance(600)  # mined
    world.advance(300)  # state 1
    world.advance(300)  # state 2: credited for good, 20 minutes after it was sent
    await world.service.cycle("periodic")
    state = world.service.state
    assert state is not None and state.inputs.outlook is not None
    assert state.inputs.outlook.deposit_delay_seconds == 1_200


async def test_a_volatile_mark_asks_for_collateral_where_a_calm_one_did_not() -> None:
    calm, volatile = await world_at_rest(floor_policy()), await world_at_rest(floor_policy())
    for minute in range(1, 21):
        calm.advance(60)
        assert calm.service.on_price(PRICE) is False
        volatile.advance(60)
        # 5 % up and down every minute: sqrt(60 x 0.05^2) = 0.39 per square root of an hour
        volatile.service.on_price(PRICE * D("1.05") if minute % 2 else PRICE)
    calm.advance(60)
    volatile.advance(60)
    assert calm.service.on_price(PRICE) is False
    assert volatile.service.on_price(PRICE) is True
    record = await volatile.service.cycle("price")
    assert record is not None and record.rule == "2-below-floor-transfer"
