"""Price quotes over gRPC: pegkeeper's price server beside a bare grpcio asyncio server that
answers the same message with a constant (the floor of the stack), in the same run.

Each server runs in its own process, started the way an operator starts it (`pegkeeper run
price-server`, from the bundled book file); the load comes from another process
(bench/grpc_client.py), the same client for every server. With 64 calls in flight the rounds
alternate between the servers and the median round is reported; a steady 500 calls per second
measures latency from each call's scheduled time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

SECONDS = float(os.environ.get("BENCH_GRPC_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_GRPC_ROUNDS", "3"))
INFLIGHT = 64
STEADY_RATE = 500
TARGET_THROUGHPUT = 0.80  # of the bare server's
TARGET_P99_RATIO = 1.25  # of the bare server's p99 at 64 in flight
TARGET_STEADY_P99_MS = 5.0

BARE = "bare asyncio"  # the floor the targets compare with
BARE_UVLOOP = "bare uvloop"
PEGKEEPER = "pegkeeper"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile_ms(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


def _wait_serving(target: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server for {target} exited with {process.returncode}")
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                continue
    raise RuntimeError(f"no server on {target} after {timeout_s} s")


@contextmanager
def _server(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    target = f"127.0.0.1:{port}"
    try:
        _wait_serving(target, process)
        yield target
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bare(uvloop: bool) -> tuple[list[str], int, dict[str, str] | None]:
    port = _free_port()
    command = [sys.executable, "-m", "bench.bare_grpc_server", "--port", str(port)]
    return ([*command, "--uvloop"] if uvloop else command), port, None


def _pegkeeper(data_dir: Path, quote_port: int) -> tuple[list[str], int, dict[str, str] | None]:
    port = _free_port()
    config = data_dir / "pegkeeper.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n'
        f"[http]\nport = {_free_port()}\n"
        "[demo]\nenabled = false\n[hedger]\nenabled = false\n"
        '[log]\nlevel = "warning"\n'
        f"[price_server]\nprice_port = {port}\nquote_port = {quote_port}\n"
    )
    env = {**os.environ, "PEGKEEPER_CONFIG": str(config)}
    return [sys.executable, "-m", "pegkeeper", "run", "price-server"], port, env


def _load(target: str, *, rate: float = 0, kind: str = "price") -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.grpc_client",
        "--target",
        target,
        "--kind",
        kind,
        "--inflight",
        str(INFLIGHT),
        "--seconds",
        str(SECONDS if not rate else max(SECONDS, 10)),
    ]
    if rate:
        command += ["--rate", str(rate)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    raw = json.loads(done.stdout)
    latencies = raw["latencies"]
    return {
        "calls_per_s": raw["calls"] / raw["seconds"],
        "p50_ms": _percentile_ms(latencies, 50),
        "p99_ms": _percentile_ms(latencies, 99),
        "errors": raw["errors"],
    }


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput, with every round's errors."""
    ordered = sorted(rounds, key=lambda r: r["calls_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["errors"] = sum(r["errors"] for r in rounds)
    chosen["rounds"] = [round(r["calls_per_s"]) for r in rounds]
    return chosen


def measure() -> dict[str, dict[str, Any]]:
    quote_port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            BARE: _bare(uvloop=False),
            BARE_UVLOOP: _bare(uvloop=True),
            PEGKEEPER: _pegkeeper(Path(tmp), quote_port),
        }
        with (
            _server(*servers[BARE]) as bare,
            _server(*servers[BARE_UVLOOP]) as bare_uvloop,
            _server(*servers[PEGKEEPER]) as pegkeeper,
        ):
            targets = {BARE: bare, BARE_UVLOOP: bare_uvloop, PEGKEEPER: pegkeeper}
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            for _ in range(ROUNDS):
                for name, target in targets.items():
                    rounds[name].append(_load(target))
            results = {name: _median_round(runs) for name, runs in rounds.items()}
            for name in (BARE, PEGKEEPER):
                results[name]["steady"] = _load(targets[name], rate=STEADY_RATE)
            quotes = f"127.0.0.1:{quote_port}"
            results[PEGKEEPER]["stored_quotes"] = _load(quotes, kind="quote")
    return results


def rows(results: dict[str, dict[str, Any]]) -> list[dict[str, object]]:
    floor = results[BARE]
    table: list[dict[str, object]] = []
    for name, result in results.items():
        steady = result.get("steady")
        table.append(
            {
                "server": name,
                "calls/s": f"{result['calls_per_s']:,.0f}",
                "vs bare": f"{result['calls_per_s'] / floor['calls_per_s']:.0%}",
                "p50 ms": f"{result['p50_ms']:.2f}",
                "p99 ms": f"{result['p99_ms']:.2f}",
                "p99/bare": f"{result['p99_ms'] / floor['p99_ms']:.2f}",
                f"p99 ms {STEADY_RATE}/s": f"{steady['p99_ms']:.2f}" if steady else "-",
                "errors": result["errors"] + (steady["errors"] if steady else 0),
                "rounds": " ".join(str(r) for r in result["rounds"]),
            }
        )
    return table


def verdicts(results: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    floor, ours = results[BARE], results[PEGKEEPER]
    throughput = ours["calls_per_s"] / floor["calls_per_s"]
    p99_ratio = ours["p99_ms"] / floor["p99_ms"]
    steady_p99 = ours["steady"]["p99_ms"]
    errors = ours["errors"] + ours["steady"]["errors"] + ours["stored_quotes"]["errors"]
    return [
        (
            f"throughput {throughput:.0%} of the bare server's (target >= 80 %)",
            throughput >= TARGET_THROUGHPUT,
        ),
        (
            f"p99 {p99_ratio:.2f} x the bare server's (target <= 1.25)",
            p99_ratio <= TARGET_P99_RATIO,
        ),
        (
            f"p99 {steady_p99:.2f} ms at a steady {STEADY_RATE}/s (target < 5 ms)",
            steady_p99 < TARGET_STEADY_P99_MS,
        ),
        (f"{errors} errors (target 0)", errors == 0),
    ]


def stored_quotes_line(results: dict[str, dict[str, Any]]) -> str:
    quotes = results[PEGKEEPER]["stored_quotes"]
    return (
        f"stored quotes (GetQuoteToBuyUsd, SQLite, {INFLIGHT} in flight, not a target): "
        f"{quotes['calls_per_s']:,.0f}/s, p50 {quotes['p50_ms']:.2f} ms, "
        f"p99 {quotes['p99_ms']:.2f} ms, {quotes['errors']} errors"
    )
