"""The aggregate stage: tumbling windows by event time, closed by a watermark.

Only the shortest window is fed per event (a dict lookup and a few additions per event); longer
windows are built by merging the shortest ones as they close, and each ``group_by`` set is rolled
up from the finest key at close time, so neither more windows nor more dimension sets cost
anything per event.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logflume.events import Batch, Event
from logflume.pipeline.aggregate.clock import Watermark, parse_time
from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.aggregate.window import Totals, metric_event
from logflume.pipeline.labels import group_value, text
from logflume.telemetry import Count, count

log = logging.getLogger(__name__)

_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "error", "critical"})
_OTHER = "_other"
# Figures beyond this (and NaN, infinities) are not counted: JSON gives at most 64-bit integers,
# but an event from elsewhere could carry 10**400, which no float sum or sketch can take.
_LIMIT = 1e18
# Longer status "codes" are not counted: each distinct one would be a key of the window.
_MAX_STATUS_TEXT = 16

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


def _key_getter(dimensions: list[str]) -> Callable[[Event], Key]:
    # Specialised per arity: a generator expression per event costs more than the lookups.
    if not dimensions:
        return lambda event: ()
    if len(dimensions) == 1:
        (a,) = dimensions
        return lambda event: (event.get(a),)
    if len(dimensions) == 2:
        a, b = dimensions
        return lambda event: (event.get(a), event.get(b))
    if len(dimensions) == 3:
        a, b, c = dimensions
        return lambda event: (event.get(a), event.get(b), event.get(c))
    names = tuple(dimensions)
    return lambda event: tuple([event.get(name) for name in names])


def _hashable(key: Key) -> Key:
    return tuple(v if v is None or isinstance(v, str | int | float | bool) else text(v) for v in key)


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
        self._key = _key_getter(self.dimensions)
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
        if batch.events:
            newest = self._ingest(batch.events, now)
            if newest is not None:
                self.watermark.observe(newest, now)
        metrics = self._close(self.watermark.advance(now))
        if metrics:
            batch.events.extend(metrics)
        return batch

    # -- hot path ----------------------------------------------------------------------------

    def _ingest(self, events: list[Event], now: float) -> float | None:
        cfg = self.config
        horizon = math.inf if cfg.max_future is None else now + cfg.max_future
        base = self.base
        accuracy = cfg.relative_accuracy
        key_of = self._key
        open_windows = self._open
        closed_until = self.closed_until
        max_groups = cfg.max_groups
        lat_f, tok_f, cost_f = cfg.latency_field, cfg.tokens_field, cfg.cost_field
        cache_f, status_f, level_f = cfg.cache_field, cfg.status_field, cfg.level_field
        error_levels = _ERROR_LEVELS
        parse = parse_time
        newest = -math.inf
        late = untimed = future = overflow = 0
        current_start = math.nan
        window: dict[Key, Totals] = {}
        limit = _LIMIT
        for event in events:
            # eventtime.event_seconds, inline: the first of @timestamp, timestamp that parses.
            stamp = event.get("@timestamp")
            ts = parse(stamp) if stamp is not None else None
            if ts is None:
                stamp = event.get("timestamp")
                ts = parse(stamp) if stamp is not None else None
                if ts is None:
                    untimed += 1
                    continue
            if ts > horizon:
                future += 1
                continue
            start = ts - ts % base
            if start < closed_until:
                late += 1
                continue
            if ts > newest:
                newest = ts
            if start != current_start:
                current_start = start
                window = open_windows.get(start) or open_windows.setdefault(start, {})
            key = key_of(event)
            try:
                totals = window.get(key)
            except TypeError:  # a dimension holds a list or object
                key = _hashable(key)
                totals = window.get(key)
            if totals is None:
                if len(window) >= max_groups:
                    overflow += 1
                    key = (_OTHER,) * len(key)
                    totals = window.get(key)
                if totals is None:
                    totals = window[key] = Totals(accuracy)
            totals.count += 1
            status: Any = event.get(status_f)
            kind = type(status)
            if (kind is int and -limit < status < limit) or (kind is str and len(status) <= _MAX_STATUS_TEXT):
                codes = totals.status
                codes[status] = codes.get(status, 0) + 1
            level = event.get(level_f)
            if (type(level) is str and level in error_levels) or (kind is int and status >= 500):
                totals.errors += 1
            # A chained comparison also refuses NaN and the infinities.
            value = event.get(lat_f)
            if (type(value) is float or type(value) is int) and -limit < value < limit:
                totals.latency.pending.append(value)
            value = event.get(tok_f)
            if (type(value) is int or type(value) is float) and -limit < value < limit:
                totals.tokens += value
            value = event.get(cost_f)
            if (type(value) is float or type(value) is int) and -limit < value < limit:
                totals.cost += value
            value = event.get(cache_f)
            if value is True:
                totals.cache_hits += 1
                totals.cache_seen += 1
            elif value is False:
                totals.cache_seen += 1
        for groups in open_windows.values():
            for totals in groups.values():
                if totals.latency.pending:
                    totals.latency.flush()
        stats = self.stats
        stats.events += len(events) - late - untimed - future
        stats.late += late
        stats.untimed += untimed
        if future:
            # Warned once, counted always: a source with a skewed clock would repeat it per batch.
            if not stats.future:
                log.warning(
                    "Events stamped ahead of the clock are left out of windows.",
                    extra={"events": future, "max_future": cfg.max_future},
                )
            stats.future += future
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
