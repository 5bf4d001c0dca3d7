"""One group's running totals within one window, and the metric event it becomes."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from logflume.events import META_KEY, Event
from logflume.pipeline.aggregate.clock import iso
from logflume.pipeline.aggregate.sketch import LatencySketch


class Totals:
    """Counters of one group in one window; ``latency`` is a mergeable quantile sketch."""

    __slots__ = ("cache_hits", "cache_seen", "cost", "count", "errors", "latency", "status", "tokens")

    def __init__(self, relative_accuracy: float) -> None:
        self.count = 0
        self.errors = 0
        self.tokens = 0.0
        self.cost = 0.0
        self.cache_hits = 0
        self.cache_seen = 0
        self.status: dict[Any, int] = {}
        self.latency = LatencySketch(relative_accuracy)

    def merge(self, other: Totals) -> None:
        self.count += other.count
        self.errors += other.errors
        self.tokens += other.tokens
        self.cost += other.cost
        self.cache_hits += other.cache_hits
        self.cache_seen += other.cache_seen
        status = self.status
        for code, n in other.status.items():
            status[code] = status.get(code, 0) + n
        self.latency.merge(other.latency)


def metric_id(window: float, start: float, dimensions: dict[str, Any]) -> str:
    """Deterministic id: the same window of the same group always gets the same id, so a sink
    that upserts by id replaces rather than duplicates a metric emitted again after a restart."""
    key = orjson.dumps([window, start, dimensions], option=orjson.OPT_SORT_KEYS)
    return "metric-" + hashlib.blake2b(key, digest_size=10).hexdigest()


def _number(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 6)


def metric_event(window: float, start: float, dimensions: dict[str, Any], totals: Totals | None) -> Event:
    """The ``type: metric`` event of one closed window; ``totals`` None means no events (zero fill)."""
    count = totals.count if totals else 0
    errors = totals.errors if totals else 0
    quantiles: list[float | None] = [None, None, None]
    if totals is not None and totals.latency.count:
        quantiles = [totals.latency.quantile(q) for q in (0.5, 0.95, 0.99)]
    cache_rate = None
    if totals is not None and totals.cache_seen:
        cache_rate = totals.cache_hits / totals.cache_seen
    start_text = iso(start)
    return {
        "@timestamp": start_text,
        "type": "metric",
        "window_start": start_text,
        "window_end": iso(start + window),
        "window": _number(window),
        "dimensions": dimensions,
        "count": count,
        "errors": errors,
        "error_rate": errors / count if count else 0.0,
        "p50_ms": quantiles[0],
        "p95_ms": quantiles[1],
        "p99_ms": quantiles[2],
        "tokens": _number(totals.tokens) if totals else 0,
        "cost_usd": round(totals.cost, 9) if totals else 0.0,
        "cache_hit_rate": cache_rate,
        "status_codes": {str(code): n for code, n in totals.status.items()} if totals else {},
        META_KEY: {"event_id": metric_id(window, start, dimensions), "source": "logflume", "type": "metric"},
    }
