"""The anomaly stage: threshold rules on events, statistical detectors on metric events.

Alerts are appended to ``batch.events`` (so they reach the sinks) and to ``batch.alerts`` (for the
alert dispatcher). Every call, empty ticks included, also lets the detectors judge the windows up to
the aggregate's watermark that no metric came for (silences). State is loaded when the stage is
built; the app calls :meth:`save_state` periodically and at shutdown.

What the stage needs of each event (times, rule matches, metric events) is its *front*
(:mod:`.front`), which keeps no state and may run in a worker process; :meth:`AnomalyStage.take`
counts what fronts took. Called on a batch of events, the stage runs both halves itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from logflume.events import Batch, Event
from logflume.pipeline.aggregate.clock import Watermark
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.anomaly.front import AnomalyFront, AnomalyInput
from logflume.pipeline.anomaly.rules import RuleSet
from logflume.pipeline.anomaly.state import load_state, save_state
from logflume.pipeline.anomaly.statistical import Detectors
from logflume.telemetry import Count, count

log = logging.getLogger(__name__)

class AnomalyStage:
    """Runs the rules over each batch's events and the detectors over its metric events."""

    name = "anomaly"

    def __init__(
        self,
        config: AnomalyConfig,
        state_dir: Path,
        window: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``window``: the detectors' window length (default: the configured one, else 60 s);
        ``clock``: the aggregate's watermark, every window ending before it has been emitted."""
        self.config = config
        self.rules = RuleSet(config.rules)
        self.front = AnomalyFront(config)
        statistical = config.statistical
        self.detectors = None
        if statistical is not None:
            length = window or statistical.window or 60.0
            self.detectors = Detectors(statistical, length, clock)
        self.watermark = Watermark(config.allowed_lateness, config.idle_after)
        self.state_path = state_dir / config.state_file
        self.alerts_raised = 0
        self._restore()

    def __call__(self, batch: Batch, now: float) -> Batch:
        return self.take([self.front(batch.events)], batch, now)

    def take(self, taken: list[AnomalyInput], batch: Batch, now: float) -> Batch:
        """Count what fronts took from a batch (in order), judge what the watermarks passed;
        alerts are appended to ``batch.events`` and ``batch.alerts``."""
        alerts: list[Event] = []
        for part in taken:
            self._observe(part, now, alerts)
        if self.rules.rules:
            self.rules.advance(self.watermark.advance(now), alerts)
        if self.detectors is not None:
            self.detectors.advance(alerts)
        if alerts:
            batch.events.extend(alerts)
            batch.alerts.extend(alerts)
            self.alerts_raised += len(alerts)
            for alert in alerts:
                log.info(
                    "Alert raised.",
                    extra={"rule": alert["rule"], "subject": alert["subject"], "state": alert["state"]},
                )
        return batch

    def _observe(self, taken: AnomalyInput, now: float, alerts: list[Event]) -> None:
        if taken.matches:
            # An event without a time of its own counts at the newest time seen so far.
            fallback = self.watermark.max_time if self.watermark.max_time is not None else now
            times = [fallback if ts is None else ts for ts in taken.times]
            self.rules.count(times, taken.matches, alerts)
        if taken.newest is not None:
            self.watermark.observe(taken.newest, now)
        if taken.metrics and self.detectors is not None:
            self.detectors.observe(taken.metrics, alerts)

    def window_counts(self) -> dict[tuple[str, ...], int]:
        """Windows per (detector, outcome): judged, filled (silences), warmup, thin, resumed."""
        return dict(self.detectors.counts) if self.detectors is not None else {}

    def telemetry(self) -> list[Count]:
        """:meth:`window_counts` as ``detector_windows`` counts (read at scrape time)."""
        return [
            count("detector_windows", n, detector=detector, outcome=outcome)
            for (detector, outcome), n in sorted(self.window_counts().items())
        ]

    # -- state ---------------------------------------------------------------------------------

    def save_state(self) -> None:
        """Persist rule windows and detector baselines (atomic replace); call periodically and at exit."""
        save_state(
            self.state_path,
            {
                "rules": self.rules.snapshot(),
                "statistical": self.detectors.snapshot() if self.detectors is not None else [],
                "watermark": {"max_time": self.watermark.max_time, "value": self.watermark.value},
            },
        )

    def _restore(self) -> None:
        data = load_state(self.state_path)
        if data is None:
            return
        self.rules.restore(data.get("rules", {}))
        if self.detectors is not None:
            self.detectors.restore(data.get("statistical", []))
        mark = data.get("watermark") or {}
        if mark.get("max_time") is not None:
            self.watermark.max_time = float(mark["max_time"])
            self.watermark.value = float(mark["value"])
        log.info("Detector state restored.", extra={"path": str(self.state_path)})
