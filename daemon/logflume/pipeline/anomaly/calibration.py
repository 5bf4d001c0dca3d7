"""What is unusual *for this subject*: its usual daily worst, and how much its windows hang together.

Real traffic is heavier-tailed than any fitted noise model: a subject whose traffic bursts to ten
times its level most days reaches z = 7 most days, and a threshold of 6 would page daily for
something its owners see as normal. So each subject keeps, for each of its last 7 UTC days, the
largest deviation and the largest running sum its windows reached in each direction. A window fires
only if it is beyond the configured thresholds *and* beyond the second largest of those daily
maxima: a subject that is calm most days keeps the configured thresholds, one that bursts daily
needs a burst larger than usual, and one past incident (the largest maximum) does not blunt
detection. Deviations are kept as log ratios, not z-scores: bursts that fire are kept out of the
learned noise, so a subject bursting every day would otherwise see its z-scores grow without end.

The running sums (CUSUM) assume independent windows. Real traffic's windows are not: a busy hour is
followed by a busy window, so sums of z-scores grow faster than for independent noise and drift
alarms come too often. :class:`Persistence` estimates the lag-1 autocorrelation rho of the standardised
residuals of normal windows; their z-scores enter the sum scaled by sqrt((1 - rho) / (1 + rho)), the
factor that gives a sum of correlated windows the variance of independent ones.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

DAY = 86_400.0
DAYS = 7
MEMORY = 288  # windows: the autocorrelation follows about a day of 5-minute windows


class Extremes:
    """Daily maxima of (z up, z down, sum up, sum down) over the last 7 days."""

    __slots__ = ("current", "day", "days")

    def __init__(self) -> None:
        self.day: int | None = None
        self.current = [0.0, 0.0, 0.0, 0.0]
        self.days: deque[list[float]] = deque(maxlen=DAYS)

    def record(self, t: float, values: tuple[float, float, float, float]) -> None:
        day = int(t // DAY)
        if self.day is None:
            self.day = day
        elif day > self.day:
            self.days.append(self.current)
            self.current = [0.0, 0.0, 0.0, 0.0]
            self.day = day
        current = self.current
        for i, value in enumerate(values):
            if value > current[i]:
                current[i] = value

    def ceiling(self, index: int) -> float:
        """The second largest daily maximum of one figure (0 before two full days)."""
        if len(self.days) < 2:
            return 0.0
        return sorted(day[index] for day in self.days)[-2]

    def snapshot(self) -> dict[str, Any]:
        return {"day": self.day, "current": self.current, "days": [list(d) for d in self.days]}

    def restore(self, data: dict[str, Any]) -> None:
        self.day = None if data.get("day") is None else int(data["day"])
        self.current = [float(v) for v in data.get("current", self.current)]
        self.days.extend([float(v) for v in day] for day in data.get("days", []))


class Persistence:
    """Lag-1 autocorrelation of a subject's standardised residuals (normal windows only)."""

    __slots__ = ("covariance", "n", "previous", "variance")

    def __init__(self) -> None:
        self.previous: float | None = None
        self.covariance = 0.0
        self.variance = 0.0
        self.n = 0

    def learn(self, z: float | None) -> None:
        """Add one window's signed z-score; None breaks the chain (a window not learned)."""
        if z is None:
            self.previous = None
            return
        z = max(-4.0, min(4.0, z))
        self.n += 1
        weight = 1.0 / min(self.n, MEMORY)
        self.variance += weight * (z * z - self.variance)
        if self.previous is not None:
            self.covariance += weight * (z * self.previous - self.covariance)
        self.previous = z

    @property
    def factor(self) -> float:
        """sqrt((1 - rho) / (1 + rho)) for rho ≥ 0 (1 while too little is known)."""
        if self.n < 30 or self.variance <= 0:
            return 1.0
        rho = max(0.0, min(0.95, self.covariance / self.variance))
        return math.sqrt((1.0 - rho) / (1.0 + rho))

    def snapshot(self) -> list[float]:
        return [self.covariance, self.variance, self.n]

    def restore(self, data: list[float]) -> None:
        self.covariance, self.variance, self.n = float(data[0]), float(data[1]), int(data[2])
