"""pegkeeper's runtime for the reaction-latency benchmark: the embedded demo without users, which
prints `simulator <rest_url>` once started, then `<correlation_id> <unix_ns>` when an order
reaches a final state at the venue."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import uvloop

from pegkeeper.bootstrap import build_runtime, run_services
from pegkeeper.bootstrap.logging_setup import configure_logging
from pegkeeper.config import load_settings
from pegkeeper.domain.events import TOPIC_ORDER, OrderUpdated, decode_event


async def report_orders(runtime_bus: object) -> None:
    subscription = runtime_bus.subscribe(TOPIC_ORDER)  # type: ignore[attr-defined]
    async for _, payload in subscription:
        event = decode_event(payload)
        if isinstance(event, OrderUpdated) and event.state in ("filled", "accepted"):
            sys.stdout.write(f"{event.correlation_id} {time.time_ns()}\n")
            sys.stdout.flush()


async def main(port: int, data_dir: str, database_url: str) -> None:
    configure_logging("warning", json_format=True)
    settings = load_settings(
        data_dir=data_dir,
        http={"port": port},
        demo={"enabled": False},
        store={"database_url": database_url},
        # back-to-back events, each needing its own order: the in-process simulator limits
        # nothing, so pegkeeper's overall budget (10 a second by default) is lifted; the
        # per-endpoint budgets stay, at ccxt's costs
        venue={"burst_requests": 10_000, "burst_refill_per_second": 10_000.0},
    )
    services = ["hedger", "liability", "web"]
    runtime = await build_runtime(settings, services)
    sys.stdout.write(f"simulator {runtime.venue.venue.rest_url}\n")
    sys.stdout.flush()
    reporter = asyncio.create_task(report_orders(runtime.bus))
    try:
        await run_services(runtime, services)
    finally:
        reporter.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    uvloop.run(main(args.port, args.data_dir, args.database_url))
