"""The aggregate stage: tumbling windows by event time, closed by a watermark.

Only the shortest window is fed per event (a dict lookup and a few additions per event); longer
windows are built by merging the shortest ones as they close, and each ``group_by`` set is rolled
up from the finest key at close time, so neither more windows nor more dimension sets cost
anything per event.

The per-event part is the stage's *front* (:mod:`.front`): it sums each batch into partial totals
per window and group without touching the stage's state, so it can run in a worker process; the
stage then merges the partials (:meth:`AggregateStage.take`). Called on a batch of events, the
stage runs both halves itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from logflume.events import Batch, Event
from logflume.pipeline.aggregate.clock import Watermark
from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.aggregate.front import AggregateFront, AggregateInput
from logflume.pipeline.aggregate.window import Totals, metric_event
from logflume.pipeline.labels import group_value
from logflume.telemetry import Count, count

log = logging.getLogger(__name__)

_OTHER = "_other"

Key = tuple[Any, ...]


@dataclass
class AggregateStats:
    events: int = 0
    late: int = 0
    untimed: int = 0
    future: int = 0
    overflow: int = 0
    windows_closed: int = 0
    metrics: int = 0


class _Rollup:
    """One ``group_by`` set: which positions of the finest key it keeps, and when each of its
    groups was last seen (for zero fill)."""

    def __init__(self, names: list[str], dimensions: list[str]) -> None:
        self.names = names
        self.positions = [dimensions.index(name) for name in names]
        self.identity = names == dimensions
        self.last_seen: dict[float, dict[Key, float]] = {}


class AggregateStage:
    """Windows of counts, error rate, latency quantiles, tokens, cost, cache hits, status codes."""

    name = "aggregate"

    def __init__(self, config: AggregateConfig) -> None:
        self.config = config
        self.stats = AggregateStats()
        self.base = config.windows[0]
        self.longer = config.windows[1:]
        self.dimensions = config.dimensions()
        self.front = AggregateFront(config)
        self._rollups = [_Rollup(names, self.dimensions) for names in config.group_by]
        self.watermark = Watermark(config.allowed_lateness, config.idle_after)
        # Open shortest windows: start → finest key → totals.
        self._open: dict[float, dict[Key, Totals]] = {}
        # Longer windows being filled by merging closed shortest ones: length → start → key → totals.
        self._partial: dict[float, dict[float, dict[Key, Totals]]] = {w: {} for w in self.longer}
        # Every shortest window starting before this has closed; events for them are late.
        self.closed_until = -math.inf
        self._next: float | None = None

    def telemetry(self) -> list[Count]:
        s = self.stats
        return [
            count("window_events", s.events, outcome="counted"),
            count("window_events", s.late, outcome="late"),
            count("window_events", s.untimed, outcome="untimed"),
            count("window_events", s.future, outcome="future"),
            count("window_overflow", s.overflow),
            count("windows_closed", s.windows_closed),
            count("metrics_emitted", s.metrics),
        ]

    def __call__(self, batch: Batch, now: float) -> Batch:
        return self.take(self.front(batch.events, now), batch, now)

    def take(self, taken: AggregateInput, batch: Batch, now: float) -> Batch:
        """Merge what the front took from a batch, close what the watermark passed; the metric
        events of closed windows are appended to ``batch.events``."""
        if taken.partials or taken.untimed or taken.future:
            newest = self._merge(taken)
            if newest is not None:
                self.watermark.observe(newest, now)
        metrics = self._close(self.watermark.advance(now))
        if metrics:
            batch.events.extend(metrics)
        return batch

    # -- hot path ----------------------------------------------------------------------------

    def _merge(self, taken: AggregateInput) -> float | None:
        accuracy = self.config.relative_accuracy
        open_windows = self._open
        closed_until = self.closed_until
        max_groups = self.config.max_groups
        newest = -math.inf
        events = late = overflow = 0
        for partial in taken.partials:
            count = partial.count
            start = partial.start
            if start < closed_until:
                late += count
                continue
            events += count
            if partial.newest > newest:
                newest = partial.newest
            window = open_windows.get(start) or open_windows.setdefault(start, {})
            key = partial.key
            totals = window.get(key)
            if totals is None:
                if len(window) >= max_groups:
                    overflow += count
                    key = (_OTHER,) * len(key)
                    totals = window.get(key)
                if totals is None:
                    totals = window[key] = Totals(accuracy)
            totals.count += count
            totals.errors += partial.errors
            codes = totals.status
            for code, n in partial.status.items():
                codes[code] = codes.get(code, 0) + n
            if partial.latencies:
                totals.latency.pending.extend(partial.latencies)
            totals.tokens += partial.tokens
            totals.cost += partial.cost
            totals.cache_hits += partial.cache_hits
            totals.cache_seen += partial.cache_seen
        for groups in open_windows.values():
            for totals in groups.values():
                if totals.latency.pending:
                    totals.latency.flush()
        stats = self.stats
        stats.events += events
        stats.late += late
        stats.untimed += taken.untimed
        if taken.future:
            # Warned once, counted always: a source with a skewed clock would repeat it per batch.
            if not stats.future:
                log.warning(
                    "Events stamped ahead of the clock are left out of windows.",
                    extra={"events": taken.future, "max_future": self.config.max_future},
                )
            stats.future += taken.future
        if overflow:
            stats.overflow += overflow
            log.warning("Too many groups in a window; extra ones go to _other.", extra={"groups": overflow})
        if late:
            log.debug("Events arrived after their window closed.", extra={"late": late})
        return newest if newest > -math.inf else None

    # -- closing -----------------------------------------------------------------------------

    def _close(self, mark: float) -> list[Event]:
        out: list[Event] = []
        base = self.base
        while True:
            start = self._next
            if start is None:
                if not self._open:
                    break
                start = min(self._open)
            if start + base > mark:
                break
            if not self._alive(start) and self._open and min(self._open) > start:
                # Nothing to emit for the empty windows up to the next open one: skip them.
                start = min(self._open)
                if start + base > mark:
                    self._next = start
                    break
            groups = self._open.pop(start, {})
            out.extend(self._emit(base, start, groups))
            for length in self.longer:
                long_start = start - start % length
                partial = self._partial[length].setdefault(long_start, {})
                for key, totals in groups.items():
                    target = partial.get(key)
                    if target is None:
                        target = partial[key] = Totals(self.config.relative_accuracy)
                    target.merge(totals)
                if start + base >= long_start + length - 1e-9:
                    out.extend(self._emit(length, long_start, self._partial[length].pop(long_start)))
            self.stats.windows_closed += 1
            self.closed_until = start + base
            self._next = start + base
            if not self._open and not self._alive(self._next):
                self._next = None
        self.stats.metrics += len(out)
        return out

    def _alive(self, start: float) -> bool:
        """Whether closing the window at ``start`` can still emit something (zero fill, partials)."""
        if any(self._partial[length] for length in self.longer):
            return True
        horizon = start - self.config.zero_fill
        return any(
            seen > horizon
            for rollup in self._rollups
            for groups in rollup.last_seen.values()
            for seen in groups.values()
        )

    def _emit(self, length: float, start: float, groups: dict[Key, Totals]) -> list[Event]:
        out: list[Event] = []
        zero_fill = self.config.zero_fill
        for rollup in self._rollups:
            if rollup.identity:
                rolled = groups
            else:
                rolled = {}
                positions = rollup.positions
                for key, totals in groups.items():
                    sub = tuple([key[p] for p in positions])
                    target = rolled.get(sub)
                    if target is None:
                        target = rolled[sub] = Totals(self.config.relative_accuracy)
                    target.merge(totals)
            last_seen = rollup.last_seen.setdefault(length, {})
            names = rollup.names
            for key, totals in rolled.items():
                last_seen[key] = start
                out.append(metric_event(length, start, _dimensions(names, key), totals))
            for key, seen in list(last_seen.items()):
                if key in rolled:
                    continue
                if start - seen >= zero_fill:
                    del last_seen[key]
                else:
                    out.append(metric_event(length, start, _dimensions(names, key), None))
        return out


def _dimensions(names: list[str], key: Key) -> dict[str, Any]:
    # Made safe at close (once per group), not per event: sinks must write every dimension.
    return {name: group_value(value) for name, value in zip(names, key, strict=True)}
