"""Running the commands in-process and comparing reports with the expected numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from logflume.analysis.commands import main

# Counts must be equal. Floating-point results agree to the last bits only: averages are sums in
# a different order (DuckDB's parallel sum, numpy's pairwise sum), and numpy's linear interpolation
# is written ``a + (b - a) * t`` rearranged, which can round one ulp away from DuckDB's.
APPROX = {"avg_response_time_ms", "p50_ms", "p95_ms", "p99_ms"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``logflume ARGV`` (analysis commands)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def analyze_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "analyze", "--format", "json", *argv)
    assert (code, err) == (0, "")
    result: dict[str, Any] = json.loads(out)
    return result


def _metrics_equal(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    for name, value in expected.items():
        if name in APPROX and value is not None:
            assert value == pytest.approx(actual[name], rel=1e-12), f"{where}{name}"
        else:
            assert value == actual[name], f"{where}{name}"


def assert_report(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Every expected key equal (groups in the same order too)."""
    groups = expected.pop("groups", None)
    _metrics_equal(expected, actual, "")
    assert list(expected["top_errors"].items()) == list(actual["top_errors"].items())
    if groups is not None:
        assert list(groups) == list(actual["groups"])
        for key, metrics in groups.items():
            _metrics_equal(metrics, actual["groups"][key], f"groups[{key}].")
