"""The safety net under every stage: an event a stage raises on is isolated, never fatal.

A stage is called on a whole batch. When that call raises, the stage is called again on each
event of the batch alone (the batch as it was before the failed call); an event it still raises
on becomes a dead letter (reason ``stage <name>: <ExceptionType>: <message>``, raw = the event's
JSON without the daemon's metadata) and the rest of the batch carries on. The happy path pays one
``try`` per stage and batch, and a snapshot of the list lengths so the failed call can be undone.

What a retry can count twice: a stateful stage (aggregate, anomaly) that raised part-way through
a batch has already counted the events before the culprit; run again one by one, those events
are counted again (a window's count and sums, a rule's matches). The stages are written to be
total on any value (the property tests in tests/pipeline/test_hostile.py feed them hostile
events), so this path is for bugs, and over-counting a window beats losing the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from logflume import jsontext
from logflume.events import META_KEY, Batch, DeadLetter, Event
from logflume.pipeline.stage import Stage
from logflume.telemetry import STAGE_FAILED, Count, count

log = logging.getLogger("logflume.pipeline")

# At most one log line per stage in this many seconds (with the count of what it stood for).
LOG_INTERVAL = 60.0
MAX_MESSAGE = 300


@dataclass(slots=True)
class Snapshot:
    """What a batch held before a stage was called: enough to give the stage the same batch again."""

    events: list[Event]
    count: int
    dead: int
    alerts: int
    routes: dict[str, tuple[list[Event], int]] | None

    @classmethod
    def of(cls, batch: Batch) -> Snapshot:
        routes = batch.routes
        return cls(
            batch.events,
            len(batch.events),
            len(batch.dead),
            len(batch.alerts),
            None if routes is None else {sink: (events, len(events)) for sink, events in routes.items()},
        )

    def restore(self, batch: Batch) -> Batch:
        """The batch the stage was given (stages append to lists or replace them, never cut them)."""
        routes = None
        if self.routes is not None:
            routes = {sink: events[:count] for sink, (events, count) in self.routes.items()}
        events, dead, alerts = self.events[: self.count], batch.dead[: self.dead], batch.alerts[: self.alerts]
        return Batch(events, batch.acks, dead, alerts, routes)


@dataclass(slots=True)
class StageCounters:
    """Events into and out of one stage; dropped and routed are the part of the difference each
    explains. Kept where the stage runs (a job, perhaps in a worker process) and added up by the
    daemon."""

    batches: int = 0
    events_in: int = 0
    events_out: int = 0
    dropped: int = 0
    routed: int = 0
    dead_letters: int = 0
    # Batches the stage raised on (then run event by event; what still raised is in dead_letters).
    failed_batches: int = 0

    def add_to(self, counters: StageCounters) -> None:
        # Field by field, not through dataclasses.fields(): this runs for every stage of every chunk.
        counters.batches += self.batches
        counters.events_in += self.events_in
        counters.events_out += self.events_out
        counters.dropped += self.dropped
        counters.routed += self.routed
        counters.dead_letters += self.dead_letters
        counters.failed_batches += self.failed_batches

    def telemetry(self) -> list[Count]:
        """The counts every stage has; a stage's dead letters are the events it raised on."""
        return [
            count("events_in", self.events_in),
            count("events_out", self.events_out),
            count("events_dropped", self.dropped),
            count("events_routed", self.routed),
            count("events_dead_lettered", self.dead_letters),
            count("batch_failures", self.failed_batches),
            count("errors", self.dead_letters, error_type=STAGE_FAILED),
        ]


