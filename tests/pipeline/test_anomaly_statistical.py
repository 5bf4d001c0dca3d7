"""Statistical detection on aggregate windows: one firing and one resolved alert per incident."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.aggregate.clock import iso
from logflume.pipeline.anomaly import AnomalyConfig, AnomalyStage, DetectorConfig, StatisticalConfig
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig

T0 = 1_705_312_800.0  # a whole hour


def metric(minute: int, count: int, error_rate: float = 0.01, p95: float = 800.0, **dims: Any) -> Event:
    start = T0 + minute * 60
    return {
        "@timestamp": iso(start), "type": "metric", "window_start": iso(start), "window_end": iso(start + 60),
        "window": 60, "dimensions": dims, "count": count, "errors": round(count * error_rate),
        "error_rate": error_rate, "p95_ms": p95,
        META_KEY: {"event_id": f"m{minute}", "source": "logflume", "type": "metric"},
    }


def detector_stage(tmp_path: Path, detector: DetectorConfig, **extra: Any) -> AnomalyStage:
    settings = {"warmup": 10, "history": 30, "resolve_after": 2, "cooldown": 600, **extra}
    settings["detectors"] = [detector]
    return AnomalyStage(AnomalyConfig(statistical=StatisticalConfig(**settings)), tmp_path)


def feed(stage: AnomalyStage, metrics: list[Event]) -> list[tuple[str, str, str]]:
    out = []
    for m in metrics:
        out += [(a["state"], a["rule"], a["window_start"]) for a in stage(Batch([m]), now=0.0).alerts]
    return out


def normal_errors(rng: random.Random, minute: int, provider: str = "openai") -> Event:
    count = 1000 + rng.randint(-50, 50)
    errors = sum(1 for _ in range(count) if rng.random() < 0.01)
    return metric(minute, count, errors / count, provider=provider)


class TestErrorRate:
    def test_burst_fires_once_and_resolves_once(self, tmp_path: Path) -> None:
        """A 10-minute error burst gives one firing alert at its first window and one resolved."""
        rng = random.Random(7)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        metrics = [normal_errors(rng, m) for m in range(60)]
        metrics += [metric(m, 1000, 0.25, provider="openai") for m in range(60, 70)]
        metrics += [normal_errors(rng, m) for m in range(70, 90)]
        alerts = feed(stage, metrics)
        assert [("firing", "err", iso(T0 + 3600)), ("resolved", "err", iso(T0 + 71 * 60))] == alerts

    def test_firing_alert_carries_figures(self, tmp_path: Path) -> None:
        """The firing alert names the subject and carries value, baseline and threshold."""
        rng = random.Random(8)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        for m in range(30):
            stage(Batch([normal_errors(rng, m)]), 0.0)
        (alert,) = stage(Batch([metric(30, 1000, 0.2, provider="openai")]), 0.0).alerts
        expected = ("openai", {"provider": "openai"}, 0.2)
        assert expected == (alert["subject"], alert["dimensions"], alert["value"])
        assert alert["baseline"] < alert["threshold"] < alert["value"]

    def test_noise_alone_never_fires(self, tmp_path: Path) -> None:
        """A day of ordinary binomial noise around 1 % raises nothing."""
        rng = random.Random(9)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        assert feed(stage, [normal_errors(rng, m) for m in range(1440)]) == []

    def test_cooldown_suppresses_a_second_burst(self, tmp_path: Path) -> None:
        """A burst right after a resolved one (inside the cooldown) raises nothing."""
        rng = random.Random(10)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        metrics = [normal_errors(rng, m) for m in range(40)]
        metrics += [metric(m, 1000, 0.3, provider="openai") for m in (40, 41)]
        metrics += [normal_errors(rng, m) for m in (42, 43)]
        metrics += [metric(m, 1000, 0.3, provider="openai") for m in (44, 45)]
        states = [state for state, _, _ in feed(stage, metrics)]
        assert states == ["firing", "resolved"]

    def test_warmup_and_min_count(self, tmp_path: Path) -> None:
        """Nothing is judged during warm-up or in windows with fewer events than min_count."""
        rng = random.Random(11)
        detector = DetectorConfig(name="err", metric="error_rate", by=["provider"], min_count=100)
        stage = detector_stage(tmp_path, detector)
        metrics = [metric(0, 1000, 0.5, provider="openai")] + [normal_errors(rng, m) for m in range(1, 20)]
        metrics.append(metric(20, 50, 0.5, provider="openai"))
        assert feed(stage, metrics) == []


class TestVolumeAndLatency:
    def test_traffic_drop_including_silence(self, tmp_path: Path) -> None:
        """Volume falling to nothing (zero-filled windows) fires; recovery resolves."""
        rng = random.Random(12)
        stage = detector_stage(tmp_path, DetectorConfig(name="drop", metric="volume", direction="down"))
        metrics = [metric(m, 1000 + rng.randint(-40, 40)) for m in range(40)]
        metrics += [metric(m, 0) for m in range(40, 45)]
        metrics += [metric(m, 1000) for m in range(45, 50)]
        expected = [("firing", "drop", iso(T0 + 2400)), ("resolved", "drop", iso(T0 + 46 * 60))]
        assert expected == feed(stage, metrics)

    def test_latency_spike_on_one_model_only(self, tmp_path: Path) -> None:
        """A p95 spike fires for the model it happens on, not for the others."""
        rng = random.Random(13)
        stage = detector_stage(tmp_path, DetectorConfig(name="p95", metric="p95_ms", by=["model"]))
        metrics = []
        for m in range(40):
            for model in ("a", "b"):
                spike = 3.0 if model == "a" and 30 <= m < 35 else 1.0
                metrics.append(metric(m, 500, p95=rng.uniform(780, 820) * spike, model=model))
        alerts = [a for m in metrics for a in stage(Batch([m]), 0.0).alerts]
        assert [(a["state"], a["subject"]) for a in alerts] == [("firing", "a"), ("resolved", "a")]


class TestState:
    def test_baseline_and_firing_survive_restart(self, tmp_path: Path) -> None:
        """After save and restore, the baseline is kept (no new warm-up) and a firing alert resolves once."""
        rng = random.Random(14)
        detector = DetectorConfig(name="err", metric="error_rate", by=["provider"])
        stage = detector_stage(tmp_path, detector)
        feed(stage, [normal_errors(rng, m) for m in range(30)])
        assert [s for s, _, _ in feed(stage, [metric(30, 1000, 0.3, provider="openai")])] == ["firing"]
        stage.save_state()
        assert (tmp_path / "anomaly-state.json").exists()
        restarted = detector_stage(tmp_path, detector)
        assert feed(restarted, [metric(31, 1000, 0.3, provider="openai")]) == []
        assert [s for s, _, _ in feed(restarted, [normal_errors(rng, m) for m in (32, 33)])] == ["resolved"]
        fresh = detector_stage(tmp_path / "elsewhere", detector)
        assert feed(fresh, [metric(34, 1000, 0.3, provider="openai")]) == []


class TestChain:
    def test_build_chain_wires_aggregate_into_detectors(self, tmp_path: Path) -> None:
        """Built from config, raw events become metrics and an error burst becomes one alert."""
        config = PipelineConfig.model_validate({
            "aggregate": {"windows": ["1m"], "group_by": [["provider"]], "allowed_lateness": "1s"},
            "anomaly": {"statistical": {"window": "1m", "warmup": 10, "detectors": [
                {"name": "err", "metric": "error_rate", "by": ["provider"]}]}},
        })
        chain = build_chain(config, tmp_path)
        rng = random.Random(15)
        alerts = []
        for minute in range(45):
            rate = 0.4 if minute >= 40 else 0.01
            events = [
                {"timestamp": iso(T0 + minute * 60 + i * 0.2), "provider": "openai", "level": "INFO",
                 "status_code": 500 if rng.random() < rate else 200, "response_time_ms": 100.0}
                for i in range(300)
            ]
            alerts += chain(Batch(events), now=T0 + minute * 60 + 60).alerts
        assert [(a["state"], a["rule"], a["subject"]) for a in alerts] == [("firing", "err", "openai")]

    def test_detectors_alone_get_the_aggregate_they_need(self, tmp_path: Path) -> None:
        """With statistical detection but no aggregate section, the needed windows and sets are built."""
        config = PipelineConfig.model_validate({"anomaly": {"statistical": {"window": "2m"}}})
        chain = build_chain(config, tmp_path)
        aggregate = next(stage for stage in chain.stages if stage.name == "aggregate")
        settings = aggregate.config  # type: ignore[attr-defined]
        assert (settings.windows, settings.group_by) == ([120.0], [["provider"], ["model"], []])

    def test_window_that_does_not_fit_the_aggregate_is_a_config_error(self, tmp_path: Path) -> None:
        """A detector window that is not a multiple of the aggregate's shortest window is refused."""
        from logflume.errors import ConfigError

        config = PipelineConfig.model_validate(
            {"aggregate": {"windows": ["1m"]}, "anomaly": {"statistical": {"window": "90s"}}}
        )
        with pytest.raises(ConfigError, match="not a multiple"):
            build_chain(config, tmp_path)


class TestHopping:
    def test_span_judges_the_last_windows_together(self, tmp_path: Path) -> None:
        """With span 3, each 20 s window is judged with the two before it; one incident, one alert pair."""
        detector = DetectorConfig(name="drop", metric="volume", direction="down")
        stage = detector_stage(tmp_path, detector, window=20, span=3, warmup=5)

        def sub(i: int, count: int) -> Event:
            start = T0 + i * 20
            return {
                "type": "metric", "window_start": iso(start), "window_end": iso(start + 20), "window": 20,
                "dimensions": {}, "count": count, "errors": 0, "error_rate": 0.0, "p95_ms": None,
                META_KEY: {"event_id": f"s{i}", "source": "logflume", "type": "metric"},
            }

        metrics = [sub(i, 330 + i % 7) for i in range(60)]
        metrics += [sub(i, 0) for i in range(60, 66)]
        metrics += [sub(i, 330) for i in range(66, 80)]
        alerts = [a for m in metrics for a in stage(Batch([m]), 0.0).alerts]
        assert [a["state"] for a in alerts] == ["firing", "resolved"]
        # The second silent 20 s window already halves the last minute's volume.
        assert iso(T0 + 62 * 20) == alerts[0]["@timestamp"]
