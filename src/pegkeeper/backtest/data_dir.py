"""Where a backtest's input files are found: as given, or under the data directory."""

from __future__ import annotations

from pathlib import Path

DATA_DIR_ENV = "PEGKEEPER_BACKTEST_DATA"  # the directory holding the btc/ and funding/ files


def locate_input(path: Path, data_dir: Path | None) -> Path:
    """`path` as given, or under `data_dir` when relative and absent from the current
    directory; FileNotFoundError says where it was looked for."""
    if path.is_file():
        return path
    if data_dir is not None and not path.is_absolute() and (data_dir / path).is_file():
        return data_dir / path
    where = f" (nor under --data-dir / ${DATA_DIR_ENV} {data_dir})" if data_dir else ""
    raise FileNotFoundError(f"{path} does not exist{where}")
