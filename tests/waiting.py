"""Waiting for a condition the next step of a test needs: the one helper the whole suite uses.

``until`` (async, does not block the loop) and ``wait_for`` (sync, for subprocess tests) poll a
predicate with a deadline. The deadline is a hang guard, never a timing assertion: on a loaded
machine a condition may take long to hold, and only one that never holds fails the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class _Deadline:
    def __init__(self, limit: float, what: str) -> None:
        self.end = time.monotonic() + limit
        self.limit = limit
        self.what = what

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise AssertionError(f"gave up after {self.limit:g}s waiting for: {self.what}")


async def until(
    predicate: Callable[[], object], what: str = "a condition", limit: float = 120.0, interval: float = 0.02
) -> None:
    """Wait (without blocking the loop) until ``predicate()`` is true; fail after ``limit`` seconds."""
    deadline = _Deadline(limit, what)
    while not predicate():
        deadline.check()
        await asyncio.sleep(interval)


def wait_for(
    predicate: Callable[[], object], timeout: float = 60, interval: float = 0.1, what: str = "a condition"
) -> None:
    """Block until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = _Deadline(timeout, what)
    while not predicate():
        deadline.check()
        time.sleep(interval)
