"""Statistical detection on closed aggregate windows.

Each detector keeps, per subject (e.g. per provider), the values of its recent *normal* windows;
the baseline is their median, so a few odd windows do not move it, and a window judged anomalous
or seen while an alert fires is left out, so an incident does not become the new normal.

Noise model per metric, so one ``z`` reads the same everywhere:

* ``error_rate`` — binomial: errors in a window of n events vary by sqrt(n p (1-p));
* ``volume`` — Poisson (sqrt of the baseline count), or the spread of recent counts (scaled MAD)
  when that is larger, which covers the slow daily swing of traffic;
* ``p95_ms`` — the spread of recent values (scaled MAD, at least 5 % of the baseline).

A window is anomalous when it is ``z`` deviations away *and* ``min_ratio`` times away *and*
``min_delta`` away from the baseline. One incident gives one ``firing`` alert and, after
``resolve_after`` normal windows, one ``resolved``; then ``cooldown`` keeps the subject quiet.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

from logflume.events import Event
from logflume.pipeline.aggregate.clock import iso, parse_time
from logflume.pipeline.anomaly.alert import alert_event, subject_of
from logflume.pipeline.anomaly.config import DetectorConfig, StatisticalConfig

_MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal data


class _Track:
    __slots__ = ("counts", "firing", "history", "normal", "quiet_until", "recent", "seen", "started")

    def __init__(self, history: int, span: int = 1) -> None:
        # The last ``span`` windows' (start, end, count, errors, p95) — judged together.
        self.recent: deque[tuple[float, float, int, float, float | None]] = deque(maxlen=span)
        self.history: deque[float] = deque(maxlen=history)
        # Event counts of the same windows: error rates are pooled (errors / events), not a median
        # of per-window rates, which is 0 for a subject with a few requests per window.
        self.counts: deque[int] = deque(maxlen=history)
        self.seen = 0
        self.firing = False
        self.started = 0.0
        self.normal = 0
        self.quiet_until = float("-inf")


def _mad(values: list[float], center: float) -> float:
    return median([abs(v - center) for v in values]) * _MAD_SCALE


class _Judgement:
    __slots__ = ("anomalous", "baseline", "threshold", "value")

    def __init__(self, value: float, baseline: float, threshold: float, anomalous: bool) -> None:
        self.value = value
        self.baseline = baseline
        self.threshold = threshold
        self.anomalous = anomalous


def metric_value(detector: DetectorConfig, metric: Event) -> float | None:
    """The figure a detector watches in a window; None when the window is too thin to judge."""
    count = int(metric.get("count") or 0)
    if detector.metric == "volume":
        return float(count)
    if count < max(detector.min_count, 1):
        return None
    raw = metric.get(detector.metric)
    return None if raw is None else float(raw)


def poisson_tail(k: float, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam): exact for small counts, where the normal shape misleads."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if lam > 500:
        return 0.5 * math.erfc((k - 0.5 - lam) / math.sqrt(2 * lam))
    start = math.ceil(k)
    term = math.exp(-lam + start * math.log(lam) - math.lgamma(start + 1))
    total = 0.0
    i = start
    while term > total * 1e-12 and i < start + 10_000:
        total += term
        i += 1
        term *= lam / i
    return min(total, 1.0)


def _tail_of(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def judge(detector: DetectorConfig, history: list[float], value: float, count: int) -> _Judgement | None:
    """Compare one window's value with the baseline; None when the baseline is too small to judge.

    For ``error_rate`` the history holds the windows' rates and the baseline is the pooled rate of
    the recent normal windows (see :meth:`Detectors._one`), passed in as a one-value history.
    """
    baseline = median(history)
    ratio, delta, z = detector.min_ratio, detector.min_delta, detector.z
    up = detector.direction == "up"
    if detector.metric == "error_rate":
        # Errors in a window are nearly Poisson with mean count x baseline; the exact tail keeps
        # sparse windows (a few errors in a few dozen requests) from looking significant.
        lam = max(baseline, 1e-4) * count
        tail = _tail_of(z)
        needed = lam
        while poisson_tail(needed, lam) > tail:
            needed += max(1.0, lam * 0.01)
        stat_threshold = math.ceil(needed) / max(count, 1)
        threshold = max(stat_threshold, baseline * ratio, baseline + delta)
        return _Judgement(value, baseline, threshold, value >= threshold and value > baseline)
    if detector.metric == "p95_ms":
        sigma = max(_mad(history, baseline), 0.05 * baseline)
    else:
        if baseline < detector.min_baseline:
            return None
        sigma = max(math.sqrt(max(baseline, 1.0)), _mad(history, baseline))
    if up:
        threshold = max(baseline + z * sigma, baseline * ratio, baseline + delta)
        return _Judgement(value, baseline, threshold, value >= threshold and value > baseline)
    threshold = min(baseline - z * sigma, baseline / ratio, baseline - delta)
    return _Judgement(value, baseline, threshold, value <= threshold and value < baseline)


def _format(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric == "p95_ms":
        return f"{value:.0f} ms"
    return f"{value:.0f} events"


class Detectors:
    """Every statistical detector and its per-subject baselines."""

    def __init__(self, config: StatisticalConfig) -> None:
        self.config = config
        self.window = config.window
        self.detectors = config.detectors
        self._by = [frozenset(d.by) for d in self.detectors]
        self.tracks: dict[tuple[str, tuple[Any, ...]], _Track] = {}

    def observe(self, metrics: list[Event], out: list[Event]) -> None:
        """Judge closed windows (``type: metric`` events of the configured window length)."""
        for metric in sorted(metrics, key=lambda m: str(m.get("window_start"))):
            if metric.get("window") != self.window:
                continue
            dimensions = metric.get("dimensions")
            if not isinstance(dimensions, dict):
                continue
            names = frozenset(dimensions)
            for detector, by in zip(self.detectors, self._by, strict=True):
                if names == by:
                    self._one(detector, dimensions, metric, out)

    def _one(
        self, detector: DetectorConfig, dimensions: dict[str, Any], metric: Event, out: list[Event]
    ) -> None:
        dims = {name: dimensions[name] for name in detector.by}
        key = (detector.name, tuple(dims.values()))
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = _Track(self.config.history, self.config.span)
        start = parse_time(metric.get("window_start"))
        end = parse_time(metric.get("window_end"))
        if start is None or end is None:
            return
        if self.config.span > 1:
            combined = self._combine(track, start, end, metric)
            if combined is None:
                return
            metric = combined
            start = parse_time(metric["window_start"]) or start
        value = metric_value(detector, metric)
        if value is None:
            return
        count = int(metric.get("count") or 0)
        track.seen += 1
        if track.seen <= self.config.warmup or len(track.history) < 3:
            self._remember(track, value, count)
            return
        history = list(track.history)
        if detector.metric == "error_rate":
            events = sum(track.counts)
            errors = sum(r * n for r, n in zip(history, track.counts, strict=True))
            history = [errors / events if events else 0.0]
        verdict = judge(detector, history, value, count)
        if verdict is None:
            if not track.firing:
                self._remember(track, value, count)
            return
        if verdict.anomalous:
            track.normal = 0
            if not track.firing and start >= track.quiet_until:
                track.firing = True
                track.started = start
                out.append(self._alert(detector, dims, "firing", start, end, verdict, metric))
            return
        if track.firing:
            track.normal += 1
            if track.normal >= self.config.resolve_after:
                track.firing = False
                track.normal = 0
                track.quiet_until = end + self.config.cooldown
                out.append(self._alert(detector, dims, "resolved", track.started, end, verdict, metric))
            return
        self._remember(track, value, count)

    def _combine(self, track: _Track, start: float, end: float, metric: Event) -> Event | None:
        """The last ``span`` windows as one (sums; median of the p95s), None until there are enough."""
        count = int(metric.get("count") or 0)
        errors = float(metric.get("errors") or 0)
        p95 = metric.get("p95_ms")
        recent = track.recent
        recent.append((start, end, count, errors, None if p95 is None else float(p95)))
        # Windows missing in between (a group that vanished) break the run: start again.
        while recent and recent[0][0] < end - self.config.span * self.window - 1e-6:
            recent.popleft()
        if len(recent) < self.config.span:
            return None
        total = sum(r[2] for r in recent)
        quantiles = [r[4] for r in recent if r[4] is not None]
        return {
            "window_start": iso(recent[0][0]),
            "window_end": iso(end),
            "count": total,
            "errors": sum(r[3] for r in recent),
            "error_rate": sum(r[3] for r in recent) / total if total else 0.0,
            "p95_ms": median(quantiles) if quantiles else None,
        }

    @staticmethod
    def _remember(track: _Track, value: float, count: int) -> None:
        track.history.append(value)
        track.counts.append(count)

    def _alert(
        self,
        detector: DetectorConfig,
        dims: dict[str, Any],
        state: str,
        started: float,
        at: float,
        verdict: _Judgement,
        metric: Event,
    ) -> Event:
        name = detector.metric
        what = "rose to" if detector.direction == "up" else "fell to"
        if state == "firing":
            message = (
                f"{name} of {subject_of(dims)} {what} {_format(name, verdict.value)} "
                f"(baseline {_format(name, verdict.baseline)}, threshold {_format(name, verdict.threshold)})."
            )
        else:
            message = f"{name} of {subject_of(dims)} is back to {_format(name, verdict.value)}."
        return alert_event(
            rule=detector.name, kind="statistical", severity=detector.severity, dimensions=dims, state=state,
            started_at=started, at=at, message=message, value=round(verdict.value, 6),
            baseline=round(verdict.baseline, 6), threshold=round(verdict.threshold, 6),
            channels=list(self.config.channels),
            extra={"metric": name, "window_start": metric.get("window_start"),
                   "window_end": metric.get("window_end"), "count": metric.get("count")},
        )

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> list[Any]:
        return [
            [name, list(key), {"history": list(t.history), "counts": list(t.counts), "seen": t.seen,
                               "recent": [list(r) for r in t.recent],
                               "firing": t.firing,
                               "started": t.started, "normal": t.normal,
                               "quiet_until": None if math.isinf(t.quiet_until) else t.quiet_until}]
            for (name, key), t in self.tracks.items()
        ]

    def restore(self, data: list[Any]) -> None:
        known = {d.name for d in self.detectors}
        for name, key, fields in data:
            if name not in known:
                continue
            track = _Track(self.config.history, self.config.span)
            track.recent.extend(tuple(r) for r in fields.get("recent", []))
            track.history.extend(float(v) for v in fields["history"])
            track.counts.extend(int(n) for n in fields.get("counts", [0] * len(track.history)))
            track.seen = int(fields["seen"])
            track.firing = bool(fields["firing"])
            track.started = float(fields["started"])
            track.normal = int(fields["normal"])
            quiet = fields.get("quiet_until")
            track.quiet_until = float("-inf") if quiet is None else float(quiet)
            self.tracks[(name, tuple(key))] = track
