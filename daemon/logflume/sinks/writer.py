"""One batch to one sink: attempts with backoff and jitter, outcome bookkeeping, dead letters.

The sink classifies (accepted, retry these, rejected with a reason, or an exception); this module
decides what happens next, the same way for every backend.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from logflume import jsontext, lines
from logflume.errors import SinkError
from logflume.events import META_KEY, DeadLetter, Event
from logflume.lines import Lines
from logflume.retry import Backoff, Outcome, outcome_of
from logflume.sinks.base import LinesResult, Sink
from logflume.sinks.config import RetryConfig
from logflume.sinks.lifecycle import Lifecycle
from logflume.sinks.stats import SinkStats
from logflume.telemetry import DELIVERY_FAILED, REQUEST_FAILED

log = logging.getLogger("logflume.sinks")

DeadLetterFn = Callable[[list[DeadLetter]], None]


def dead_letter_for(sink_name: str, event: Event, reason: str) -> DeadLetter:
    """A dead letter for an event a sink refused, keeping the event as its raw payload."""
    meta = event.get(META_KEY) or {}
    return DeadLetter(
        source=str(meta.get("source", "")),
        file=str(meta.get("file", "")),
        offset=int(meta.get("offset", -1)),
        reason=f"sink {sink_name}: {reason}",
        raw=jsontext.dumps(event).decode(),
    )


class Writer:
    """Writes batches to a sink, opening and preparing it first (:class:`Lifecycle`), so a backend
    down at start, or one that lost its tables, is set up by the next attempt."""

    def __init__(
        self, sink: Sink, name: str, retry: RetryConfig, stats: SinkStats, dead_letter: DeadLetterFn
    ) -> None:
        self.sink = sink
        self.name = name
        self.retry = retry
        self.stats = stats
        self.healthy = True
        self.lifecycle = Lifecycle(sink, name)
        self.stopping = asyncio.Event()
        self._dead_letter = dead_letter

    @property
    def opened(self) -> bool:
        return self.lifecycle.opened

    async def open(self) -> None:
        """Open and prepare the sink (at start; every write does it too while it is not)."""
        await self.lifecycle.ready()

    async def close(self) -> None:
        await self.lifecycle.close()

    async def deliver(self, events: list[Lines], *, fail_fast: bool, interruptible: bool) -> list[Lines]:
        """Write until every event is accepted or dead-lettered; return what is still undelivered.

        ``fail_fast``: return the failed events after the first transient failure (they go to the
        disk buffer). ``interruptible``: give up retrying once :attr:`stopping` is set.
        """
        backoff = Backoff(self.retry.initial_backoff, self.retry.max_backoff)
        pending = events
        attempts = 0
        while pending:
            attempts += 1
            started = time.monotonic()
            try:
                await self.lifecycle.ready()
                result = await self._write(pending)
            except Exception as exc:
                outcome = outcome_of(exc)
                if not isinstance(exc, SinkError):
                    # Treated as transient (see outcome_of), and made visible.
                    log.exception("Sink write raised an unexpected error", extra={"sink": self.name})
                self.record_error(exc, lines.count(pending))
                if outcome is Outcome.FATAL:
                    self.reject(pending, str(exc))
                    return []
                if outcome is Outcome.SETUP_LOST:
                    self.lifecycle.lost()
                failed, reason = pending, f"gave up after {attempts} attempts: {exc}"
            else:
                self._record_success(pending, result.retry, result.rejected, time.monotonic() - started)
                failed, reason = result.retry, f"gave up after {attempts} attempts"
            if not failed:
                return []
            limit = self.retry.max_attempts
            if not fail_fast and limit is not None and attempts >= limit:
                self.reject(failed, reason)
                return []
            self.stats.events_retried += lines.count(failed)
            if fail_fast or (interruptible and self.stopping.is_set()):
                return failed
            delay = backoff.next_delay()
            self.stats.sample_backoff(delay)
            if interruptible:
                # A stop interrupts the wait: the caller keeps the batch (on disk).
                try:
                    async with asyncio.timeout(delay):
                        await self.stopping.wait()
                    return failed
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(delay)
            pending = failed
        return []

    async def _write(self, blocks: list[Lines]) -> LinesResult:
        """One write: the lines as they are to a sink that takes lines, decoded events to any other."""
        write_lines = getattr(self.sink, "write_lines", None)
        if write_lines is not None:
            result: LinesResult = await write_lines(blocks)
            return result
        answer = await self.sink.write(lines.decode(blocks))
        return LinesResult(lines.encode(answer.retry), answer.rejected)

    def _record_success(
        self, sent: list[Lines], retry: list[Lines], rejected: list[tuple[Event, str]], seconds: float
    ) -> None:
        if not self.healthy:
            log.info("Sink recovered", extra={"sink": self.name})
        self.healthy = True
        self.stats.batches += 1
        self.stats.sample_write(seconds)
        self.stats.last_success = time.time()
        if rejected:
            self._dead_letter([dead_letter_for(self.name, event, reason) for event, reason in rejected])
            self.stats.events_dead_lettered += len(rejected)
        self.stats.events_sent += lines.count(sent) - lines.count(retry) - len(rejected)

    def record_error(self, exc: Exception, count: int, message: str = "Sink write failed") -> None:
        fatal = outcome_of(exc) is Outcome.FATAL
        self.stats.request_errors[DELIVERY_FAILED if fatal else REQUEST_FAILED] += 1
        self.stats.last_error = str(exc) or type(exc).__name__
        extra = {"sink": self.name, "error": self.stats.last_error, "events": count}
        # Warn when the sink turns unhealthy; repeating it every backoff would flood the log.
        log.log(logging.WARNING if self.healthy else logging.DEBUG, message, extra=extra)
        self.healthy = False

    def reject(self, blocks: list[Lines], reason: str) -> None:
        """Dead-letter events for good, with the reason."""
        events = lines.decode(blocks)
        self.stats.events_failed += len(events)
        self.stats.events_dead_lettered += len(events)
        self._dead_letter([dead_letter_for(self.name, e, reason) for e in events])
