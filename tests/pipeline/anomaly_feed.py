"""Metric windows for the detector tests, and a stage to feed them to with the aggregate's clock."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.aggregate.clock import iso
from logflume.pipeline.anomaly import AnomalyConfig, AnomalyStage

DAY = 86_400.0
T0 = 1_705_276_800.0  # Monday 2024-01-15 00:00 UTC


def window(
    start: float,
    count: int,
    length: float = 300.0,
    errors: int = 0,
    p95: float | None = 800.0,
    p50: float | None = None,
    **dims: Any,
) -> Event:
    """The metric event the aggregate emits for one closed window."""
    return {
        "@timestamp": iso(start), "type": "metric", "window_start": iso(start),
        "window_end": iso(start + length), "window": length, "dimensions": dims, "count": count,
        "errors": errors, "error_rate": errors / count if count else 0.0,
        "p95_ms": p95 if count else None, "p50_ms": (p50 if p50 is not None else p95) if count else None,
        META_KEY: {"event_id": f"m{start}-{dims}", "source": "logflume", "type": "metric"},
    }


class Feeder:
    """An anomaly stage fed metric windows in time order, its clock (the aggregate's watermark)
    following the end of the newest window unless moved on with :meth:`idle`."""

    def __init__(self, state_dir: Path, length: float = 300.0, **statistical: Any) -> None:
        self.length = length
        self.mark = float("-inf")
        self.stage = AnomalyStage(
            AnomalyConfig(statistical=statistical), state_dir, window=length, clock=lambda: self.mark
        )
        self.alerts: list[Event] = []

    def feed(self, metrics: Iterable[Event]) -> list[Event]:
        """Give the stage each metric in its own batch; returns the alerts raised."""
        raised = []
        for metric in metrics:
            end = metric["window_end"]
            self.mark = max(self.mark, _epoch(end))
            raised += self.stage(Batch([metric]), now=0.0).alerts
        self.alerts += raised
        return raised

    def idle(self, until: float) -> list[Event]:
        """Move the clock on to ``until`` with no metric (all traffic stopped)."""
        raised = []
        step = self.length
        while self.mark + step <= until:
            self.mark += step
            raised += self.stage(Batch([]), now=0.0).alerts
        self.alerts += raised
        return raised


def _epoch(text: str) -> float:
    from logflume.pipeline.aggregate.clock import parse_time

    value = parse_time(text)
    assert value is not None
    return value


def states(alerts: list[Event]) -> list[tuple[str, str, str]]:
    """(state, rule, trigger) of each alert."""
    return [(a["state"], a["rule"], a.get("trigger", "")) for a in alerts]
