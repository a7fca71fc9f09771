"""The default configuration through the real stress paths: the March 2020 crash and the
November 2022 FTX collapse and CPI pump (shared/data/btc, Binance BTCUSDT perpetual 1-minute
bars, four ticks a bar as the simulator plays them), whole paths of four days each.

The simulated exchange's defaults (0.05 % taker fee, 0.4 % maintenance margin, 4x cross
leverage, 0.01 % funding every 8 h), the stablesats hedge and funding policies, a simulated
wallet of 10 BTC whose deposits take a block (10 minutes) and the exchange's confirmation (10
more); the hedger checks every 30 minutes, the funding manager every 5 and on every price
tick. Time is a manual clock: a whole path runs in a few seconds. The store is the in-memory
fake (the SQL repositories are tested on both backends elsewhere), which keeps the run fast.

The liquidation distance is measured at every tick from the exchange's own liquidation price,
independently of the funding manager's numbers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegkeeper.domain.collateral import AlertKind, OperationState, Severity
from pegkeeper.services.alerts import AlertSettings
from pegkeeper.sim.price_path import PriceTick, load_price_path
from tests.fakes import FakeStore
from tests.funding_stress import run_path
from tests.shared_data import shared_data

FLOOR = Decimal(20)  # the default liquidation-distance floor of [alerts]
LIABILITY_CENTS = 2_000_000  # the demo's largest liability, 20 000 USD


@pytest.mark.parametrize(
    ("path", "expected_kinds"),
    [
        # the crash and the rebound: collateral out as BTC falls, back in (from the funding
        # account, refilled onchain) as it rises 44 % in an hour on the 13th
        (
            "binance-btcusdt-1m-2020-03-11_14.csv",
            {"transfer_to_trading", "transfer_to_funding", "deposit", "withdrawal"},
        ),
        ("binance-btcusdt-1m-2022-11-07_10.csv", {"transfer_to_trading", "transfer_to_funding"}),
    ],
)
async def test_the_stress_paths_never_bring_the_hedge_near_liquidation(
    path: str, expected_kinds: set[str]
) -> None:
    ticks = load_price_path(shared_data() / "btc" / path)
    assert len(ticks) == 5_760 * 4
    store = FakeStore()
    run, funding, engine = await run_path(ticks, store, LIABILITY_CENTS, AlertSettings())
    assert run.liquidations == 0
    assert run.min_distance_pct >= FLOOR, run
    # the hedge was held all along: still 98 % of the liability, short
    assert abs(engine.position("BTC-USD-SWAP").size_contracts) >= Decimal("0.95") * 200
    operations = list(store.funding.operations.values())
    assert {o.operation.kind.value for o in operations} >= expected_kinds
    assert all(o.state is OperationState.DONE for o in operations), operations
    # every operation answers a recorded decision with its inputs
    decisions = {d.decision_id: d for d in store.funding.decisions}
    for operation in operations:
        decision = decisions[operation.operation.decision_id]
        assert decision.outcome == "acted" and decision.amount > 0
    assert not [a for a in funding.alerter.sent if a.kind is AlertKind.LIQUIDATION_DISTANCE]


async def test_a_20_percent_spike_within_a_minute_does_not_liquidate() -> None:
    """From just under the buffered high bound (3.55x, where rule 8 is about to act) the price
    jumps 20 % in one tick, before anything can react. Worked by hand: 196 contracts (0.98 x
    20 000 USD) at 16 000 USD are 1.225 BTC on 1.225 / 3.55 = 0.34507 BTC, less the 0.05 %
    taker fee, 0.34446 BTC; at 19 200 USD the short lost 19 600 x (1/16 000 - 1/19 200) =
    0.20417 BTC: 0.14029 BTC of equity for 1.02083 BTC of exposure, 7.28x, liquidated at
    (1 - 0.004) / (1 - 1 / 7.28) = +15.5 %. Under the 20 % floor for one tick: the funding
    account tops the collateral up in the same tick (rule 5, back to 3x on the liability) and
    the alert is resolved."""
    start = 1_668_085_200_000  # 2022-11-10 13:00 UTC, before the CPI print
    price = Decimal(16_000)
    ticks = [PriceTick(start + i * 15_000, price) for i in range(8)]
    ticks += [PriceTick(start + (8 + i) * 15_000, price * Decimal("1.2")) for i in range(8)]
    store = FakeStore()
    run, funding, _ = await run_path(
        ticks, store, LIABILITY_CENTS, AlertSettings(), start_leverage=Decimal("3.55")
    )
    assert run.liquidations == 0
    assert Decimal(15) < run.min_distance_pct < Decimal(16), run
    assert Decimal("7.2") < run.max_leverage < Decimal("7.35"), run
    operations = list(store.funding.operations.values())
    (top_up,) = [o for o in operations if o.operation.kind.value == "transfer_to_trading"]
    assert top_up.state is OperationState.DONE
    # the funding account's refill follows onchain (rule 9: it fell under 0.9 BTC)
    assert [o.operation.kind.value for o in operations] == ["transfer_to_trading", "deposit"]
    final = funding.state
    assert final is not None and final.reading.leverage is not None
    # 3x on the liability is 3 x 0.98 = 2.94x on the 98 % hedge
    assert final.reading.leverage.quantize(Decimal("0.01")) == Decimal("2.94")
    kinds = [a for a in funding.alerter.sent if a.kind is AlertKind.LIQUIDATION_DISTANCE]
    assert [a.severity for a in kinds] == [Severity.CRITICAL, Severity.RESOLVED]
