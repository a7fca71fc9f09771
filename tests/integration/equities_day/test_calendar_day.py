"""The calendar run at each broker: fills around the clock from Thursday 2026-12-03, about one
every 3 minutes, and one a second in two busy spells (in the regular session and in the
evening session); then none until Friday's close. The real brokers run against their local
servers over HTTP, with the request budgets pegkeeper ships (Alpaca 150 a minute, Schwab 100).

The suite runs 6 hours of fills from Thursday 15:00 ET (the close, the evening session, the
closed night, Friday's pre-market and open); `make day` (PEGKEEPER_DAY=full) runs the whole
24 hours from Thursday 00:00 ET and prints what each broker saw.

At every broker: every exposure is hedged by the close of the next regular session, every
symbol is hedged, and the shares the broker bought and sold add up to the onchain exposure.
At each real broker, the server counts fewer requests in every minute than the broker's
documented limit, although the busy spells ask for more: the budgets had to hold requests back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from pegkeeper.domain.equities.broker import BrokerKind
from tests.unit.equities.calendar_days import utc

from .day import SYMBOLS, Burst, DayRun, net_exposure, run_day
from .venues import BROKERS

THURSDAY_CLOSE = utc(2026, 12, 3, 21)  # 16:00 ET
FRIDAY_CLOSE = utc(2026, 12, 4, 21)
# Documented limits per minute: Alpaca 200 requests (an account, either API); Schwab 120
# order requests (placements and cancels). At Schwab the run also keeps every request
# (reads and token refreshes included) under 120, the stricter reading of its limit.
LIMITS = {"alpaca-trading": 200, "alpaca-broker": 200, "schwab": 120}


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    hours: int
    bursts: tuple[Burst, ...]


FULL_DAY = Window(
    utc(2026, 12, 3, 5),  # Thursday 00:00 ET
    24,
    (
        Burst(utc(2026, 12, 3, 14, 30), minutes=10),  # 09:30 ET, the regular open
        Burst(utc(2026, 12, 3, 21, 30), minutes=10),  # 16:30 ET, the evening session
    ),
)
# in the suite: under 10 s a broker on 2 cores (the full day takes up to 30 s)
SUITE = Window(
    utc(2026, 12, 3, 20),  # Thursday 15:00 ET
    6,
    (
        Burst(utc(2026, 12, 3, 20, 30), minutes=5),  # 15:30 ET, the regular session
        Burst(utc(2026, 12, 3, 21, 30), minutes=5),  # 16:30 ET, the evening session
    ),
)
FULL = os.environ.get("PEGKEEPER_DAY") == "full"


@pytest.mark.parametrize("broker", BROKERS)
async def test_fills_are_hedged_by_the_next_close_within_the_request_limits(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    window = FULL_DAY if FULL else SUITE
    run = await run_day(
        broker,
        window.start_ms,
        hours=window.hours,
        until_ms=FRIDAY_CLOSE + 60_000,
        closes=[THURSDAY_CLOSE, FRIDAY_CLOSE],
        bursts=window.bursts,
    )
    if FULL:  # shown as it ends
        with capsys.disabled():
            print(f"\n{run.summary()}")
    else:  # shown when it fails
        print(run.summary())
    # about 20 fills an hour, and one a second in the busy spells
    busy = sum(b.minutes * 60 // b.every_s for b in window.bursts)
    assert busy + 15 * window.hours < len(run.fills) < busy + 25 * window.hours
    # fills before a close are hedged by it; those after it wait (the extended sessions for
    # half the assets, the next open for the rest) and are hedged by the next close
    assert run.left_at_close == {THURSDAY_CLOSE: {}, FRIDAY_CLOSE: {}}
    assert run.ordered_symbols == set(SYMBOLS)
    _hedges_add_up_to_the_exposure(run, BrokerKind.WHOLE_SHARES if broker == "schwab" else None)
    if broker == "dry-run":
        return  # no server, no limit: its calls through the port are only shown
    assert run.waited_ms > 0  # the busy spells asked for more than the budget lets out
    assert run.busiest_minute < LIMITS[broker]
    assert run.busiest_order_minute < LIMITS[broker]


def _hedges_add_up_to_the_exposure(run: DayRun, kind: BrokerKind | None) -> None:
    """What the broker bought of each symbol is what the maker sold onchain, less what it
    bought: exactly at a fractional broker (every fill is a whole quarter share), to under a
    share in whole shares at Schwab."""
    net = net_exposure(run.fills)
    for symbol in SYMBOLS:
        bought = run.held_after[symbol] - run.held_before[symbol]
        if kind is BrokerKind.WHOLE_SHARES:
            assert bought == bought.to_integral_value(), symbol
            assert abs(net[symbol] + bought) < 1, symbol
        else:
            assert bought == -net[symbol], symbol


@pytest.mark.parametrize("broker", ["alpaca-trading", "schwab"])
async def test_without_its_budget_a_busy_spell_asks_for_more_than_the_limit(broker: str) -> None:
    """The limits above are a real test: lift the budget (10 000 a minute) and two minutes of
    a busy spell in the regular session alone ask the server for more than the limit."""
    spell = Burst(utc(2026, 12, 3, 15), minutes=2)  # Thursday 10:00 ET
    run = await run_day(
        broker,
        spell.start_ms,
        hours=0,
        until_ms=spell.start_ms + 5 * 60_000,
        closes=[],
        bursts=(spell,),
        requests_per_minute=10_000,
    )
    print(run.summary())
    assert run.waited_ms == 0
    assert run.busiest_minute > LIMITS[broker]
