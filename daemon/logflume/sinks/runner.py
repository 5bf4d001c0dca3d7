"""Runs one sink: a bounded queue in, batching, retries with backoff, acknowledgement out.

The runner owns everything that is the same for every backend (Vector's "shared layer"): the sink
itself only writes and classifies outcomes (see :mod:`logflume.sinks.base`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import Ack, DeadLetter, Event, META_KEY
from logflume.sinks.base import Sink
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.retry import Backoff

log = logging.getLogger("logflume.sinks")

DeadLetterFn = Callable[[list[DeadLetter]], None]


@dataclass
class SinkStats:
    """Counters the runner keeps for one sink (exported by the metrics endpoint)."""

    batches: int = 0
    events_sent: int = 0
    events_failed: int = 0
    events_retried: int = 0
    events_dead_lettered: int = 0
    write_errors: int = 0
    last_error: str | None = None
    last_success: float = 0.0
    write_seconds: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Item:
    events: list[Event]
    acks: list[Ack]


def dead_letter_for(sink_name: str, event: Event, reason: str) -> DeadLetter:
    """A dead letter for an event a sink refused, keeping the event as its raw payload."""
    import orjson

    meta = event.get(META_KEY) or {}
    return DeadLetter(
        source=str(meta.get("source", "")),
        file=str(meta.get("file", "")),
        offset=int(meta.get("offset", -1)),
        reason=f"sink {sink_name}: {reason}",
        raw=orjson.dumps(event, default=str).decode(),
    )


class SinkRunner:
    """Feeds one sink from its own bounded queue, so a slow backend never stalls the others."""

    def __init__(self, sink: Sink, config: SinkCommonConfig, dead_letter: DeadLetterFn) -> None:
        self.sink = sink
        self.name = config.name
        self.config = config
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=config.queue_batches)
        self.stats = SinkStats()
        self._dead_letter = dead_letter
        self._task: asyncio.Task[None] | None = None
        self.healthy = True

    async def start(self) -> None:
        await self.sink.open()
        self._task = asyncio.create_task(self._run(), name=f"sink:{self.name}")

    async def put(self, events: list[Event], acks: list[Ack]) -> None:
        """Queue a batch; waits while the queue is full (this is the backpressure)."""
        await self.queue.put(_Item(events, acks))

    async def stop(self) -> None:
        """Deliver what is queued, then close the sink."""
        if self._task is not None:
            await self.queue.put(None)
            await self._task
            self._task = None
        await self.sink.close()

    def abort(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def sync(self) -> None:
        """Make what this sink acknowledged durable (called before checkpoints are saved)."""
        await self.sink.sync()

    async def _run(self) -> None:
        closing = False
        while not closing:
            item = await self.queue.get()
            if item is None:
                break
            events, acks = list(item.events), list(item.acks)
            deadline = time.monotonic() + self.config.batch.timeout
            # Gather more queued batches up to the batch size, waiting at most batch.timeout.
            while len(events) < self.config.batch.max_events:
                try:
                    if self.queue.empty() and self.config.batch.timeout <= 0:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 and self.queue.empty():
                        break
                    nxt = await asyncio.wait_for(self.queue.get(), max(remaining, 0.0)) if self.queue.empty() \
                        else self.queue.get_nowait()
                except TimeoutError:
                    break
                if nxt is None:
                    closing = True
                    break
                events.extend(nxt.events)
                acks.extend(nxt.acks)
            await self._deliver(events)
            for ack in acks:
                ack.done()

    async def _deliver(self, events: list[Event]) -> None:
        """Write until every event is accepted or dead-lettered."""
        backoff = Backoff(self.config.retry.initial_backoff, self.config.retry.max_backoff)
        pending = events
        attempts = 0
        while pending:
            attempts += 1
            started = time.monotonic()
            try:
                result = await self.sink.write(pending)
            except RetryableSinkError as exc:
                self._record_error(exc, len(pending))
                if self._exhausted(attempts):
                    self._reject(pending, f"gave up after {attempts} attempts: {exc}")
                    return
                self.stats.events_retried += len(pending)
                await asyncio.sleep(backoff.next_delay())
                continue
            except FatalSinkError as exc:
                self._record_error(exc, len(pending))
                self._reject(pending, str(exc))
                return
            elapsed = time.monotonic() - started
            self.healthy = True
            self.stats.batches += 1
            self.stats.write_seconds.append(elapsed)
            if len(self.stats.write_seconds) > 1024:
                del self.stats.write_seconds[:512]
            self.stats.last_success = time.time()
            if result.rejected:
                self._dead_letter([dead_letter_for(self.name, e, r) for e, r in result.rejected])
                self.stats.events_dead_lettered += len(result.rejected)
            self.stats.events_sent += len(pending) - len(result.retry) - len(result.rejected)
            pending = result.retry
            if pending:
                self.stats.events_retried += len(pending)
                if self._exhausted(attempts):
                    self._reject(pending, f"gave up after {attempts} attempts")
                    return
                await asyncio.sleep(backoff.next_delay())

    def _exhausted(self, attempts: int) -> bool:
        limit = self.config.retry.max_attempts
        return limit is not None and attempts >= limit

    def _record_error(self, exc: Exception, count: int) -> None:
        self.healthy = False
        self.stats.write_errors += 1
        self.stats.last_error = str(exc)
        log.warning("Sink write failed", extra={"sink": self.name, "error": str(exc), "events": count})

    def _reject(self, events: list[Event], reason: str) -> None:
        self.stats.events_failed += len(events)
        self.stats.events_dead_lettered += len(events)
        self._dead_letter([dead_letter_for(self.name, e, reason) for e in events])
