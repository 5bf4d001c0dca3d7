"""The anomaly detector on real traffic: Numenta Anomaly Benchmark (NAB) series run through the daemon.

    python bench/nab_eval.py --data ../shared/nab [--series Twitter] [--kind volume] [--keep DIR]

``--data`` is a directory in NAB's layout: ``data/<category>/<name>.csv`` (``timestamp,value``
rows) and ``combined_windows.json`` (the labelled anomaly windows); every series named in the labels
and present under ``data/`` is run. NAB's data is not part of this repository.

Mapping a series onto what an LLM proxy's daemon sees:

* a **volume** series (anything but latency) becomes that many request lines per row, scaled so
  the median non-empty row holds 50 lines, spread evenly over the row's interval; the event times
  are the series' own, shifted by less than one interval so rows line up with aggregate windows;
* a **latency** series (a name containing ``TravelTime`` or ``atency``) becomes a steady 6 requests
  a minute whose ``response_time_ms`` is the value of the latest row.

Each series is written to a log file and followed by the real daemon (``logflume run`` in a
subprocess) with the shipped settings, except ``pipeline.aggregate.windows: [<the series' median
row interval>]`` and ``pipeline.anomaly.statistical: {}``: the detectors' window follows the
aggregate's, and everything else is as shipped. Time is event time, so weeks replay in seconds. Once
the daemon's checkpoint covers the file it is stopped, and the file sink's output is read: every
``firing`` alert of a detector watching the mapped signal (``traffic_*`` for volume,
``latency_p95_*`` for latency) is a detection, at the last row its window had seen.

Detections are scored with NAB's own scoring, ported below from ``nab/sweeper.py`` and
``nab/runner.py`` (numenta/NAB at commit ea702d75cc2258d9d7dd35ca8e5e2539d71f3140, MIT licence,
Copyright 2014-2015 Numenta Inc.): each window rewards its earliest detection by a scaled sigmoid
of its position, detections outside windows cost the profile's false-positive weight (less right
after a window), missed windows cost the false-negative weight, the first 15 % of each file (at
most 750 rows) is probation, and the total is normalised so that the null detector scores 0 and a
perfect one 100. A detector here raises alerts, not scores: a detection is a row with score 1, every
other row scores 0, and the threshold is 0.5.

Prints one line per series and the totals; the last line is JSON:
``{"nab_score", "detected", "windows", "false_alerts", ...}``.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

NAB_COMMIT = "ea702d75cc2258d9d7dd35ca8e5e2539d71f3140"
# config/profiles.json of NAB at that commit.
PROFILES = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}
PROBATION_PERCENT = 0.15
LINES_PER_MEDIAN_ROW = 50
LATENCY_PER_MINUTE = 6
DETECTORS = {
    "volume": ("traffic_drop", "traffic_spike"),
    "latency": ("latency_p95_spike", "latency_p95_dip"),
}


# -- NAB's scoring (nab/sweeper.py, nab/runner.py) ---------------------------------------------


@dataclass
class AnomalyPoint:
    timestamp: datetime
    anomaly_score: float
    sweep_score: float
    window_name: str | None


@dataclass
class ThresholdScore:
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def scaled_sigmoid(relative_position: float) -> float:
    """-1.0 is the window's left edge (0.98661), 0.0 its right edge (0.0); positive values are
    false positives after the window, down to -1.0 from 3.0 on."""
    if relative_position > 3.0:
        return -1.0
    return 2 * sigmoid(-5 * relative_position) - 1.0


class Sweeper:
    """NAB's ``Sweeper``: per-row scores of one file, and the score at a threshold."""

    def __init__(self, probation_percent: float, cost: dict[str, float]) -> None:
        self.probation_percent = probation_percent
        self.tp_weight = cost["tpWeight"]
        self.fp_weight = cost["fpWeight"]
        self.fn_weight = cost["fnWeight"]

    def probationary_length(self, rows: int) -> float:
        return min(math.floor(self.probation_percent * rows), self.probation_percent * 5000)

    def calc_sweep_score(
        self, timestamps: list[datetime], scores: list[float], windows: list[tuple[datetime, datetime]],
        name: str,
    ) -> list[AnomalyPoint]:
        windows = list(windows)
        points = []
        max_tp = scaled_sigmoid(-1.0)
        probation = self.probationary_length(len(timestamps))
        cur_limits: tuple[datetime, datetime] | None = None
        cur_name: str | None = None
        cur_width = cur_right = 0.0
        prev_width: float | None = None
        prev_right: int | None = None
        for i, (when, score) in enumerate(zip(timestamps, scores, strict=True)):
            if windows and when == windows[0][0]:
                cur_limits = windows.pop(0)
                cur_name = f"{name}|{cur_limits[0]}"
                cur_right = timestamps.index(cur_limits[1])
                cur_width = float(cur_right - timestamps.index(cur_limits[0]) + 1)
            if cur_limits is not None:
                position = -(cur_right - i + 1) / cur_width
                weighted = scaled_sigmoid(position) * self.tp_weight / max_tp
            else:
                if prev_right is None or prev_width is None:
                    unweighted = -1.0
                else:
                    unweighted = scaled_sigmoid(abs(prev_right - i) / float(prev_width - 1))
                weighted = unweighted * self.fp_weight
            window_name = cur_name if i >= probation else "probationary"
            points.append(AnomalyPoint(when, score, weighted, window_name))
            if cur_limits is not None and when == cur_limits[1]:
                prev_right, prev_width = i, cur_width
                cur_limits = cur_name = None
        return points

    def calc_score_by_threshold(self, points: list[AnomalyPoint]) -> list[ThresholdScore]:
        scorable = sorted(
            (p for p in points if p.window_name != "probationary"),
            key=lambda p: p.anomaly_score,
            reverse=True,
        )
        parts: dict[str, float] = {"fp": 0.0}
        for point in scorable:
            if point.window_name is not None:
                parts[point.window_name] = -self.fn_weight
        out = []
        threshold = 1.1
        tn = sum(1 for p in scorable if p.window_name is None)
        fn = len(scorable) - tn
        tp = fp = 0
        for point in scorable:
            if point.anomaly_score != threshold:
                out.append(ThresholdScore(threshold, sum(parts.values()), tp, tn, fp, fn, tp + tn + fp + fn))
                threshold = point.anomaly_score
            if point.window_name is not None:
                tp, fn = tp + 1, fn - 1
                parts[point.window_name] = max(parts[point.window_name], point.sweep_score)
            else:
                fp, tn = fp + 1, tn - 1
                parts["fp"] += point.sweep_score
        out.append(ThresholdScore(threshold, sum(parts.values()), tp, tn, fp, fn, tp + tn + fp + fn))
        return out

    def score_data_set(
        self, timestamps: list[datetime], scores: list[float], windows: list[tuple[datetime, datetime]],
        name: str, threshold: float,
    ) -> ThresholdScore:
        by_threshold = self.calc_score_by_threshold(self.calc_sweep_score(timestamps, scores, windows, name))
        previous = None
        for row in by_threshold:
            if row.threshold == threshold:
                return row
            if row.threshold < threshold:
                break
            previous = row
        assert previous is not None
        return previous


