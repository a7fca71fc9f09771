"""The route table of the simulator's REST API: which handler answers which path, and what
kind of request it is (private, order placement) for authentication and fault injection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pegkeeper.sim.okx_server.context import SimContext
from pegkeeper.sim.okx_server.envelope import Json

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    data: list[Json]
    code: str = "0"
    msg: str = ""


Handler = Callable[[SimContext, Any], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # under /api/v5/
    handler: Handler
    private: bool = True
    places_orders: bool = False


def comma_list(params: Params, name: str) -> list[str] | None:
    value = params.get(name)
    if not value:
        return None
    return [part for part in str(value).split(",") if part]
