"""What each metric means to a detector: how a window is read, and how unusual it is.

A window's deviation is a z-score per direction (``up``, ``down``), so the same thresholds serve
every metric:

* ``volume`` — the event count k against the count λ expected for its hour, on the scale log(k + 1).
  Two noise sources (:mod:`~logflume.pipeline.anomaly.noise`, learned apart for rises and falls):
  the subject's own swings (``spread``) and sampling, a Poisson count scaled by the learned
  ``dispersion`` d (variance d·λ/(λ+1)² on that scale). The z on the log scale uses both; the z from
  the exact Poisson tail of k/d under λ/d only the second. The smaller of the two counts, so a window
  must be unusual both as a count (a thin window cannot raise anything) and against the subject's
  usual swings (a busy subject's natural 50 % swings raise nothing).
* ``p95_ms`` — log of the window's p95 latency against the expected value for its hour, with the
  learned spread plus the quantile's own sampling variance, read from the window: the per-request
  log-latency spread s ≈ (log p95 - log p50) / 1.645 gives var(log p95) ≈ 4.47 s² / n.
* ``error_rate`` — the errors e among n events against the pooled error rate r of the recent normal
  windows (not seasonal: error rates do not follow the hour): the exact Poisson tail of e under
  n·r. Errors are rare events, so the exact tail keeps a few errors in a thin window from looking
  significant.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from logflume.pipeline.anomaly.seasonal import Baseline
from logflume.pipeline.anomaly.tails import poisson_log_cdf, poisson_log_sf, poisson_z, z_of_log_tail

# var(log q̂) of the 95th percentile of n log-normal values: p(1-p)/φ(z_p)² = 4.47 (times σ²/n).
_P95_SAMPLING = 0.95 * 0.05 / 0.10313564037537128**2
_Z95 = 1.6448536269514722
# A rate never taken as exactly zero: one error would otherwise be infinitely unusual.
_MIN_RATE = 1e-4


@dataclass(slots=True)
class Window:
    """One closed window of one subject (a metric event, several combined, or a silence)."""

    start: float
    end: float
    count: int
    errors: float
    p95: float | None
    p50: float | None
    filled: bool = False  # no metric came: the detector judges the silence itself

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2.0


@dataclass(slots=True)
class Verdict:
    """How one window compares with its baseline."""

    value: float  # in metric units
    expected: float  # in metric units
    up: float  # z-score of the rise (0 when it fell)
    down: float  # z-score of the fall (0 when it rose)
    center: float = 0.0  # the expected value on the baseline's log scale
    scale: float = 0.0  # standard deviation on that scale
    residual: float = 0.0  # log value minus the expected one
    sampling: float = 0.0  # the window's sampling variance under the ideal model


def _practical(value: float, expected: float, up: bool, ratio: float, delta: float) -> bool:
    if up:
        return value >= expected * ratio and value - expected >= delta and value > expected
    return value * ratio <= expected and expected - value >= delta and value < expected


def _p95_sampling(window: Window) -> float:
    p95, p50 = window.p95 or 0.0, window.p50 or 0.0
    sigma = max(0.0, math.log(p95) - math.log(p50)) / _Z95 if p95 > 0 and p50 > 0 else 0.0
    return _P95_SAMPLING * sigma * sigma / max(window.count, 1)


class Signal:
    """A metric's reading and judging rules (one instance per detector, shared by its subjects)."""

    def __init__(self, metric: str, min_count: int, min_baseline: float) -> None:
        self.metric = metric
        self.min_count = min_count
        self.min_baseline = min_baseline

    def readable(self, window: Window) -> bool:
        """Whether the window holds enough events to be judged (volume: always)."""
        if self.metric == "volume":
            return True
        if window.count < self.min_count:
            return False
        return self.metric != "p95_ms" or (window.p95 is not None and window.p95 > 0)

    def value(self, window: Window) -> float:
        """What the baseline learns from a window (count or p95)."""
        return float(window.count) if self.metric == "volume" else float(window.p95 or 0.0)

    def warm(self, window: Window, baseline: Baseline) -> tuple[float, float] | None:
        """(relative residual, sampling variance) of a warm-up window against the recent median."""
        typical = baseline.recent_median()
        if typical is None:
            return None
        residual = baseline.log(self.value(window)) - baseline.log(typical)
        if self.metric == "volume":
            return residual, typical / (typical + 1.0) ** 2
        return residual, _p95_sampling(window)

    def judge(self, window: Window, baseline: Baseline | RateBaseline, slack: float) -> Verdict | None:
        """The window's verdict; None when the baseline's expectation is below ``min_baseline``.

        Exact tails are only computed where they can matter: for a z above ``slack``.
        """
        if isinstance(baseline, RateBaseline):
            return self._rate(window, baseline)
        center = baseline.expect(window.middle)
        if self.metric == "volume" and center < baseline.log(1.0):
            # Under one event per window the level (a mean of logs) is biased towards the empty
            # windows; the plain mean of the recent counts is the rate of a sparse subject.
            center = max(center, baseline.log(baseline.recent_mean()))
        noise = baseline.noise
        value = self.value(window)
        y = baseline.log(value)
        residual = y - center
        side = noise.side(residual >= 0)
        if self.metric == "volume":
            lam = max(math.exp(center) - baseline.offset, 0.0)
            if lam < self.min_baseline:
                return None
            sampling = lam / (lam + 1.0) ** 2
            scale = math.sqrt(side.total(sampling))
            z = residual / scale
            if abs(z) > slack:
                # As unusual as a count too: the exact tail of bursts of the learned size.
                d = side.dispersion
                z = math.copysign(min(abs(z), poisson_z(value / d, lam / d, z > 0)), z)
            expected = lam
        else:
            sampling = _p95_sampling(window)
            scale = math.sqrt(side.total(sampling))
            z = residual / scale
            expected = math.exp(center)
        return Verdict(value, expected, max(z, 0.0), max(-z, 0.0), center, scale, residual, sampling)

    def _rate(self, window: Window, baseline: RateBaseline) -> Verdict:
        rate = baseline.rate
        lam = max(rate, _MIN_RATE) * window.count
        value = window.errors / window.count if window.count else 0.0
        up = z_of_log_tail(poisson_log_sf(window.errors, lam)) if window.errors > lam else 0.0
        down = z_of_log_tail(poisson_log_cdf(window.errors, lam)) if window.errors < lam else 0.0
        return Verdict(value, rate, up, down)

    def practical(self, verdict: Verdict, up: bool, ratio: float, delta: float) -> bool:
        """Whether the deviation is large enough to matter (``min_ratio`` and ``min_delta``)."""
        return _practical(verdict.value, verdict.expected, up, ratio, delta)

    def threshold(self, verdict: Verdict, baseline: Baseline | RateBaseline, window: Window,
                  up: bool, z: float, ratio: float, delta: float) -> float:
        """The value at which the window would have started to fire (for the alert's figures)."""
        expected = verdict.expected
        if isinstance(baseline, RateBaseline):
            lam = max(expected, _MIN_RATE) * max(window.count, 1)
            stat = _poisson_bound(lam, z, up) / max(window.count, 1)
        else:
            scale = math.sqrt(baseline.noise.side(up).total(verdict.sampling))
            stat = math.exp(verdict.center + (z if up else -z) * scale) - baseline.offset
        if up:
            return max(stat, expected * ratio, expected + delta)
        return max(0.0, min(stat, expected / ratio, expected - delta))


