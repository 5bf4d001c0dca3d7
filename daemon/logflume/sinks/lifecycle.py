"""Opening and preparing a sink, for every backend alike: once, however many writes run at once;
deferred while the backend is down; prepared again when a write reports its set-up lost.

The sink implements ``open`` and ``prepare`` (:mod:`logflume.sinks.base`); this decides when they
run. Failures are not swallowed here either: they reach the writer, which counts them, marks the
sink unhealthy and retries with the sink's backoff, exactly like failed writes.
"""

from __future__ import annotations

import asyncio
import logging

from logflume.sinks.base import Sink

log = logging.getLogger("logflume.sinks")


class Lifecycle:
    """Whether one sink is open and prepared, and making it so."""

    def __init__(self, sink: Sink, name: str) -> None:
        self.sink = sink
        self.name = name
        self.opened = False
        self.prepared = False
        self._lost = False  # prepared before and lost since: say so when it is prepared again
        # Writes may run concurrently (``concurrency``): one opens and prepares, the others wait.
        self._lock = asyncio.Lock()

    async def ready(self) -> None:
        """Open and prepare the sink unless it is; raises what ``open``/``prepare`` raise."""
        if self.prepared:
            return
        async with self._lock:
            if not self.opened:
                await self.sink.open()
                self.opened = True
            if not self.prepared:
                await self.sink.prepare()
                self.prepared = True
                if self._lost:
                    self._lost = False
                    log.info("Sink set up again", extra={"sink": self.name})

    def lost(self) -> None:
        """A write found the set-up gone (a dropped table, a deleted bucket): prepare before the next."""
        if self.prepared:
            log.warning("Sink set-up lost; preparing it again", extra={"sink": self.name})
        self.prepared = False
        self._lost = True

    async def close(self) -> None:
        if self.opened:
            self.opened = self.prepared = False
            await self.sink.close()
