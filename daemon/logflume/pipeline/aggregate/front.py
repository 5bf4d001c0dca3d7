"""What the aggregate stage takes from a batch, worked out without its windows: partial totals per
(shortest window start, group key).

The front reads every event (its time, its group, its figures) and needs no state, so it runs
wherever the stateless stages run — in a worker process when the daemon has several — and hands
the stage a few partial totals per chunk instead of the events. The stage (in the daemon process)
decides what only its state can decide: whether a window already closed (late), whether a window
has room for another group, and which windows close now.

Per-event semantics are the stage's own, unchanged: the first of ``@timestamp`` and ``timestamp``
that is a time, figures that are no numbers (or beyond 1e18, NaN, infinities) left out, status
codes longer than 16 characters not counted, ERROR/CRITICAL or a status of 500 and above an error.
This module imports no numpy: latencies travel as plain floats and the stage sketches them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logflume.events import Event
from logflume.pipeline.aggregate.clock import parse_time
from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.labels import text

_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "error", "critical"})
# Figures beyond this (and NaN, infinities) are not counted: JSON gives at most 64-bit integers,
# but an event from elsewhere could carry 10**400, which no float sum or sketch can take.
_LIMIT = 1e18
# Longer status "codes" are not counted: each distinct one would be a key of the window.
_MAX_STATUS_TEXT = 16

Key = tuple[Any, ...]


@dataclass(slots=True)
class Partial:
    """The totals of the events of one group in one shortest window, from one batch."""

    start: float
    key: Key
    newest: float
    count: int = 0
    errors: int = 0
    tokens: float = 0.0
    cost: float = 0.0
    cache_hits: int = 0
    cache_seen: int = 0
    status: dict[Any, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


@dataclass(slots=True)
class AggregateInput:
    """What one batch gives the aggregate: partials in order of their first event, and the events
    without a time."""

    partials: list[Partial] = field(default_factory=list)
    untimed: int = 0
    future: int = 0  # stamped further ahead of the clock than max_future: left out

    def extend(self, other: AggregateInput) -> None:
        self.partials.extend(other.partials)
        self.untimed += other.untimed
        self.future += other.future


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


class AggregateFront:
    """Built once from the (widened) aggregate config; called on each batch's events."""

    def __init__(self, config: AggregateConfig) -> None:
        self.config = config
        self.base = config.windows[0]
        self._key = _key_getter(config.dimensions())

    def __call__(self, events: list[Event], now: float) -> AggregateInput:
        """``now``: the wall clock (epoch seconds), what max_future is measured from."""
        cfg = self.config
        horizon = math.inf if cfg.max_future is None else now + cfg.max_future
        base = self.base
        key_of = self._key
        lat_f, tok_f, cost_f = cfg.latency_field, cfg.tokens_field, cfg.cost_field
        cache_f, status_f, level_f = cfg.cache_field, cfg.status_field, cfg.level_field
        error_levels = _ERROR_LEVELS
        parse = parse_time
        limit = _LIMIT
        out = AggregateInput()
        partials: dict[tuple[float, Key], Partial] = {}
        current_start = float("nan")
        window: dict[Key, Partial] = {}
        windows: dict[float, dict[Key, Partial]] = {}
        untimed = future = 0
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
                # One far-future event would hold every window open until its time comes.
                future += 1
                continue
            start = ts - ts % base
            if start != current_start:
                current_start = start
                window = windows.get(start) or windows.setdefault(start, {})
            key = key_of(event)
            try:
                totals = window.get(key)
            except TypeError:  # a dimension holds a list or object
                key = _hashable(key)
                totals = window.get(key)
            if totals is None:
                totals = window[key] = partials[(start, key)] = Partial(start, key, ts)
            elif ts > totals.newest:
                totals.newest = ts
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
                totals.latencies.append(value)
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
        out.partials = list(partials.values())
        out.untimed = untimed
        out.future = future
        return out
