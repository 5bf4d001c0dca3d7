"""Tail probabilities, and the z-scores that name them.

Every detector states how unusual a window is as a z-score: the number of standard deviations of a
normal distribution that leave the same one-sided tail probability. A z computed from an exact
Poisson tail and one computed in log space then read the same, so one threshold means one false
alarm rate whatever the metric.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()
# Beyond this, tail probabilities underflow doubles; the z is reported capped.
MAX_Z = 38.0
# Above this mean the Poisson tail is taken from its normal shape (sampling noise is then tiny next
# to the spread real traffic has, so the approximation never decides a verdict).
_NORMAL_ABOVE = 1000.0


def z_of_log_tail(log_p: float) -> float:
    """The z whose upper normal tail is exp(log_p) (0 for p ≥ 0.5, capped at MAX_Z)."""
    if log_p >= math.log(0.5):
        return 0.0
    if log_p > -700.0:
        return min(MAX_Z, -_NORMAL.inv_cdf(math.exp(log_p)))
    if log_p < -0.5 * MAX_Z * MAX_Z:
        return MAX_Z
    # Mills ratio: log p ≈ -z²/2 - log(z·sqrt(2π)); two fixed-point steps are plenty.
    z = math.sqrt(-2.0 * log_p)
    for _ in range(2):
        z = math.sqrt(max(0.0, -2.0 * log_p - 2.0 * math.log(z * math.sqrt(2.0 * math.pi))))
    return min(MAX_Z, z)


def _log_term(k: int, lam: float) -> float:
    return -lam + k * math.log(lam) - math.lgamma(k + 1)


def _log_sum_down(k: int, lam: float) -> float:
    """log P(X ≤ k) for k below the mean: terms shrink going down from k."""
    total, term, i = 1.0, 1.0, k
    while i > 0:
        term *= i / lam
        total += term
        if term < total * 1e-15:
            break
        i -= 1
    return _log_term(k, lam) + math.log(total)


def _log_sum_up(k: int, lam: float) -> float:
    """log P(X ≥ k) for k above the mean: terms shrink going up from k."""
    total, term, i = 1.0, 1.0, k
    while True:
        i += 1
        term *= lam / i
        total += term
        if term < total * 1e-15:
            break
    return _log_term(k, lam) + math.log(total)


def poisson_log_sf(k: float, lam: float) -> float:
    """log P(X ≥ k) for X ~ Poisson(lam)."""
    n = math.ceil(k)
    if n <= 0:
        return 0.0
    if lam <= 0.0:
        return -math.inf
    if lam > _NORMAL_ABOVE:
        return _log_normal_sf((n - 0.5 - lam) / math.sqrt(lam))
    if n > lam:
        return _log_sum_up(n, lam)
    return math.log1p(-min(1.0, math.exp(_log_sum_down(n - 1, lam))))


def poisson_log_cdf(k: float, lam: float) -> float:
    """log P(X ≤ k) for X ~ Poisson(lam)."""
    n = math.floor(k)
    if n < 0:
        return -math.inf
    if lam <= 0.0:
        return 0.0
    if lam > _NORMAL_ABOVE:
        return _log_normal_sf((lam - n - 0.5) / math.sqrt(lam))
    if n < lam:
        return _log_sum_down(n, lam)
    return math.log1p(-min(1.0, math.exp(_log_sum_up(n + 1, lam))))


def _log_normal_sf(z: float) -> float:
    if z < 30.0:
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
        if p > 0.0:
            return math.log(p)
    return -0.5 * z * z - math.log(z * math.sqrt(2.0 * math.pi))


def poisson_z(k: float, lam: float, up: bool) -> float:
    """How unusual ``k`` events are when ``lam`` are expected, as a z (≥ 0) in one direction."""
    return z_of_log_tail(poisson_log_sf(k, lam) if up else poisson_log_cdf(k, lam))


def normal_tail(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))
