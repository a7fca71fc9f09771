"""`python -m bench equities`: the tokenized-equity hedger's ingestion throughput and reaction
latency against anvil, on SQLite and on PostgreSQL (BENCH_POSTGRES, "off" to skip); the
reaction also per broker against its local server, on SQLite (BENCH_EQUITY_BROKERS: a comma
list of alpaca-trading, alpaca-broker, schwab; "" for none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import equity_ingestion, equity_reaction
from bench.broker_servers import REQUESTS_PER_MINUTE
from bench.equity_chain import AnvilMissing
from pegkeeper.bootstrap.logging_setup import configure_logging
from pegkeeper.bootstrap.process import event_loop_runner

TableOf = Callable[[str, list[dict[str, Any]]], Table]


def main(console: Console, table: TableOf) -> None:
    configure_logging("warning", json_format=True)  # as the other runtime benchmarks
    run = event_loop_runner()  # uvloop, as `pegkeeper run`
    try:
        ingestion: list[dict[str, Any]] = []
        run(_into(ingestion, equity_ingestion.run()))
        logs = equity_ingestion.TX_COUNT * equity_ingestion.FILLS_PER_TX
        console.print(
            table(
                f"equity ingestion: backfill of {logs:,} logs from anvil "
                f"({equity_ingestion.FILLS_PER_TX} TakeOrderV3/V2 a transaction), "
                f"ranges of {equity_ingestion.RANGE_BLOCKS:,} blocks; decoded fills per second "
                "(the issue sets no target) and the wall time's parts",
                ingestion,
            )
        )
        reaction: list[dict[str, Any]] = []
        run(_into(reaction, equity_reaction.run()))
        console.print(
            table(
                "equity reaction latency: block mined at the node -> hedge order accepted by the "
                "broker: dry-run (latency 0), or Alpaca (Trading, Broker API) or Schwab (whole "
                "shares) through pegkeeper's adapter over HTTP to its local server in its own "
                'process (calendar "always-open", request budget lifted to '
                f"{REQUESTS_PER_MINUTE:,}/min); cutoff depth 0, ingestion polling every "
                f"{equity_reaction.POLL_INTERVAL_S * 1000:.0f} ms (it bounds the latency); "
                f"target p99 < {equity_reaction.TARGET_P99_MS:.0f} ms; requests per order: "
                "every request the server answered (preflight reads, orders, lookups) over the "
                "orders placed",
                reaction,
            )
        )
    except AnvilMissing as missing:
        console.print(f"equities: skipped: {missing}")


async def _into(rows: list[dict[str, Any]], measured: Any) -> None:
    rows.extend(await measured)