def normalised(raw: float, windows: int, cost: dict[str, float]) -> float:
    """NAB's normalisation: the null detector (no detections) scores 0, a perfect one 100."""
    null = -cost["fnWeight"] * windows
    perfect = cost["tpWeight"] * windows
    return 100 * (raw - null) / (perfect - null)


# -- series and their mapping onto request logs -----------------------------------------------


@dataclass
class Series:
    name: str  # NAB's relative path, e.g. realTweets/Twitter_volume_AAPL.csv
    times: list[datetime]
    values: list[float]
    windows: list[tuple[datetime, datetime]]
    kind: str = "volume"
    interval: float = 300.0
    shift: float = 0.0  # seconds added to series time to get event time
    epochs: list[float] = field(default_factory=list)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def load(data: Path, only: str | None, kind: str | None = None) -> list[Series]:
    labels = json.loads((data / "combined_windows.json").read_text())
    out = []
    for name, windows in sorted(labels.items()):
        path = data / "data" / name
        if not path.exists() or (only and only not in name):
            continue
        with path.open() as handle:
            rows = list(csv.reader(handle))[1:]
        times = [_when(r[0]) for r in rows]
        series = Series(name, times, [float(r[1]) for r in rows], [(_when(a), _when(b)) for a, b in windows])
        series.epochs = [t.replace(tzinfo=UTC).timestamp() for t in times]
        gaps = [b - a for a, b in zip(series.epochs, series.epochs[1:], strict=False)]
        series.interval = float(statistics.median(gaps))
        series.kind = "latency" if "TravelTime" in name or "atency" in name else "volume"
        if series.kind == "volume":
            series.shift = -(series.epochs[0] % series.interval)
        if kind is None or series.kind == kind:
            out.append(series)
    return out


