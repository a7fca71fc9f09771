"""Where a sweep's cells run: local worker processes, or the workers of a Dask cluster.

The cell runner is a function importable in every worker (bootstrap/backtest.py's `run_cell`):
each worker reads a cell's inputs itself (and keeps them for the next cells of the same path
and seed), runs it and sends back its outcome, a small dict. A cell that raises is reported
with its error, never dropped.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from pegkeeper.backtest.sweep import CellOutcome, SweepCell

CellRunner = Callable[[SweepCell], CellOutcome]
Done = Callable[[CellOutcome], None]
DASK_CONNECT_TIMEOUT_SECONDS = 10


class SweepPoolError(RuntimeError):
    """The workers cannot be had (the Dask scheduler unreachable, say)."""


def run_local(
    cells: Sequence[SweepCell],
    runner: CellRunner,
    workers: int,
    on_done: Done | None = None,
    initializer: Callable[[], None] | None = None,
) -> list[CellOutcome]:
    """Each cell in one of `workers` local processes; the outcomes in the cells' order."""
    # forkserver: the workers start from a clean process, not a fork of this one's threads;
    # each forked from one that has imported the runner's module once
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([runner.__module__])
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=initializer)
    try:
        futures = {pool.submit(runner, cell): cell for cell in cells}
        return _collect(as_completed(futures), futures, on_done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(
    cells: Sequence[SweepCell],
    runner: CellRunner,
    scheduler: str,
    on_done: Done | None = None,
    initializer: Callable[[], None] | None = None,
) -> list[CellOutcome]:
    """Each cell on a worker of the Dask cluster whose scheduler is at `scheduler`."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_SECONDS)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as error:
        raise SweepPoolError(f"--dask {scheduler}: cannot reach the scheduler: {error}") from None
    try:
        if initializer is not None:
            client.run(initializer)
        futures = {client.submit(runner, cell, pure=False): cell for cell in cells}
        completed = dask_completed(list(futures))  # type: ignore[no-untyped-call]
        return _collect(completed, futures, on_done)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _collect(
    completed: Iterable[Any], cells: Mapping[Any, SweepCell], on_done: Done | None
) -> list[CellOutcome]:
    """Each future's outcome as it completes (or the exception that ended it, as the cell's
    error), reported, then all in the cells' order."""
    outcomes = []
    for future in completed:
        try:
            outcome: CellOutcome = future.result()
        except Exception as error:
            outcome = CellOutcome(cells[future].index, None, f"{type(error).__name__}: {error}")
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return sorted(outcomes, key=lambda o: o.index)
