"""The start banner: where everything is, once the ports are bound."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from pegkeeper.bootstrap.runtime import Runtime

log = structlog.get_logger("pegkeeper")


async def announce(runtime: Runtime, services: list[str]) -> None:
    """Where everything is, once the ports are bound; the hedging switch and the orders a
    previous run left in flight."""
    settings = runtime.settings
    base = f"http://{settings.http.host}:{settings.http.port}"
    demo = " (demo: simulated exchange and users)" if settings.demo.enabled else ""
    log.info("http", url=base, dashboard=f"{base}/", metrics=f"{base}/metrics")
    operators = (
        ", ".join(settings.web.tokens()) or "none (read-only; set PEGKEEPER_WEB__OPERATOR_TOKENS)"
    )
    lines = [
        f"pegkeeper is running{demo}",
        f"  dashboard: {base}/",
        f"  operators: {operators}",
        *_venues(runtime),
        f"  ledger:  {runtime.ledger.description}",
        f"  state:   {runtime.stored.describe()}",
        f"  hedging: {_hedging(runtime)}",
        *[f"  in flight: {line}" for line in await _in_flight(runtime)],
        f"  dealer:  {base}/api/v1/dealer   (or: pegkeeper status)",
        f"  orders:  {base}/api/v1/orders",
        f"  funding: {base}/api/v1/funding  (or: pegkeeper funding)",
        f"  a price: {base}/api/v1/quote?direction=buy&sats=100000",
        *_equities(runtime, base),
    ]
    if "price-server" in services:
        p = settings.price_server
        lines.append(
            f"  gRPC:    price {p.host}:{p.price_port}, quotes {p.host}:{p.quote_port} "
            "(or: pegkeeper price --buy --sats 100000)"
        )
    lines += [
        f"  metrics: {base}/metrics   health: {base}/readyz",
        "  post a liability change: pegkeeper liability add --cents 500000",
        "  stop with Ctrl-C (or SIGTERM)",
    ]
    sys.stderr.write("\n".join(lines) + "\n")


def _venues(runtime: Runtime) -> list[str]:
    """The venue, or each venue with its legs and what stands in for it."""
    if len(runtime.venues) <= 1:
        return [f"  venue:   {runtime.venue.description}"]
    legs = runtime.settings.allocation.legs
    lines = []
    for name, setup in runtime.venues.items():
        own = ", ".join(leg.instrument_id for leg in legs if leg.venue == name)
        lines.append(f"  venue {name}: {setup.description}; legs: {own}")
    return lines


def _hedging(runtime: Runtime) -> str:
    state = runtime.control.state
    if not state.paused:
        return "on"
    return f"PAUSED by {state.by or 'an operator'} (resume from the dashboard or the API)"


async def _in_flight(runtime: Runtime) -> list[str]:
    """Orders not final, looked up at the venue before anything new is sent."""
    return [
        f"order {o.intent.client_order_id} on {o.intent.instrument_id} is {o.state.value}"
        for o in await runtime.store.hedge.open_orders()
    ]


def _equities(runtime: Runtime, base: str) -> list[str]:
    from pegkeeper.bootstrap.equities import EquityDemoUnavailable, EquitySetup

    equities = runtime.equities
    if isinstance(equities, EquityDemoUnavailable):
        return [f"  equities: off ({equities.reason})"]
    if not isinstance(equities, EquitySetup):
        return []
    demo = " (demo: a local chain with takers)" if equities.demo is not None else ""
    return [
        f"  equities: {base}/api/v1/equities   (or: pegkeeper equities){demo}",
        f"            chain {equities.chain.endpoint}, broker {equities.broker.name}",
    ]
