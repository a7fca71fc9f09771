"""Waiting in tests for something another task or process does: a condition polled until it
holds, failing with what was awaited (never a timed assertion: the limit only ends a hang)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, seconds: float = 20
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")
