"""bench/nab_eval.py: NAB's scoring as ported, and the mapping of a series onto request logs."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import orjson

BENCH = Path(__file__).resolve().parent.parent / "bench" / "nab_eval.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nab_eval", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nab_eval"] = module
    spec.loader.exec_module(module)
    return module


nab = load_bench()
START = datetime(2015, 3, 1)
ROWS = 1000
TIMES = [START + timedelta(minutes=5 * i) for i in range(ROWS)]
WINDOW = (TIMES[600], TIMES[699])


def score(detections: set[int], profile: str = "standard") -> float:
    series = nab.Series("x.csv", TIMES, [1.0] * ROWS, [WINDOW])
    raw = nab.score(series, detections, 0.0, 0).raw[profile]
    return round(nab.normalised(raw, 1, nab.PROFILES[profile]), 2)


class TestScoring:
    def test_null_and_perfect(self) -> None:
        """No detection scores 0; one at the window's first row scores 100."""
        assert (0.0, 100.0) == (score(set()), score({600}))

    def test_later_detection_earns_less(self) -> None:
        """Half-way into the window earns the scaled sigmoid of -0.5 (0.848 of a full detection)."""
        expected = round(100 * (0.84828 / 0.98661 + 1) / 2, 1)
        assert expected == round(score({650}), 1)

    def test_a_false_positive_far_from_windows_costs_its_weight(self) -> None:
        """A detection long before the window costs fpWeight (0.11 standard, 0.22 low-FP profile)."""
        assert (94.5, 89.0) == (score({300, 600}), score({300, 600}, "reward_low_FP_rate"))

    def test_probation_is_not_scored(self) -> None:
        """Detections in the first 15 % of the rows are neither rewarded nor penalised."""
        assert 100.0 == score({10, 600})

    def test_only_the_best_detection_of_a_window_counts(self) -> None:
        """Several detections inside one window score as the earliest alone."""
        assert score({600}) == score({600, 620, 690})


class TestMapping:
    def test_volume_rows_become_lines_spread_over_their_interval(self) -> None:
        """A volume row becomes value x (50 / median non-empty row) lines inside its own interval."""
        times = [datetime(2015, 3, 1, 0, 2, 53) + timedelta(minutes=5 * i) for i in range(4)]
        series = nab.Series("realTweets/x.csv", times, [10.0, 0.0, 20.0, 10.0], [])
        series.epochs = [t.replace(tzinfo=nab.UTC).timestamp() for t in times]
        series.interval, series.shift = 300.0, -(series.epochs[0] % 300.0)
        events = [orjson.loads(line) for line in nab.log_lines(series)]
        per_window: dict[str, int] = {}
        for event in events:
            minute = int(event["timestamp"][14:16])
            key = f"{minute - minute % 5:02d}"
            per_window[key] = per_window.get(key, 0) + 1
        assert {"00": 50, "10": 100, "15": 50} == per_window

    def test_latency_rows_set_the_latency_of_steady_requests(self) -> None:
        """A latency series becomes 6 requests a minute carrying the latest row's value."""
        times = [datetime(2015, 3, 1, 0, 0) + timedelta(minutes=10 * i) for i in range(3)]
        series = nab.Series("realTraffic/TravelTime_1.csv", times, [100.0, 900.0, 200.0], [], kind="latency")
        series.epochs = [t.replace(tzinfo=nab.UTC).timestamp() for t in times]
        series.interval = 600.0
        values = [orjson.loads(line)["response_time_ms"] for line in nab.log_lines(series)]
        assert [100.0] * 60 + [900.0] * 60 + [200.0] * 60 == values

    def test_an_alert_is_a_detection_at_the_last_row_its_window_had_seen(self) -> None:
        """A firing alert of a detector of the series' signal marks the last row before its window's
        end; resolved alerts and other detectors' alerts mark nothing."""
        times = [datetime(2015, 3, 1, 0, 2, 53) + timedelta(minutes=5 * i) for i in range(10)]
        series = nab.Series("realTweets/x.csv", times, [1.0] * 10, [])
        series.epochs = [t.replace(tzinfo=nab.UTC).timestamp() for t in times]
        series.shift = -(series.epochs[0] % 300.0)
        alerts = [
            {"state": "firing", "rule": "traffic_drop", "window_end": "2015-03-01T00:20:00.000Z"},
            {"state": "resolved", "rule": "traffic_drop", "window_end": "2015-03-01T00:40:00.000Z"},
            {"state": "firing", "rule": "latency_p95_spike", "window_end": "2015-03-01T00:30:00.000Z"},
        ]
        assert {3} == nab.detection_rows(series, alerts)