def _poisson_bound(lam: float, z: float, up: bool) -> float:
    """The first count whose one-sided Poisson tail is as small as ``z`` says."""
    step = max(1.0, lam * 0.01)
    k = lam
    if up:
        while poisson_z(k, lam, True) < z and k < lam * 100 + 100:
            k += step
        return float(math.ceil(k))
    while k > 0 and poisson_z(k, lam, False) < z:
        k -= step
    return float(max(0, math.floor(k)))


class RateBaseline:
    """Pooled error rate of the recent normal windows (errors over events, not a median of rates,
    which is 0 for a subject with a few requests per window)."""

    def __init__(self, history: int) -> None:
        self.windows: deque[tuple[int, float]] = deque(maxlen=history)
        self.latest: deque[tuple[int, float]] = deque(maxlen=history)
        self.events = 0
        self.errors = 0.0

    @property
    def ready(self) -> bool:
        return self.events > 0

    @property
    def rate(self) -> float:
        return self.errors / self.events if self.events else 0.0

    @property
    def cycles(self) -> int:
        return 0

    def learn(self, window: Window, normal: bool) -> None:
        self.latest.append((window.count, window.errors))
        if normal:
            self._push((window.count, window.errors))

    def rebase(self) -> None:
        self.windows.clear()
        self.events, self.errors = 0, 0.0
        for item in self.latest:
            self._push(item)

    def _push(self, item: tuple[int, float]) -> None:
        if len(self.windows) == self.windows.maxlen:
            old_count, old_errors = self.windows[0]
            self.events -= old_count
            self.errors -= old_errors
        self.windows.append(item)
        self.events += item[0]
        self.errors += item[1]

    def snapshot(self) -> dict[str, Any]:
        return {"windows": [list(w) for w in self.windows], "latest": [list(w) for w in self.latest]}

    def restore(self, data: dict[str, Any]) -> None:
        for count, errors in data["windows"]:
            self._push((int(count), float(errors)))
        self.latest.extend((int(c), float(e)) for c, e in data["latest"])
