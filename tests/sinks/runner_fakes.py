"""A scriptable in-process Sink and helpers for testing the generic sink layer (runner, buffers).

Backends are tested against real servers in their own tests; this layer only needs something that
implements the Sink protocol and can be told to fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from logflume.errors import RetryableSinkError
from logflume.events import META_KEY, Ack, Event
from logflume.sinks.base import ACCEPTED, WriteResult
from logflume.sinks.config import SinkCommonConfig

Behaviour = Callable[[list[Event]], WriteResult]


def make_events(start: int, count: int, pad: int = 0) -> list[Event]:
    """Events numbered ``n`` = start … start+count-1, with metadata like a source adds."""
    return [
        {
            "n": n,
            "msg": "x" * pad,
            META_KEY: {
                "event_id": f"fp-{n:x}",
                "source": "proxy",
                "file": "/logs/app.log",
                "offset": 1000 + n * 100,
            },
        }
        for n in range(start, start + count)
    ]


def numbers(events: list[Event]) -> list[int]:
    return [int(event["n"]) for event in events]


def make_config(**fields: Any) -> SinkCommonConfig:
    return SinkCommonConfig.model_validate({"name": "fake", **fields})


class AckLog:
    """Creates acks and records the order in which they complete."""

    def __init__(self) -> None:
        self.completed: list[str] = []

    def ack(self, key: str) -> Ack:
        return Ack(key, 0, lambda ack: self.completed.append(ack.key))


class FakeSink:
    """Accepts writes unless told otherwise; records what it accepted and every call."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.down = False
        self.script: list[Behaviour | Exception] = []  # consumed one per write, before ``down``
        self.gates: dict[int, asyncio.Event] | None = None  # call index -> released when set
        self.delivered: list[Event] = []
        self.calls: list[list[Event]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.opened = 0
        self.prepared = 0
        self.refuse_prepare = 0  # prepare() raises RetryableSinkError this many more times
        self.closed = 0
        self.syncs = 0

    async def open(self) -> None:
        self.opened += 1

    async def prepare(self) -> None:
        if self.refuse_prepare:
            self.refuse_prepare -= 1
            raise RetryableSinkError("connection refused")
        self.prepared += 1

    async def write(self, events: list[Event]) -> WriteResult:
        index = len(self.calls)
        self.calls.append(list(events))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gates is not None:
                await self.gates.setdefault(index, asyncio.Event()).wait()
            if self.script:
                step = self.script.pop(0)
                if isinstance(step, Exception):
                    raise step
                result = step(events)
            elif self.down:
                raise RetryableSinkError("connection refused")
            else:
                result = ACCEPTED
        finally:
            self.in_flight -= 1
        failed = {id(event) for event in result.retry} | {id(event) for event, _ in result.rejected}
        self.delivered.extend(event for event in events if id(event) not in failed)
        return result

    async def sync(self) -> None:
        self.syncs += 1

    async def close(self) -> None:
        self.closed += 1

    async def check(self) -> str:
        return "fake sink"

