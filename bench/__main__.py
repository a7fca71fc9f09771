"""`make bench`: every benchmark, printed as tables. Figures depend on the machine: see nproc."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from bench import (
    backtest,
    bus,
    equities,
    failover,
    grpc_quotes,
    okx_book,
    reaction_latency,
    replicas,
    sweep,
)

BENCHMARKS = (
    "book",
    "reaction",
    "grpc",
    "replicas",
    "bus",
    "failover",
    "backtest",
    "sweep",
    "equities",
)


def _table(title: str, rows: list[dict[str, object]]) -> Table:
    table = Table(title=title)
    for key in rows[0]:  # words (labels, verdicts) are never cut: the numbers' headers wrap
        table.add_column(key, no_wrap=any(_has_words(row[key]) for row in rows))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    return table


def _has_words(value: object) -> bool:
    return isinstance(value, str) and any(c.isalpha() for c in value)


def main() -> None:
    """`python -m bench [book] [reaction] [grpc] [replicas] [bus] [failover] [backtest]
    [sweep] [equities]`: the named benchmarks, or all."""
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    console = Console(width=max(120, Console().width))  # the tables are wider than 80 columns
    console.print(f"machine: {os.cpu_count()} cores")
    if "book" in chosen:
        okx_book.main()
    if "reaction" in chosen:
        reaction(console)
    if "grpc" in chosen:
        grpc(console)
    if "replicas" in chosen:
        replica_servers(console)
    if "failover" in chosen:
        console.print(
            _table(
                "failover: kill -9 of the active hedger -> first order by the standby "
                f"({failover.KILLS} kills, PostgreSQL, the OKX simulator, users moving the "
                "liability)",
                [failover.run()],
            )
        )
    if "backtest" in chosen:
        backtests(console)
    if "sweep" in chosen:
        sweeps(console)
    if "equities" in chosen:
        equities.main(console, _table)
    if "bus" in chosen:
        buses(console)


def reaction(console: Console) -> None:
    rows = [reaction_latency.run()]
    postgres = _postgres()
    if postgres != "off":
        url, drop = reaction_latency.fresh_postgres_database(postgres)
        try:
            rows.append(reaction_latency.run(url, "PostgreSQL"))
        finally:
            drop()
    console.print(
        _table("reaction latency: liability POST -> hedge order filled (target p99 < 50 ms)", rows)
    )


def grpc(console: Console) -> None:
    results = grpc_quotes.measure()
    console.print(
        _table(
            f"gRPC price quotes, {grpc_quotes.INFLIGHT} in flight (median of "
            f"{grpc_quotes.ROUNDS} rounds; rounds in calls/s); client in its own process",
            grpc_quotes.rows(results),
        )
    )
    for line, met in grpc_quotes.verdicts(results):
        console.print(f"  {'met' if met else 'NOT MET'}: {line}")
    console.print(f"  {grpc_quotes.stored_quotes_line(results)}")


def replica_servers(console: Console) -> None:
    postgres = _postgres()
    if postgres == "off":
        console.print("replicas: skipped (BENCH_POSTGRES=off; the replicas share PostgreSQL)")
        return
    results = replicas.measure(postgres)
    console.print(
        _table(
            f"price-server replicas on shared ports (SO_REUSEPORT), {replicas.INFLIGHT} in "
            f"flight from {replicas.CLIENTS} client processes x {replicas.CHANNELS} "
            f"connections (median of {replicas.ROUNDS} rounds of {replicas.SECONDS:g} s; "
            "rounds in calls/s; CPU in cores, of the median round)",
            replicas.rows(results),
        )
    )
    for line, met in replicas.verdicts(results):
        console.print(f"  {'met' if met else 'NOT MET'}: {line}")


def _postgres() -> str:
    return os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def backtests(console: Console) -> None:
    report = backtest.run()
    console.print(
        _table(
            f"backtest: a month of 1-minute prices with flows ({backtest.PRICES.name}, "
            f"{backtest.FLOWS}); events per CPU second of one process, before (revision "
            f"{backtest.BASELINE_REVISION}) and after, best of {backtest.ROUNDS} rounds "
            f"(target {backtest.TARGET_EVENTS_PER_SECOND:,}); nproc {report['nproc']}",
            report["rows"],
        )
    )
    console.print(f"  before: {report['baseline']}")
    console.print(f"  after: {report['current']}")


def sweeps(console: Console) -> None:
    report = sweep.run()
    console.print(
        _table(
            f"backtest sweep: {sweep.EXAMPLE.name} on local processes (one per core); wall "
            "time from the first cell sent to the last outcome back",
            report["rows"],
        )
    )
    console.print(_table("the sweep's summary per path, over the seeds", report["summary"]))
    for error in report["errors"]:
        console.print(f"  failed: {error}", markup=False)


def buses(console: Console) -> None:
    console.print(
        _table(
            f"bus on Redis Streams: {bus.MESSAGES:,} messages of {bus.PAYLOAD_BYTES} bytes, "
            "published back to back by one task, consumed in another process; latency "
            "publish -> consume",
            bus.rows(),
        )
    )


if __name__ == "__main__":
    main()
