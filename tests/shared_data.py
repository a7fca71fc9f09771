"""Where the real market data and exchange captures live: `shared/data` beside the repository,
or $PEGKEEPER_SHARED_DATA."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data() -> Path:
    override = os.environ.get("PEGKEEPER_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"
