"""OKX's `expTime` request header: a place-order or amend-order request processed after it is
refused with 50036 and not executed.

The header is unix ms of real time, and it is compared with real time when the request is
processed (after `latency_ms` and `order_delay_ms`), as OKX compares it with its own server
clock. The simulator's exchange clock is not used: it may run scaled from a past day, while a
sender computes expTime from its real clock (as it does OK-ACCESS-TIMESTAMP, checked against
real time in auth.py), and the leases the expiry must undercut last real seconds.

Every expTime received is recorded per client order id, close-position's too, although OKX
documents the header for placing and amending orders only, and so the simulator honours it
only there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import OkxError

HEADER = "expTime"
EXPIRING_PATHS = frozenset(
    {"trade/order", "trade/batch-orders", "trade/amend-order", "trade/amend-batch-orders"}
)
EXPIRED_CODE = "50036"
EXPIRED_MESSAGE = (
    "The expTime can't be earlier than the current system time. "
    "Please adjust the expTime and try again."
)


def check_exp_time(
    ctx: SimContext, path: str, headers: Mapping[str, str], body: Any, now_ms: int | None = None
) -> None:
    """Records the request's expTime; raises OkxError 50036 when it passed before `now_ms`
    (real time by default) on a path that honours it."""
    raw = headers.get(HEADER)
    if raw is None:
        return
    try:
        exp_ms = int(raw)
    except ValueError:
        raise OkxError("51000", f"Parameter {HEADER} error") from None
    for client_id in _client_ids(body):
        ctx.exp_times[client_id] = exp_ms
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if path in EXPIRING_PATHS and now > exp_ms:
        raise OkxError(EXPIRED_CODE, EXPIRED_MESSAGE)


def _client_ids(body: Any) -> list[str]:
    items = body if isinstance(body, list) else [body]
    return [str(i["clOrdId"]) for i in items if isinstance(i, dict) and i.get("clOrdId")]
