"""Waiting in async tests for a condition the next step needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    """Wait for a condition the test needs before its next step (a hang guard, not a timing check)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.02)
