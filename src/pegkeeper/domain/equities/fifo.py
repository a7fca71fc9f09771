"""FIFO P&L per symbol (specs/equities.md, "FIFO P&L"; the golden case totals 3.45)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pegkeeper.domain.equities.pnl import PnlEntry, Trade

COUNTER_TRADE_WINDOW_MS = 300_000


def replay(
    trades: Sequence[Trade], *, counter_trade_window_ms: int = COUNTER_TRADE_WINDOW_MS
) -> list[PnlEntry]:
    """One entry per trade, in the order given (time order), with running totals per symbol."""
    raise NotImplementedError


def unrealised_usd(trades: Sequence[Trade], mark_price_usd: Decimal) -> Decimal:
    """The open lots of one symbol after `trades`, marked at `mark_price_usd`."""
    raise NotImplementedError
