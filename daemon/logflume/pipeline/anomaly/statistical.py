"""Statistical detection on closed aggregate windows.

Each detector keeps, per subject (e.g. per provider), a seasonal baseline of its metric
(:mod:`~logflume.pipeline.anomaly.seasonal`; error rates a pooled rate), judges every closed window
against it (:mod:`~logflume.pipeline.anomaly.signals`), calibrates what is unusual for the subject
(:mod:`~logflume.pipeline.anomaly.calibration`) and runs one incident per subject
(:mod:`~logflume.pipeline.anomaly.incident`): one ``firing`` alert and one ``resolved`` per incident.

A window moves the level and the noise only when it is normal in *both* directions (no outlier, no
open incident, no running sum half-way to a drift alarm), whichever direction the detector alerts
on: a traffic-spike detector must not take an outage for its new level.

Silences. The aggregate stops emitting a group's windows ``zero_fill`` after its last event, and
emits nothing at all while no event arrives. Volume detectors therefore judge every window up to
the aggregate's watermark themselves, as a count of zero when no metric came, so an outage is judged
for as long as it lasts. Only gaps seen within one run are filled: after a restart the first window
of each subject is skipped (it may hold only the events after the checkpoint) and the time the
daemon was down is never taken for a silence.

Every window is counted by outcome (``judged``, ``filled``: a silence judged without a metric,
``warmup``, ``thin``, ``resumed``) in :attr:`Detectors.counts`, exported as
``logflume_stage_detector_windows_total``; a subject that starts being skipped as thin is also
logged.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Callable
from statistics import median
from typing import Any

from logflume.events import Event
from logflume.pipeline.aggregate.clock import iso, parse_time
from logflume.pipeline.anomaly.alert import alert_event, subject_of
from logflume.pipeline.anomaly.calibration import Extremes, Persistence
from logflume.pipeline.anomaly.detector_config import DetectorConfig, StatisticalConfig
from logflume.pipeline.anomaly.incident import Incident, Step
from logflume.pipeline.anomaly.seasonal import Baseline
from logflume.pipeline.anomaly.signals import RateBaseline, Signal, Verdict, Window

log = logging.getLogger(__name__)

HISTORY_SECONDS = 3 * 3600.0
MIN_HISTORY = 30

Key = tuple[str, tuple[Any, ...]]


class _Track:
    __slots__ = ("baseline", "extremes", "incident", "last_active", "last_start", "next_start", "parts",
                 "persistence", "resume", "seen", "skipping")

    def __init__(self, baseline: Baseline | RateBaseline, span: int) -> None:
        self.baseline = baseline
        self.incident = Incident()
        self.extremes = Extremes()
        self.persistence = Persistence()
        self.parts: deque[Window] = deque(maxlen=span)  # the last windows judged together (span)
        self.seen = 0
        self.next_start: float | None = None  # start of the next window expected in this run
        self.last_start = -math.inf  # start of the newest window taken in (replays are skipped)
        self.last_active = -math.inf  # end of the newest window that had events
        self.resume = False
        self.skipping = False


def _format(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric == "p95_ms":
        return f"{value:.0f} ms"
    return f"{value:.0f} events"


class Detectors:
    """Every statistical detector and its per-subject baselines."""

    def __init__(
        self, config: StatisticalConfig, window: float, clock: Callable[[], float] | None = None
    ) -> None:
        self.config = config
        self.window = window
        self.clock = clock
        self.history = config.history or max(MIN_HISTORY, math.ceil(HISTORY_SECONDS / window))
        self.detectors = config.active_detectors()
        self._signals = [Signal(d.metric, d.min_count, d.min_baseline) for d in self.detectors]
        self._by = [frozenset(d.by) for d in self.detectors]
        pairs = zip(self.detectors, self._signals, strict=True)
        self._volume = [(d, s) for d, s in pairs if d.metric == "volume"]
        self.tracks: dict[Key, _Track] = {}
        self.counts: Counter[tuple[str, ...]] = Counter()

    # -- input ----------------------------------------------------------------------------------

    def observe(self, metrics: list[Event], out: list[Event]) -> None:
        """Judge closed windows (``type: metric`` events of the detectors' window length)."""
        for metric in sorted(metrics, key=lambda m: str(m.get("window_start"))):
            if metric.get("window") != self.window:
                continue
            dimensions = metric.get("dimensions")
            if not isinstance(dimensions, dict):
                continue
            window = self._window(metric)
            if window is None:
                continue
            names = frozenset(dimensions)
            for detector, signal, by in zip(self.detectors, self._signals, self._by, strict=True):
                if names == by:
                    dims = {name: dimensions[name] for name in detector.by}
                    self._feed(detector, signal, dims, window, out)

    def advance(self, out: list[Event]) -> None:
        """Judge the silences up to the aggregate's watermark and forget subjects long gone."""
        if self.clock is None:
            return
        mark = self.clock()
        if not math.isfinite(mark):
            return
        forget = self.config.forget_after
        for (name, key), track in list(self.tracks.items()):
            if math.isfinite(track.last_active) and mark - track.last_active >= forget:
                self._forget(name, key, track, mark, out)
        for detector, signal in self._volume:
            for (name, key), track in list(self.tracks.items()):
                if name != detector.name or track.next_start is None:
                    continue
                dims = dict(zip(detector.by, key, strict=True))
                self._fill(detector, signal, dims, track, min(mark, track.last_active + forget), out)

    @staticmethod
    def _window(metric: Event) -> Window | None:
        start = parse_time(metric.get("window_start"))
        end = parse_time(metric.get("window_end"))
        if start is None or end is None:
            return None
        p95, p50 = metric.get("p95_ms"), metric.get("p50_ms")
        return Window(
            start, end, int(metric.get("count") or 0), float(metric.get("errors") or 0),
            None if p95 is None else float(p95), None if p50 is None else float(p50),
        )

    def _feed(
        self, detector: DetectorConfig, signal: Signal, dims: dict[str, Any], window: Window, out: list[Event]
    ) -> None:
        key = (detector.name, tuple(dims.values()))
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = self._new_track(detector)
        if window.start <= track.last_start:
            self.counts[(detector.name, "resumed")] += 1  # already taken in before a restart
            return
        if detector.metric == "volume" and track.next_start is not None and window.start > track.next_start:
            gone = track.last_active + self.config.forget_after
            if math.isfinite(gone) and window.start > gone:
                # Silent for longer than forget_after (a replay with a long gap): advance() would
                # have forgotten it by then, so start afresh instead of judging every window between.
                self._forget(detector.name, key[1], track, gone, out)
                track = self.tracks[key] = self._new_track(detector)
            else:
                self._fill(detector, signal, dims, track, window.start, out)
        self._take(detector, signal, dims, track, window, out)

    def _new_track(self, detector: DetectorConfig) -> _Track:
        if detector.metric == "error_rate":
            return _Track(RateBaseline(self.history), self.config.span)
        counts = detector.metric == "volume"
        baseline = Baseline(self.window, self.history, self.config.seasonal, counts=counts)
        return _Track(baseline, self.config.span)

    def _fill(
        self, detector: DetectorConfig, signal: Signal, dims: dict[str, Any], track: _Track, until: float,
        out: list[Event],
    ) -> None:
        """Judge the windows no metric came for, up to ``until``, as silences."""
        start = track.next_start
        assert start is not None
        while start + self.window <= until + 1e-6:
            window = Window(start, start + self.window, 0, 0.0, None, None, filled=True)
            self._take(detector, signal, dims, track, window, out)
            start += self.window

    def _take(
        self, detector: DetectorConfig, signal: Signal, dims: dict[str, Any], track: _Track, window: Window,
        out: list[Event],
    ) -> None:
        track.next_start = window.end
        track.last_start = window.start
        if window.count > 0:
            track.last_active = window.end
        elif not math.isfinite(track.last_active):
            track.last_active = window.end  # a subject first seen empty (zero fill) still ages out
        parts = track.parts
        parts.append(window)
        # Windows missing in between (a group without events, for error rate or latency) break the run.
        while parts[0].start < window.end - len(parts) * self.window - 1e-6:
            parts.popleft()
        if len(parts) < (parts.maxlen or 1):
            return
        judged = window if len(parts) == 1 else _combine(parts)
        if track.resume:
            track.resume = False
            self.counts[(detector.name, "resumed")] += 1
            return
        self._judge(detector, signal, dims, track, judged, out)

    # -- judging --------------------------------------------------------------------------------

    def _judge(
        self, detector: DetectorConfig, signal: Signal, dims: dict[str, Any], track: _Track, window: Window,
        out: list[Event],
    ) -> None:
        baseline = track.baseline
        if not signal.readable(window):
            self._thin(detector, dims, track, window)
            return
        if track.seen < self.config.warmup or not baseline.ready:
            track.seen += 1
            self._learn(signal, track, window, None, normal=True)
            self.counts[(detector.name, "warmup")] += 1
            return
        verdict = signal.judge(window, baseline, detector.drift_slack)
        if verdict is None:
            self._thin(detector, dims, track, window)
            self._learn(signal, track, window, None, normal=True)
            return
        if track.skipping:
            track.skipping = False
            log.info("Detector judges the subject again.",
                     extra={"detector": detector.name, "subject": subject_of(dims)})
        track.seen += 1
        self.counts[(detector.name, "filled" if window.filled else "judged")] += 1
        incident, extremes = track.incident, track.extremes
        # How far the window went, on a scale that does not move with the learned noise: a log
        # ratio (a z-score for error rates, whose noise is not learned). A window must beat the
        # subject's usual daily worst by one standard deviation of its own noise.
        if isinstance(baseline, RateBaseline):
            rise, fall, margin = verdict.up, verdict.down, 1.0
        else:
            rise, fall, margin = max(verdict.residual, 0.0), max(-verdict.residual, 0.0), verdict.scale
        factor = track.persistence.factor
        cusum_up, cusum_down = incident.accumulate(
            verdict.up * factor, verdict.down * factor, detector.z, detector.drift_slack
        )
        drift = detector.drift if detector.drift > 0 else math.inf
        if isinstance(baseline, Baseline) and self.config.seasonal and not baseline.cycles:
            # Before a full day is learned the level follows the daily swing with a lag, and a
            # morning ramp cannot be told from a drift: the fallback judges single windows only.
            drift = math.inf
        ratio, delta = detector.min_ratio, detector.min_delta
        watch_up, watch_down = detector.direction != "down", detector.direction != "up"
        rising = watch_up and verdict.up > 0 and signal.practical(verdict, True, ratio, delta)
        falling = watch_down and verdict.down > 0 and signal.practical(verdict, False, ratio, delta)
        silence = detector.metric == "volume" and window.count == 0
        step = incident.step(
            start=window.start, end=window.end,
            z_up=verdict.up if watch_up else 0.0, z_down=verdict.down if watch_down else 0.0,
            anomalous_up=(
                rising and verdict.up >= detector.z and rise >= extremes.ceiling(0) + margin,
                rising and cusum_up >= drift and cusum_up > extremes.ceiling(2),
            ),
            anomalous_down=(
                falling and verdict.down >= detector.z and fall >= extremes.ceiling(1) + margin,
                falling and cusum_down >= drift and cusum_down > extremes.ceiling(3),
            ),
            silence=silence,
            resolve_after=self.config.resolve_after, cooldown=self.config.cooldown,
            adapt_after=self.config.adapt_after,
        )
        extremes.record(window.start, (rise, fall, cusum_up, cusum_down))
        # The baseline keeps out outliers in both directions, whichever one the detector alerts on:
        # a traffic-spike detector must not take an outage for its new level.
        normal = step.learn and max(verdict.up, verdict.down) < detector.z
        rebase = step.rebase
        if normal and not incident.firing:
            suspect, rebase = incident.suspect(
                window.start, window.end, drift, self.config.adapt_after, silence
            )
            normal = not suspect
        track.persistence.learn(verdict.up - verdict.down if normal else None)
        self._learn(signal, track, window, verdict, normal=normal)
        if rebase:
            baseline.rebase()
        if step.fire or step.resolve:
            out.append(self._alert(detector, signal, dims, track, window, verdict, step))

    def _thin(self, detector: DetectorConfig, dims: dict[str, Any], track: _Track, window: Window) -> None:
        self.counts[(detector.name, "thin")] += 1
        if not track.skipping:
            track.skipping = True
            log.info(
                "Detector skips windows too thin to judge.",
                extra={"detector": detector.name, "subject": subject_of(dims), "events": window.count,
                       "min_count": detector.min_count, "min_baseline": detector.min_baseline},
            )

    @staticmethod
    def _learn(signal: Signal, track: _Track, window: Window, verdict: Verdict | None, normal: bool) -> None:
        baseline = track.baseline
        if isinstance(baseline, RateBaseline):
            baseline.learn(window, normal)
            return
        if normal:
            if verdict is None:
                taught = signal.warm(window, baseline)
            else:
                taught = (verdict.residual, verdict.sampling)
            if taught is not None:
                baseline.noise.learn(*taught)
        baseline.learn(window.middle, signal.value(window), normal)

    def _forget(self, name: str, key: tuple[Any, ...], track: _Track, mark: float, out: list[Event]) -> None:
        del self.tracks[(name, key)]
        detector = next((d for d in self.detectors if d.name == name), None)
        if detector is None or not track.incident.firing:
            return
        dims = dict(zip(detector.by, key, strict=True))
        track.incident.forget()
        gone = self.config.forget_after
        message = f"{detector.metric} of {subject_of(dims)}: no events for {gone:.0f}s; forgotten."
        out.append(alert_event(
            rule=name, kind="statistical", severity=detector.severity, dimensions=dims, state="resolved",
            started_at=track.incident.started, at=mark, message=message, value=None, baseline=None,
            threshold=None, channels=list(self.config.channels), extra={"metric": detector.metric},
        ))

    def _alert(
        self, detector: DetectorConfig, signal: Signal, dims: dict[str, Any], track: _Track, window: Window,
        verdict: Verdict, step: Step,
    ) -> Event:
        name = detector.metric
        incident = track.incident
        up = step.up if step.fire else incident.up
        threshold = signal.threshold(verdict, track.baseline, window, up, detector.z, detector.min_ratio,
                                     detector.min_delta)
        subject = subject_of(dims)
        if step.fire:
            what = "rose to" if up else "fell to"
            state = "firing"
            message = (
                f"{name} of {subject} {what} {_format(name, verdict.value)} (expected "
                f"{_format(name, verdict.expected)}, threshold {_format(name, threshold)}; {step.trigger})."
            )
        else:
            state = "resolved"
            message = f"{name} of {subject} is back to {_format(name, verdict.value)}."
        return alert_event(
            rule=detector.name, kind="statistical", severity=detector.severity, dimensions=dims, state=state,
            started_at=incident.started, at=window.end, message=message, value=round(verdict.value, 6),
            baseline=round(verdict.expected, 6), threshold=round(threshold, 6),
            channels=list(self.config.channels),
            extra={
                "metric": name, "window_start": iso(window.start), "window_end": iso(window.end),
                "count": window.count, "z": round(verdict.up if up else verdict.down, 2),
                "trigger": incident.trigger, "direction": "up" if up else "down",
                "seasonal_days": track.baseline.cycles,
            },
        )

    # -- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> list[Any]:
        return [
            [name, list(key), {
                "baseline": t.baseline.snapshot(), "incident": t.incident.snapshot(), "seen": t.seen,
                "extremes": t.extremes.snapshot(), "persistence": t.persistence.snapshot(),
                "last_start": t.last_start if math.isfinite(t.last_start) else None,
                "last_active": t.last_active if math.isfinite(t.last_active) else None,
            }]
            for (name, key), t in self.tracks.items()
        ]

    def restore(self, data: list[Any]) -> None:
        known = {d.name: d for d in self.detectors}
        for name, key, fields in data:
            detector = known.get(name)
            if detector is None or len(key) != len(detector.by):
                continue
            track = self._new_track(detector)
            track.baseline.restore(fields["baseline"])
            track.incident = Incident.restore(fields["incident"])
            track.extremes.restore(fields.get("extremes", {}))
            if "persistence" in fields:
                track.persistence.restore(fields["persistence"])
            track.seen = int(fields["seen"])
            for attr in ("last_start", "last_active"):
                value = fields.get(attr)
                setattr(track, attr, -math.inf if value is None else float(value))
            track.resume = True
            self.tracks[(name, tuple(key))] = track


def _combine(parts: deque[Window]) -> Window:
    """The last ``span`` windows as one (sums; median of the quantiles)."""
    p95s = [w.p95 for w in parts if w.p95 is not None]
    p50s = [w.p50 for w in parts if w.p50 is not None]
    return Window(
        parts[0].start, parts[-1].end, sum(w.count for w in parts), sum(w.errors for w in parts),
        median(p95s) if p95s else None, median(p50s) if p50s else None,
        filled=all(w.filled for w in parts),
    )