def _iso(ts: float) -> str:
    whole = math.floor(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1000):03d}Z"


def log_lines(series: Series) -> Iterator[bytes]:
    """The series as proxy request lines (JSON), in time order."""
    base = {"level": "INFO", "logger": "llm_proxy.api", "message": "Chat completion request processed",
            "provider": "nab", "model": "series", "endpoint": "/v1/chat/completions", "status_code": 200}
    n = 0
    if series.kind == "volume":
        positive = [v for v in series.values if v > 0]
        scale = LINES_PER_MEDIAN_ROW / statistics.median(positive) if positive else 1.0
        for start, value in zip(series.epochs, series.values, strict=True):
            lines = round(value * scale)
            for i in range(lines):
                n += 1
                ts = start + series.shift + (i + 0.5) * series.interval / lines
                yield orjson.dumps({"timestamp": _iso(ts), **base, "request_id": f"r{n}",
                                    "response_time_ms": 100.0})
        return
    step = 60.0 / LATENCY_PER_MINUTE
    ts = series.epochs[0]
    end = series.epochs[-1] + series.interval
    row = 0
    while ts < end:
        while row + 1 < len(series.epochs) and series.epochs[row + 1] <= ts:
            row += 1
        n += 1
        yield orjson.dumps({"timestamp": _iso(ts), **base, "request_id": f"r{n}",
                            "response_time_ms": series.values[row]})
        ts += step


def detection_rows(series: Series, alerts: list[dict[str, Any]]) -> set[int]:
    """Rows at which a firing alert of a detector of the series' signal was raised: the last row
    whose time lies before the end of the alert's window."""
    rules = DETECTORS[series.kind]
    rows = set()
    for alert in alerts:
        if alert.get("state") != "firing" or alert.get("rule") not in rules:
            continue
        end = datetime.fromisoformat(str(alert["window_end"]).replace("Z", "+00:00")).timestamp()
        index = bisect.bisect_left(series.epochs, end - series.shift) - 1
        if index >= 0:
            rows.add(index)
    return rows


# -- running the daemon -----------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def run_daemon(series: Series, workdir: Path, timeout: float) -> tuple[list[dict[str, Any]], float, int]:
    """Follow the series' log with ``logflume run``; returns every alert it wrote, the seconds the
    daemon took and the number of lines."""
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    path = logs / "proxy.log"
    lines = 0
    with path.open("wb") as handle:
        for line in log_lines(series):
            handle.write(line + b"\n")
            lines += 1
    out = workdir / "out" / "nab.jsonl"
    config = {
        "state_dir": str(workdir / "state"),
        "sources": [{"name": "nab", "include": [str(logs / "*.log")]}],
        "sinks": [{"name": "out", "type": "file", "path": str(out), "rotation": {"max_size": "100GB"}}],
        "pipeline": {
            "aggregate": {"windows": [_duration(series.interval)]},
            "anomaly": {"statistical": {}},
        },
        "log": {"level": "WARNING", "format": "json"},
        "http": {"enabled": False},
    }
    config_path = workdir / "logflume.yaml"
    config_path.write_text(yaml.safe_dump(config))
    size = path.stat().st_size
    checkpoint = workdir / "state" / "checkpoints" / "nab.json"
    began = time.perf_counter()
    with (workdir / "daemon.log").open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "logflume", "run", "-c", str(config_path)], stderr=err)
        try:
            while True:
                time.sleep(0.1)
                if proc.poll() is not None:
                    log = workdir / "daemon.log"
                    raise RuntimeError(f"the daemon exited with {proc.returncode}; see {log}")
                if time.perf_counter() - began > timeout:
                    raise RuntimeError(f"the daemon did not finish {series.name} within {timeout:.0f}s")
                try:
                    files = orjson.loads(checkpoint.read_bytes())["files"]
                except (FileNotFoundError, orjson.JSONDecodeError, KeyError):
                    continue
                if sum(f["offset"] for f in files.values()) >= size:
                    break
            elapsed = time.perf_counter() - began
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    alerts = []
    with out.open("rb") as handle:
        for line in handle:
            if b'"alert"' in line:
                event = orjson.loads(line)
                if event.get("type") == "alert":
                    alerts.append(event)
    path.unlink()
    return alerts, elapsed, lines


