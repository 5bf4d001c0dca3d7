"""Tail probabilities and the z-scores naming them: exact for counts, where a normal shape misleads."""

from __future__ import annotations

import math

import pytest

from logflume.pipeline.anomaly.tails import (
    MAX_Z,
    normal_tail,
    poisson_log_cdf,
    poisson_log_sf,
    poisson_z,
    z_of_log_tail,
)


def direct(lam: float, ks: range) -> float:
    return sum(math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in ks)


CASES = [(lam, k) for lam in (0.05, 0.7, 3.0, 25.0, 180.0, 900.0) for k in (0, 1, 2, 6, 30, 120, 400)]


class TestPoisson:
    @pytest.mark.parametrize(("lam", "k"), CASES)
    def test_upper_tail_matches_the_sum_of_terms(self, lam: float, k: int) -> None:
        """P(X >= k) equals the summed probabilities of k and above, to a relative 1e-9."""
        exact = direct(lam, range(k, k + 3000))
        assert math.isclose(exact, math.exp(poisson_log_sf(k, lam)), rel_tol=1e-9, abs_tol=1e-300)

    @pytest.mark.parametrize(("lam", "k"), CASES)
    def test_lower_tail_matches_the_sum_of_terms(self, lam: float, k: int) -> None:
        """P(X <= k) equals the summed probabilities of 0..k, to a relative 1e-9."""
        exact = direct(lam, range(0, k + 1))
        assert math.isclose(exact, math.exp(poisson_log_cdf(k, lam)), rel_tol=1e-9, abs_tol=1e-300)

    def test_few_events_are_not_significant_where_a_normal_shape_says_so(self) -> None:
        """Zero events where 3 are expected happens 5 % of the time (z 1.6), though it is 1.7
        standard deviations below the mean; zero where 20 are expected is z 5.9."""
        assert (1.6, 5.9) == (round(poisson_z(0, 3.0, up=False), 1), round(poisson_z(0, 20.0, up=False), 1))

    def test_nothing_can_be_unusual_in_the_wrong_direction(self) -> None:
        """A count at or beyond the mean on the other side has z 0."""
        assert (0.0, 0.0) == (poisson_z(3, 10.0, up=True), poisson_z(12, 10.0, up=False))


class TestZ:
    def test_round_trip_with_the_normal_tail(self) -> None:
        """The z of a normal tail probability is the z it came from."""
        for z in (0.5, 2.0, 4.0, 6.0, 8.0):
            assert math.isclose(z, z_of_log_tail(math.log(normal_tail(z))), rel_tol=1e-9)

    def test_far_tails_are_finite_and_capped(self) -> None:
        """Tails beyond double precision still give a z (from the Mills ratio), capped at MAX_Z."""
        assert 30.0 < z_of_log_tail(-500.0) < 32.0
        assert MAX_Z == z_of_log_tail(-5000.0) == z_of_log_tail(-math.inf)
