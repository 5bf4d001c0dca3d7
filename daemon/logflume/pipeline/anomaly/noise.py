"""How much a subject's windows vary around their expected value, learned from its normal windows.

A window's residual e (its log value minus the expected one) has a variance with two parts: the
subject's own swings, the same at any level (``spread²``: busy days, slow hours), and sampling
noise, which shrinks as the window holds more events (``dispersion`` * x, where x is the window's
sampling variance under the ideal model: λ/(λ+1)² for a Poisson count of mean λ on the log(k + 1)
scale, the quantile formula for a p95). ``dispersion`` is 1 for independent requests and larger
when requests come in bursts: a client sending twenty at once makes the count vary like twenty
times a Poisson count of a twentieth.

For counts both are learned at once by an exponentially weighted least-squares fit of e² on x,
with a memory of about a week of windows: a subject's quiet hours (large x) and busy ones (small x)
tell them apart. When x hardly varies the fit cannot, and the dispersion stays 1 (the excess then
shows up as spread, which makes judgements more cautious, never less). For latencies the dispersion
stays 1: their x is read from the window itself (its p50 and p95), so a window straddling a change
has both a large x and a large residual, and a fit would take the change for sampling noise. Each e²
is clipped at 16 times its predicted variance so a burst does not inflate either figure.

Rises and falls are learned apart (:class:`Spread`): real traffic bursts up far more than it drops,
and a series with many empty windows drops far more than it bursts, so one symmetric spread would
blunt the test in one direction for what happens in the other.
"""

from __future__ import annotations

import math
from typing import Any

CLIP2 = 16.0
# Multiplicative noise no real series is below (the aggregate's quantiles are within 1 %).
MIN_SPREAD = 0.01
MAX_DISPERSION = 1e4


class Noise:
    """The spread and the dispersion of one subject's windows."""

    __slots__ = ("dispersion", "fit", "memory", "mx", "mxx", "mxy", "my", "n", "variance")

    def __init__(self, memory: int, fit: bool) -> None:
        self.memory = memory
        self.fit = fit
        self.n = 0
        self.mx = self.my = self.mxx = self.mxy = 0.0
        self.variance = 0.0
        self.dispersion = 1.0

    @property
    def spread(self) -> float:
        """Standard deviation of the subject's own variability, in log units."""
        return max(MIN_SPREAD, math.sqrt(self.variance))

    def total(self, sampling: float) -> float:
        """Predicted variance of a residual whose ideal sampling variance is ``sampling``."""
        return self.spread**2 + self.dispersion * sampling

    def learn(self, residual: float, sampling: float) -> None:
        """Add one normal window's residual and ideal sampling variance."""
        squared = residual * residual
        if self.n >= 5:
            squared = min(squared, CLIP2 * self.total(sampling))
        self.n += 1
        w = 1.0 / min(self.n, self.memory)
        self.mx += w * (sampling - self.mx)
        self.my += w * (squared - self.my)
        self.mxx += w * (sampling * sampling - self.mxx)
        self.mxy += w * (sampling * squared - self.mxy)
        spread_x = self.mxx - self.mx * self.mx
        slope = 1.0
        # x must vary by at least a tenth of its mean (10 % coefficient of variation) to fit a slope.
        if self.fit and self.n >= 10 and spread_x > 0.01 * self.mx * self.mx and spread_x > 1e-12:
            slope = (self.mxy - self.mx * self.my) / spread_x
        self.dispersion = max(1.0, min(MAX_DISPERSION, slope))
        self.variance = max(0.0, self.my - self.dispersion * self.mx)

    def snapshot(self) -> list[float]:
        return [self.n, self.mx, self.my, self.mxx, self.mxy, self.variance, self.dispersion]

    def restore(self, data: list[Any]) -> None:
        n, self.mx, self.my, self.mxx, self.mxy, self.variance, self.dispersion = (float(v) for v in data)
        self.n = int(n)


class Spread:
    """The noise of rises and of falls, learned apart."""

    __slots__ = ("down", "up")

    def __init__(self, memory: int, fit: bool) -> None:
        self.up = Noise(memory, fit)
        self.down = Noise(memory, fit)

    def side(self, up: bool) -> Noise:
        return self.up if up else self.down

    def learn(self, residual: float, sampling: float) -> None:
        (self.up if residual >= 0 else self.down).learn(residual, sampling)

    @property
    def mean_square(self) -> float:
        """The mean squared residual of both sides."""
        return (self.up.my + self.down.my) / 2.0

    def snapshot(self) -> list[list[float]]:
        return [self.up.snapshot(), self.down.snapshot()]

    def restore(self, data: list[Any]) -> None:
        self.up.restore(data[0])
        self.down.restore(data[1])
