"""Who used the machine's CPU during a measured window: the servers under test, PostgreSQL's
backends serving them, and everything else (the load the benchmark shares the machine with).

Read from /proc: a process's user + system time, and the machine's busy time over all cores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine, summed over its cores, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / _TICK, total / _TICK


@dataclass(frozen=True)
class Sample:
    busy_s: float
    total_s: float
    servers_s: tuple[float, ...]
    database_s: float


def sample(server_pids: list[int], database_pids: list[int]) -> Sample:
    busy, total = machine_cpu_s()
    return Sample(
        busy,
        total,
        tuple(process_cpu_s(pid) for pid in server_pids),
        sum(process_cpu_s(pid) for pid in database_pids),
    )


def shares(before: Sample, after: Sample, clients_s: float) -> dict[str, object]:
    """Cores used in the window between the samples: each server, the database's backends,
    the load clients (their own count of `clients_s`), and all the other processes."""
    cores = os.cpu_count() or 1
    wall = (after.total_s - before.total_s) / cores
    if wall <= 0:
        return {"servers": [0.0] * len(after.servers_s), "database": 0.0, "clients": 0.0}
    servers = [(b - a) / wall for a, b in zip(before.servers_s, after.servers_s, strict=True)]
    database = (after.database_s - before.database_s) / wall
    clients = clients_s / wall
    busy = (after.busy_s - before.busy_s) / wall
    return {
        "servers": servers,
        "database": database,
        "clients": clients,
        "others": max(0.0, busy - sum(servers) - database - clients),
    }
