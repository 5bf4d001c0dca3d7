"""What ``analyze`` computes: plain values that the report writers and the plot render.

Definitions (the module docstring of :mod:`logflume.analysis.engine` explains the choices):

* event — a JSON object with at least one of the fields the analysis reads; the daemon's own
  events (window metrics, alerts: ``logflume.type`` set) are not log events and are left out;
* request — an event carrying ``response_time_ms`` or ``status_code`` (the line that logs a
  request's outcome; other lines of the same request carry neither);
* error event — ``level`` ERROR, CRITICAL or FATAL (any case), or ``status_code`` ≥ 500;
* error (``error_count``) — a request that is an error event; ``error_rate`` = errors / requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The fields --by can group on.
GROUP_FIELDS = ("provider", "model", "endpoint", "level")


@dataclass(frozen=True)
class Metrics:
    """The numbers of one scope: the whole window, or one group of ``--by``."""

    total_events: int
    total_requests: int
    error_count: int
    error_events: int
    avg_response_time_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    slow_requests: int
    cache_hits: int
    cache_lookups: int

    @property
    def error_rate(self) -> float | None:
        return self.error_count / self.total_requests if self.total_requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None


@dataclass(frozen=True)
class Report:
    summary: Metrics
    top_errors: list[tuple[str, int]]
    group_by: str | None
    groups: list[tuple[str, Metrics]]
    first_event: datetime | None
    last_event: datetime | None
    since: datetime | None
    until: datetime | None
    slow_ms: float
    files: int
    digests: int = 0  # files read from their analysis digest instead of being decoded


@dataclass(frozen=True)
class Histogram:
    """Counts of response times in log-spaced bins: ``counts[i]`` lies in ``[edges[i], edges[i+1])``."""

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class TimePoint:
    start: datetime
    events: int
    requests: int
    errors: int


@dataclass(frozen=True)
class ProviderPoint:
    provider: str
    requests: int
    errors: int
    avg_response_time_ms: float | None


@dataclass(frozen=True)
class PlotData:
    histogram: Histogram
    timeline: list[TimePoint]
    bucket_seconds: int
    providers: list[ProviderPoint]
