"""Request budgets per minute and the waits named by Retry-After headers."""

from __future__ import annotations

from collections import Counter

import pytest

from pegkeeper.adapters.pacing import RequestBudget, retry_after_seconds
from tests.stepping_clock import SteppingClock

# 2023-11-14 22:13:20 UTC
NOW_MS = 1_700_000_000_000


@pytest.mark.parametrize("per_minute", [1, 7, 20, 150])
async def test_a_per_minute_budget_never_lets_more_out_in_any_60_seconds(per_minute: int) -> None:
    clock = SteppingClock(NOW_MS)
    budget = RequestBudget.per_minute(per_minute, 5.0, clock=clock)
    sent_ms = []
    for _ in range(3 * per_minute + 5):
        await budget.acquire()
        sent_ms.append(clock.monotonic_ms())
    # every window of 60 s that starts at a request holds at most `per_minute` of them
    for i, start in enumerate(sent_ms):
        inside = [t for t in sent_ms[i:] if t < start + 60_000]
        assert len(inside) <= per_minute
    # and by calendar minute, as a server counts them
    assert max(Counter(t // 60_000 for t in sent_ms).values()) <= per_minute


async def test_a_burst_of_a_tenth_goes_out_at_once_then_requests_are_spaced() -> None:
    clock = SteppingClock(NOW_MS)
    budget = RequestBudget.per_minute(150, 5.0, clock=clock)
    for _ in range(15):  # 150 // 10
        await budget.acquire()
    assert clock.slept_seconds == 0
    await budget.acquire()  # then (150 - 15) requests per 61 s: one every 61/135 s
    assert clock.slept_seconds == pytest.approx(61 / 135, abs=0.001)


async def test_a_named_pause_holds_every_request_until_it_ends() -> None:
    clock = SteppingClock(NOW_MS)
    budget = RequestBudget.per_minute(600, 5.0, clock=clock)
    budget.pause_for(30)
    await budget.acquire()
    assert clock.now_ms() == NOW_MS + 30_000
    assert budget.pauses == 1


def test_a_budget_refuses_a_size_it_cannot_keep() -> None:
    with pytest.raises(ValueError, match="requests_per_minute must be at least 1, got 0"):
        RequestBudget.per_minute(0, 1.0)
    with pytest.raises(ValueError, match="capacity >= 1 and refill_per_second > 0"):
        RequestBudget(1, 0.0, 1.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        # NOW_MS is 22:13:20 GMT: 90 s later
        ("Tue, 14 Nov 2023 22:14:50 GMT", 90.0),
        # a date already past waits nothing
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, NOW_MS) == seconds