def metered_call(stage: Stage, counters: StageCounters, batch: Batch, now: float, guard: StageGuard) -> Batch:
    """One stage on one batch, counted; a stage that raises is rerun event by event (the events
    it still raises on are dead-lettered), so no event can stop the processor."""
    before = Snapshot.of(batch)
    events_in, dead_in, routed_in = before.count, before.dead, _routed(batch)
    try:
        batch = stage(batch, now)
    except Exception as exc:
        counters.failed_batches += 1
        batch = guard.rerun(stage, before.restore(batch), now, exc)
    events_out = len(batch.events)
    routed = _routed(batch) - routed_in
    counters.batches += 1
    counters.events_in += events_in
    counters.events_out += events_out
    counters.routed += routed
    if events_in > events_out + routed:
        counters.dropped += events_in - events_out - routed
    counters.dead_letters += len(batch.dead) - dead_in
    return batch


def _routed(batch: Batch) -> int:
    return sum(map(len, batch.routes.values())) if batch.routes else 0


class StageGuard:
    """Runs one stage event by event after it failed on a batch; counts and logs what failed."""

    def __init__(self) -> None:
        self.failed_batches: dict[str, int] = {}
        self.failed_events: dict[str, int] = {}
        self._logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def rerun(self, stage: Stage, before: Batch, now: float, error: Exception) -> Batch:
        """``before`` through ``stage`` one event at a time; the events it raises on are dead letters."""
        name = stage.name
        out = Batch([], before.acks, before.dead, before.alerts, None)
        failed: set[int] = set()
        culprits: list[BaseException] = []

        def one(single: Batch, event: Event) -> None:
            try:
                result = stage(single, now)
            except Exception as exc:
                if id(event) not in failed:
                    failed.add(id(event))
                    culprits.append(exc)
                    out.dead.append(dead_letter(name, event, exc))
                return
            _merge(out, result)

        for event in before.events:
            one(Batch([event]), event)
        if before.routes is not None:
            out.routes = out.routes if out.routes is not None else {}
            for sink, routed in before.routes.items():
                out.routes.setdefault(sink, [])
                for event in routed:
                    one(Batch([], routes={sink: [event]}), event)
        self.failed_batches[name] = self.failed_batches.get(name, 0) + 1
        self.failed_events[name] = self.failed_events.get(name, 0) + len(failed)
        self._log(name, error, len(before.events), len(failed), culprits)
        return out

    def _log(
        self, name: str, error: Exception, events: int, failed: int, culprits: list[BaseException]
    ) -> None:
        # No event contents (nor exception messages, which may quote them) in the daemon's log:
        # the dead-letter file has both.
        now = time.monotonic()
        self._unlogged[name] = self._unlogged.get(name, 0) + 1
        if now - self._logged.get(name, float("-inf")) < LOG_INTERVAL:
            return
        self._logged[name] = now
        log.error(
            "Stage failed on a batch; its events were run one by one",
            extra={
                "stage": name,
                "error_type": type(error).__name__,
                "events": events,
                "dead_lettered": failed,
                "error_types": sorted({type(exc).__name__ for exc in culprits}),
                "failures_since_last_log": self._unlogged.pop(name),
            },
        )


def dead_letter(stage_name: str, event: Event, error: BaseException) -> DeadLetter:
    """The dead letter of an event a stage raised on: where it came from, why, and its content."""
    meta = event.get(META_KEY)
    if type(meta) is not dict:
        meta = {}
    offset = meta.get("offset")
    message = _message(error)
    reason = f"stage {stage_name}: {type(error).__name__}" + (f": {message}" if message else "")
    content = {key: value for key, value in event.items() if key != META_KEY}
    return DeadLetter(
        source=str(meta.get("source", "")),
        file=str(meta.get("file", "")),
        offset=offset if type(offset) is int else -1,
        reason=reason,
        raw=jsontext.dumps(content).decode("utf-8"),
    )


def _message(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # an exception whose message cannot be made is still a reason
        return ""
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _merge(out: Batch, result: Batch) -> None:
    out.events.extend(result.events)
    if result.dead is not out.dead:
        out.dead.extend(result.dead)
    if result.alerts is not out.alerts:
        out.alerts.extend(result.alerts)
    if result.routes:
        if out.routes is None:
            out.routes = {}
        for sink, events in result.routes.items():
            out.routes.setdefault(sink, []).extend(events)
