"""`make bench`: every benchmark, printed as tables. Figures depend on the machine: see nproc."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

from bench import okx_book, reaction_latency


def _table(title: str, rows: list[dict[str, object]]) -> Table:
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    return table


def main() -> None:
    console = Console()
    console.print(f"machine: {os.cpu_count()} cores")
    okx_book.main()
    rows = [reaction_latency.run()]
    postgres = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    if postgres != "off":
        url, drop = reaction_latency.fresh_postgres_database(postgres)
        try:
            rows.append(reaction_latency.run(url, "PostgreSQL"))
        finally:
            drop()
    console.print(
        _table("reaction latency: liability POST -> hedge order filled (target p99 < 50 ms)", rows)
    )


if __name__ == "__main__":
    main()
