"""Request budgets per endpoint, from ccxt's cost table for OKX (rateLimit 110 ms)."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import pytest

from pegkeeper.adapters.pacing import RequestBudget
from pegkeeper.adapters.venues.ccxt_support import EndpointBudgets, ccxt_cost

POSITIONS = "private_get_account_positions"
ORDER = "private_post_trade_order"


@pytest.fixture
async def okx() -> ccxt_async.okx:
    client = ccxt_async.okx()
    yield client
    await client.close()


async def test_costs_are_ccxt_s_for_okx(okx: ccxt_async.okx) -> None:
    # OKX: positions 10 requests per 2 s (cost 2 x 100 ms), orders 60 per 2 s (cost 1/3)
    assert ccxt_cost(okx, POSITIONS) == 2
    assert ccxt_cost(okx, ORDER) == pytest.approx(1 / 3)
    assert ccxt_cost(okx, "no_such_method") == 1


async def test_one_hedge_s_requests_go_out_at_once(okx: ccxt_async.okx) -> None:
    """Positions: 1000 / (110 x 2) = 4.545 a second, 2 s of it = 9 at once; orders:
    1000 / (110 / 3) = 27.3 a second, 54 at once. Different endpoints do not wait for
    each other, as ccxt's single bucket would make them."""
    budgets = EndpointBudgets(okx, RequestBudget(100, 100.0, 0.0))
    for _ in range(9):
        await budgets.acquire(POSITIONS)
    for _ in range(54):
        await budgets.acquire(ORDER)
    assert budgets.waited_seconds == 0
    await budgets.acquire(POSITIONS)  # the tenth within 2 s waits for a token: 1 / 4.545 s
    assert budgets.waited_seconds == pytest.approx(0.22, abs=0.01)


async def test_the_global_budget_still_caps_the_sum(okx: ccxt_async.okx) -> None:
    budgets = EndpointBudgets(okx, RequestBudget(3, 50.0, 0.0))
    for method in (POSITIONS, ORDER, "private_get_account_balance"):
        await budgets.acquire(method)
    assert budgets.waited_seconds == 0
    await budgets.acquire(ORDER)  # the fourth request waits for the global bucket: 1 / 50 s
    assert budgets.waited_seconds == pytest.approx(0.02, abs=0.005)
    budgets.pause()
    assert budgets.pauses == 1
