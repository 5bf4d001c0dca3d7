"""What a sink runner counts, for the metrics endpoint (same counters for every sink, as in Vector)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from logflume.telemetry import ENCODER_FAILED

# Latency samples kept per sink: enough for percentiles between two scrapes, bounded in memory.
MAX_SAMPLES = 1024


@dataclass
class SinkStats:
    """Counters (only grow) and gauges (current values) of one sink runner."""

    events_received: int = 0
    batches: int = 0
    events_sent: int = 0
    events_failed: int = 0
    events_retried: int = 0
    events_dropped: int = 0
    events_dead_lettered: int = 0
    # Failed write requests (and failed set-ups) by error type (logflume.telemetry.ERROR_TYPES).
    request_errors: Counter[str] = field(default_factory=Counter)
    encode_failures: int = 0  # events that could not be encoded for the disk buffer
    last_error: str | None = None
    last_success: float = 0.0
    # Seconds per successful write call, and per backoff wait; the newest MAX_SAMPLES of each.
    write_seconds: list[float] = field(default_factory=list)
    backoff_seconds: list[float] = field(default_factory=list)
    # Gauges: events and estimated bytes held in memory (waiting or in flight), events and bytes in
    # the disk buffer not yet delivered, and whether input is paused because the disk buffer is full.
    memory_events: int = 0
    memory_bytes: int = 0
    disk_events: int = 0
    disk_bytes: int = 0
    blocked: bool = False

    @property
    def write_errors(self) -> int:
        """Failed write requests, whatever the error."""
        return sum(self.request_errors.values())

    def errors(self) -> dict[str, int]:
        """Errors by type, for ``logflume_sink_errors_total``."""
        return {**self.request_errors, ENCODER_FAILED: self.encode_failures}

    def sample_write(self, seconds: float) -> None:
        _append_bounded(self.write_seconds, seconds)

    def sample_backoff(self, seconds: float) -> None:
        _append_bounded(self.backoff_seconds, seconds)


def _append_bounded(samples: list[float], value: float) -> None:
    samples.append(value)
    if len(samples) > MAX_SAMPLES:
        del samples[: MAX_SAMPLES // 2]
