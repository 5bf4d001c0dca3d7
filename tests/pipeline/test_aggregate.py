"""The aggregate stage: windows by event time checked against an exact computation."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.aggregate import AggregateConfig, AggregateStage
from logflume.pipeline.aggregate.clock import iso, parse_time

T0 = 1_705_314_600.0  # 2024-01-15T10:30:00Z, a minute boundary
# The wall clock of the calls: after every event time (only its elapsed time matters to windows;
# events stamped ahead of it by more than max_future are left out).
WALL = T0 + 86_400.0
PROVIDERS = ["openai", "anthropic", "google"]
MODELS = ["gpt-4", "claude-3", "gemini"]


def make_events(count: int, seed: int, span: float = 600.0) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        status = rng.choice([200] * 30 + [429, 500, 502])
        events.append(
            {
                "timestamp": iso(T0 + span * i / count),
                "level": "ERROR" if rng.random() < 0.05 else "INFO",
                "provider": rng.choice(PROVIDERS),
                "model": rng.choice(MODELS),
                "endpoint": "/v1/chat/completions",
                "response_time_ms": rng.lognormvariate(6, 0.8),
                "tokens": rng.randint(10, 500),
                "cost_usd": rng.randint(1, 100) / 10000,
                "cache_hit": rng.random() < 0.25,
                "status_code": status,
                META_KEY: {"event_id": f"f-{i:x}", "source": "proxy"},
            }
        )
    return events


def run(stage: AggregateStage, events: list[Event], batch_size: int = 500) -> list[Event]:
    metrics: list[Event] = []
    for i in range(0, len(events), batch_size):
        out = stage(Batch(events[i : i + batch_size]), now=WALL)
        metrics.extend(e for e in out.events if e.get("type") == "metric")
    return metrics


def exact(events: list[Event], window: float, dims: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Event]] = {}
    for event in events:
        ts = parse_time(event["timestamp"])
        assert ts is not None
        start = ts - ts % window
        groups.setdefault((start, *(event[d] for d in dims)), []).append(event)
    out = {}
    for key, members in groups.items():
        errors = sum(1 for e in members if e["level"] == "ERROR" or e["status_code"] >= 500)
        codes: dict[str, int] = {}
        for e in members:
            codes[str(e["status_code"])] = codes.get(str(e["status_code"]), 0) + 1
        out[key] = {
            "count": len(members),
            "errors": errors,
            "tokens": sum(e["tokens"] for e in members),
            "cost_usd": sum(e["cost_usd"] for e in members),
            "cache_hit_rate": sum(1 for e in members if e["cache_hit"]) / len(members),
            "status_codes": codes,
            "latencies": sorted(e["response_time_ms"] for e in members),
        }
    return out


def metric_key(metric: Event, dims: list[str]) -> tuple[Any, ...]:
    start = parse_time(metric["window_start"])
    return (start, *(metric["dimensions"][d] for d in dims))


class TestWindows:
    @pytest.mark.parametrize("window", [60.0, 300.0])
    def test_counts_and_sums_are_exact(self, window: float) -> None:
        """Counts, errors, tokens, cost, cache hit rate and status codes equal an exact computation."""
        events = make_events(6000, seed=1)
        dims = ["provider", "model"]
        config = AggregateConfig(windows=[60, 300], group_by=[dims], idle_after=None, zero_fill=0)
        stage = AggregateStage(config)
        metrics = run(stage, [*events, {"timestamp": iso(T0 + 10_000)}])
        got = {metric_key(m, dims): m for m in metrics if m["window"] == window}
        want = exact(events, window, dims)
        assert sorted(want) == sorted(got)
        for key, expected in want.items():
            metric = got[key]
            assert expected["count"] == metric["count"]
            assert expected["errors"] == metric["errors"]
            assert expected["errors"] / expected["count"] == pytest.approx(metric["error_rate"])
            assert expected["tokens"] == metric["tokens"]
            assert expected["cost_usd"] == pytest.approx(metric["cost_usd"])
            assert expected["cache_hit_rate"] == pytest.approx(metric["cache_hit_rate"])
            assert expected["status_codes"] == metric["status_codes"]

    @pytest.mark.parametrize("window", [60.0, 300.0])
    def test_quantiles_within_stated_relative_error(self, window: float) -> None:
        """p50/p95/p99 are within the sketch's relative accuracy of the exact sample quantile."""
        events = make_events(20000, seed=2)
        accuracy = 0.01
        stage = AggregateStage(
            AggregateConfig(
                windows=[60, 300], group_by=[["provider"]], relative_accuracy=accuracy,
                idle_after=None, zero_fill=0,
            )
        )
        metrics = run(stage, [*events, {"timestamp": iso(T0 + 10_000)}])
        want = exact(events, window, ["provider"])
        checked = 0
        for metric in metrics:
            if metric["window"] != window:
                continue
            values = want[metric_key(metric, ["provider"])]["latencies"]
            for q, field in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
                # DDSketch answers the sample of rank floor(q * (n - 1)).
                expected = float(np.percentile(values, q * 100, method="lower"))
                # The guarantee is relative to the exact value: |estimate - exact| <= accuracy * exact.
                assert abs(metric[field] - expected) <= accuracy * expected
                checked += 1
        assert checked > 0

    def test_rollup_sets_match_direct_grouping(self) -> None:
        """Each group_by set (including the empty set) gets metrics equal to grouping directly."""
        events = make_events(3000, seed=3)
        stage = AggregateStage(
            AggregateConfig(
                windows=[60], group_by=[["provider", "model"], ["model"], []], idle_after=None, zero_fill=0
            )
        )
        metrics = run(stage, [*events, {"timestamp": iso(T0 + 10_000)}])
        for dims in (["model"], []):
            got = {metric_key(m, dims): m["count"] for m in metrics if sorted(m["dimensions"]) == dims}
            want = {key: value["count"] for key, value in exact(events, 60.0, dims).items()}
            assert want == got

    def test_window_waits_for_lateness_then_closes(self) -> None:
        """A window closes only once event time passed its end by the allowed lateness."""
        config = AggregateConfig(windows=[60], group_by=[[]], allowed_lateness=10, idle_after=None)
        stage = AggregateStage(config)
        first = stage(Batch([{"timestamp": iso(T0 + 5)}, {"timestamp": iso(T0 + 65)}]), now=WALL)
        assert [e for e in first.events if e.get("type") == "metric"] == []
        late_but_allowed = stage(Batch([{"timestamp": iso(T0 + 50)}, {"timestamp": iso(T0 + 70)}]), now=WALL)
        metrics = [e for e in late_but_allowed.events if e.get("type") == "metric"]
        assert [m["count"] for m in metrics] == [2]
        too_late = stage(Batch([{"timestamp": iso(T0 + 30)}]), now=WALL)
        assert stage.stats.late == 1
        assert len(too_late.events) == 1

    def test_event_from_the_far_future_moves_no_window(self) -> None:
        """An event stamped ahead of the wall clock by more than max_future is counted and left out:
        the windows of the events around it close as if it were not there, and later events are not late."""
        config = AggregateConfig(windows=[60], group_by=[[]], allowed_lateness=5, idle_after=None)
        stage = AggregateStage(config)
        now = T0 + 600
        batches = [
            [{"timestamp": iso(T0 + 5)}, {"timestamp": "9999-12-31T23:00:00Z"}],
            [{"timestamp": iso(T0 + 20)}, {"timestamp": iso(T0 + 70)}],
            [{"timestamp": iso(T0 + 130)}],
        ]
        closed = [e for events in batches for e in stage(Batch(events), now=now).events]
        assert ([(iso(T0), 2), (iso(T0 + 60), 1)], 1, 0) == (
            [(m["window_start"], m["count"]) for m in closed if m.get("type") == "metric"],
            stage.stats.future,
            stage.stats.late,
        )

    def test_quiet_stream_closes_by_wall_clock(self) -> None:
        """With no newer events, empty ticks close the last window once idle_after has passed."""
        config = AggregateConfig(windows=[60], group_by=[[]], allowed_lateness=5, idle_after=30)
        stage = AggregateStage(config)
        stage(Batch([{"timestamp": iso(T0 + 10)}]), now=WALL + 1000.0)
        assert stage(Batch([]), now=WALL + 1029.0).events == []
        closed = stage(Batch([]), now=WALL + 1060.0).events
        assert [(iso(T0), 1)] == [(m["window_start"], m["count"]) for m in closed]

    def test_group_that_goes_silent_gets_zero_metrics(self) -> None:
        """A group absent from a window but seen recently is reported with count 0."""
        stage = AggregateStage(AggregateConfig(windows=[60], group_by=[["provider"]], idle_after=None))
        times_and_providers = [(1, "a"), (2, "b"), (61, "a"), (200, "a")]
        events = [{"timestamp": iso(T0 + t), "provider": p} for t, p in times_and_providers]
        metrics = [e for e in stage(Batch(events), now=WALL).events if e.get("type") == "metric"]
        second_window = [m for m in metrics if m["window_start"] == iso(T0 + 60)]
        second = {m["dimensions"]["provider"]: m["count"] for m in second_window}
        assert second == {"a": 1, "b": 0}

    def test_metric_event_shape_and_deterministic_id(self) -> None:
        """Metric events carry type, window bounds, dimensions and a deterministic id."""
        def once() -> Event:
            stage = AggregateStage(AggregateConfig(windows=[60], group_by=[["provider"]], idle_after=None))
            events = [{"timestamp": iso(T0 + 1), "provider": "a"}, {"timestamp": iso(T0 + 100)}]
            out = stage(Batch(events), WALL)
            return next(e for e in out.events if e.get("type") == "metric")

        metric = once()
        assert ("metric", iso(T0), iso(T0 + 60), 60) == (
            metric["type"], metric["window_start"], metric["window_end"], metric["window"]
        )
        assert metric["dimensions"] == {"provider": "a"}
        assert metric[META_KEY]["source"] == "logflume"
        assert once()[META_KEY]["event_id"] == metric[META_KEY]["event_id"]

    def test_acks_and_dead_letters_pass_through(self) -> None:
        """The stage keeps the batch's acks and dead letters untouched."""
        stage = AggregateStage(AggregateConfig(idle_after=None))
        batch = Batch([{"timestamp": iso(T0)}], acks=["ack"], dead=["dead"])  # type: ignore[list-item]
        out = stage(batch, now=WALL)
        assert (out.acks, out.dead) == (["ack"], ["dead"])


class TestTimeParsing:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-01-15T10:30:15.123Z", 1705314615.123),
            ("2024-01-15T10:30:15Z", 1705314615.0),
            ("2024-01-15T10:30:15", 1705314615.0),
            ("2024-01-15T12:30:15.5+02:00", 1705314615.5),
            (1705314615.25, 1705314615.25),
            (1705314615250, 1705314615.25),
            ("not a time", None),
        ],
    )
    def test_iso_and_epoch(self, text: object, expected: float | None) -> None:
        """ISO 8601 (with or without zone) and epoch seconds or milliseconds parse to epoch seconds."""
        result = parse_time(text)
        assert expected == (None if result is None else pytest.approx(result))
