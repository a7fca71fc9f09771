"""Rows that `pegkeeper status` and `pegkeeper funding` share: the leverage and liquidation of
the freshest reading (as the server rounded them), the hedging switch, the orders in flight."""

from __future__ import annotations

from typing import Any

from pegkeeper.cli.quotes import utc_iso

SOURCES = {"funding": "funding manager's reading", "hedger": "hedger's position snapshot"}


def risk_rows(risk: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not risk:
        return [("leverage", "-"), ("liquidation price (USD)", "-")]
    distance = risk["liquidation_distance_pct"]
    liquidation = risk["liquidation_price_usd"]
    source = risk["liquidation_source"]
    return [
        ("leverage (at the mark)", risk["leverage"] or "-"),
        ("liquidation price (USD)", f"{liquidation} ({source})" if liquidation else "-"),
        ("liquidation distance (%)", distance or "-"),
        ("mark price (USD)", risk["mark_price_usd"]),
        (f"trading equity ({risk['currency']})", risk["equity"]),
        ("figures as of", f"{utc_iso(risk['as_of_ms'] // 1000)}, {_source(risk['source'])}"),
    ]


def hedging_rows(hedging: dict[str, Any] | None) -> list[tuple[str, str]]:
    if hedging is None:
        return []
    if not hedging["paused"]:
        return [("hedging", "active")]
    by = hedging["by"] or "-"
    since = utc_iso(hedging["since_ms"] // 1000) if hedging["since_ms"] else "-"
    note = f" ({hedging['note']})" if hedging["note"] else ""
    return [("hedging", f"paused by {by} since {since}{note}")]


def in_flight_rows(orders: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if not orders:
        return [("order in flight", "none")]
    return [
        ("order in flight", f"{o['client_order_id']} ({o['state']}, {_age(o['age_ms'])} old)")
        for o in orders
    ]


def _source(name: str) -> str:
    return SOURCES.get(name, name)


def _age(age_ms: int | None) -> str:
    if age_ms is None:
        return "?"
    return f"{age_ms / 1000:.1f} s"
