"""Running the commands in-process and comparing reports with the expected numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from logflume.analysis.commands import main

# Averages are sums in a different order (DuckDB's parallel sum vs numpy's pairwise sum), so they
# agree to rounding; counts and percentiles must be equal.
APPROX = {"avg_response_time_ms"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``logflume ARGV`` (analysis commands)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def analyze_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "analyze", "--format", "json", *argv)
    assert (0, "") == (code, err)
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
