"""Structured logs: JSON lines on stderr (or readable lines for a terminal)."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

import structlog

# Warnings and errors logged since start, by (level, event): the metrics' errors by cause.
PROBLEMS: Counter[tuple[str, str]] = Counter()
_MAX_CAUSES = 200
_PROBLEM_LEVELS = {"warning", "error", "critical", "exception"}


class _Stderr:
    """Whatever sys.stderr is at the time of writing (it may be replaced after start)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", json_format: bool = True) -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_format else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            count_problems,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


def count_problems(
    _logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Counts warnings and errors by their event text (a fixed phrase in pegkeeper's logs)."""
    if method_name in _PROBLEM_LEVELS:
        level = "warning" if method_name == "warning" else "error"
        cause = str(event_dict.get("event", ""))[:120]
        if (level, cause) not in PROBLEMS and len(PROBLEMS) >= _MAX_CAUSES:
            cause = "other"
        PROBLEMS[(level, cause)] += 1
    return event_dict
