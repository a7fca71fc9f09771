"""Market prices and stablecoin pegs over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from pegkeeper.domain.pegstats import PegStats
from pegkeeper.domain.pricing import AggregatedPrice
from pegkeeper.ports import Clock, PegRepository
from pegkeeper.services.market.peg_monitor import WINDOWS_MS, PegMonitor, PegReading

HISTORY_WINDOWS_MS = WINDOWS_MS | {"15m": 15 * 60_000, "30d": 30 * 86_400_000}
MAX_HISTORY_POINTS = 2_000


def pegs_router(monitor: PegMonitor, repository: PegRepository, clock: Clock) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/prices")
    async def prices() -> dict[str, Any]:
        now_ms = clock.now_ms()
        sources = [
            {
                "exchange": top.exchange,
                "market": top.pair,
                "bid": _text(top.bid),
                "ask": _text(top.ask),
                "bid_size": _text(top.bid_size),
                "ask_size": _text(top.ask_size),
                "ts_ms": top.ts_ms,
                "age_ms": now_ms - received_ms,
                "stale": top.stale,
            }
            for top, received_ms in monitor.quotes()
        ]
        return {"sources": sorted(sources, key=lambda s: (s["exchange"], s["market"]))}

    @router.get("/api/v1/pegs")
    async def pegs() -> dict[str, Any]:
        return {"pegs": [_peg(symbol, monitor.reading(symbol)) for symbol in monitor.symbols]}

    @router.get("/api/v1/pegs/{symbol}/history")
    async def history(
        symbol: str,
        window: str = Query("24h", description=f"one of {', '.join(HISTORY_WINDOWS_MS)}"),
        max_points: int = Query(500, ge=2, le=MAX_HISTORY_POINTS),
    ) -> dict[str, Any]:
        if symbol not in monitor.symbols:
            raise HTTPException(404, f"unknown symbol {symbol!r}; watched: {list(monitor.symbols)}")
        if window not in HISTORY_WINDOWS_MS:
            raise HTTPException(
                422, f"window must be one of {', '.join(HISTORY_WINDOWS_MS)}, got {window!r}"
            )
        reading = monitor.reading(symbol)
        until_ms = reading.ts_ms if reading else clock.now_ms()
        rows = await repository.history(
            symbol, until_ms - HISTORY_WINDOWS_MS[window], until_ms, max_points
        )
        return {
            "symbol": symbol,
            "window": window,
            "points": [
                {
                    "ts_ms": r.ts_ms,
                    "price": r.price,
                    "score": r.score,
                    "rmse": r.rmse,
                    "stdev": r.stdev,
                    "drawdown": r.drawdown,
                }
                for r in rows
            ],
        }

    return router


def _peg(symbol: str, reading: PegReading | None) -> dict[str, Any]:
    if reading is None:
        return {"symbol": symbol, "price": None, "reason": "no price yet"}
    return {
        "symbol": symbol,
        "ts_ms": reading.ts_ms,
        "price": f"{reading.price:.6f}",
        "deviation_bps": round(reading.deviation_bps, 2),
        **_stats(reading.ticks),
        "windows": {name: _stats(stats) for name, stats in reading.windows.items()},
        "legs_used": list(reading.aggregate.legs_used),
        "direct": _text(reading.aggregate.direct),
        "bridged": _text(reading.aggregate.bridged),
        "rates": _rates(reading.aggregate),
    }


def _stats(stats: PegStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "rmse": stats.rmse,
        "rmse_score": round(stats.rmse_score, 3),
        "stdev": stats.stdev,
        "stdev_score": round(stats.stdev_score, 3),
        "drawdown": stats.drawdown,
        "drawdown_score": round(stats.drawdown_score, 3),
        "score": round(stats.score, 3),
    }


def _rates(aggregate: AggregatedPrice) -> list[dict[str, Any]]:
    return [
        {
            "pair": pair.pair,
            "value": _text(pair.value),
            "sources": [
                {
                    "exchange": source.exchange,
                    "bid": _text(source.bid),
                    "used": source.used,
                    "rejected": source.rejected.value if source.rejected else None,
                }
                for source in pair.sources
            ],
        }
        for pair in aggregate.pairs
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)
