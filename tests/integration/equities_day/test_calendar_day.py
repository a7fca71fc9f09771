"""The 24-hour calendar run at the dry-run broker: fills from Thursday 2026-12-03 00:00 ET for 24
hours, then none until Friday's close. Every exposure is hedged by the close of the next regular
session, and the broker is asked less than its documented limit in every minute."""

from __future__ import annotations

from tests.unit.equities.calendar_days import utc

from .day import run_day

ALPACA_REQUESTS_PER_MINUTE = 200  # Alpaca's documented limit
SCHWAB_REQUESTS_PER_MINUTE = 120  # Schwab's for order requests


async def test_a_day_of_fills_is_hedged_by_the_next_close_within_the_request_limits() -> None:
    thursday_midnight_et = utc(2026, 12, 3, 5)
    friday_close = utc(2026, 12, 4, 21)  # 16:00 ET
    run = await run_day(thursday_midnight_et, then_until_ms=friday_close + 60_000)
    assert run.fills > 400  # about one every 3 minutes over 24 hours
    thursday_close = utc(2026, 12, 3, 21)
    # fills of the night before Thursday are hedged in Thursday's session; those after its
    # close wait (extended sessions for half the assets, the open for the rest)
    assert run.left_at_close[thursday_close] == {}
    assert run.left_at_close[friday_close] == {}
    busiest = max(run.broker.per_minute.values())
    assert busiest < SCHWAB_REQUESTS_PER_MINUTE < ALPACA_REQUESTS_PER_MINUTE
    sent = run.world.broker.sent
    assert {o.symbol for o in sent} == {f"S{n:02d}" for n in range(20)}