# -- report -----------------------------------------------------------------------------------


@dataclass
class Result:
    series: Series
    rows: set[int]
    raw: dict[str, float]
    detected: int
    false_alerts: int
    seconds: float
    lines: int


def score(series: Series, rows: set[int], seconds: float, lines: int) -> Result:
    scores = [1.0 if i in rows else 0.0 for i in range(len(series.times))]
    raw = {}
    for profile, cost in PROFILES.items():
        sweeper = Sweeper(PROBATION_PERCENT, cost)
        raw[profile] = sweeper.score_data_set(series.times, scores, series.windows, series.name, 0.5).score
    sweeper = Sweeper(PROBATION_PERCENT, PROFILES["standard"])
    points = sweeper.calc_sweep_score(series.times, scores, series.windows, series.name)
    flagged = [p for p in points if p.anomaly_score > 0.5]
    hit = {p.window_name for p in flagged if p.window_name not in (None, "probationary")}
    false_alerts = sum(1 for p in flagged if p.window_name is None)
    return Result(series, rows, raw, len(hit), false_alerts, seconds, lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data", type=Path, required=True, help="NAB-style directory (data/, combined_windows.json)."
    )
    parser.add_argument("--series", help="Only series whose name contains this.")
    parser.add_argument("--kind", choices=("volume", "latency"), help="Only series mapped this way.")
    parser.add_argument("--keep", type=Path, help="Keep each run's config, output and daemon log here.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds one series may take.")
    args = parser.parse_args()
    all_series = load(args.data, args.series, args.kind)
    if not all_series:
        parser.error(f"no labelled series under {args.data}")
    results = []
    with tempfile.TemporaryDirectory(prefix="nab-eval-") as tmp:
        root = args.keep or Path(tmp)
        for series in all_series:
            workdir = root / series.name.replace("/", "__").removesuffix(".csv")
            alerts, seconds, lines = run_daemon(series, workdir, args.timeout)
            result = score(series, detection_rows(series, alerts), seconds, lines)
            results.append(result)
            own = normalised(result.raw["standard"], len(series.windows), PROFILES["standard"])
            print(
                f"{series.name:58} {series.kind:7} windows {len(series.windows)} detected {result.detected} "
                f"false {result.false_alerts:3d}  score {own:6.1f}  ({lines} lines, {seconds:.1f}s)",
                flush=True,
            )
    windows = sum(len(r.series.windows) for r in results)
    totals = {
        profile: round(normalised(sum(r.raw[profile] for r in results), windows, cost), 1)
        for profile, cost in PROFILES.items()
    }
    summary = {
        "nab_score": totals["standard"],
        "detected": sum(r.detected for r in results),
        "windows": windows,
        "false_alerts": sum(r.false_alerts for r in results),
        "profiles": totals,
        "series": len(results),
        "nab_commit": NAB_COMMIT,
    }
    print(f"total: NAB standard score {totals['standard']} (low FP {totals['reward_low_FP_rate']}, "
          f"low FN {totals['reward_low_FN_rate']}), detected {summary['detected']} of {windows} windows, "
          f"{summary['false_alerts']} false alerts")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
