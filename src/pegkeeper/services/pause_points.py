"""Points of the money path where a test can stop the process, to kill it or wake it there.

`PEGKEEPER_PAUSE_AT="before-request:3"` makes the process stop itself (SIGSTOP) the third time
it reaches `before-request`; the test then kills it (`kill -9` at that exact point) or wakes
it (SIGCONT) after longer than its lease. Unset, a point costs one comparison.

Points: `before-request` (the request's row committed, the request not sent) and
`after-request` (the venue answered, the answer not recorded). The execution core's requests
pass them, and so do the rebalancer's transactions and broker requests
(services/equities/rebalance_tx.outside_request), in the order a move sends them.
"""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger("pegkeeper.pause_points")

PAUSE_ENV = "PEGKEEPER_PAUSE_AT"


def _parse(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    point, _, count = value.partition(":")
    return point, int(count or "1")


_WANTED = _parse(os.environ.get(PAUSE_ENV, ""))
_reached: dict[str, int] = {}


def pause_point(point: str) -> None:
    if _WANTED is None or _WANTED[0] != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == _WANTED[1]:
        log.warning("pausing at a test point", point=point, pid=os.getpid())
        os.kill(os.getpid(), signal.SIGSTOP)
