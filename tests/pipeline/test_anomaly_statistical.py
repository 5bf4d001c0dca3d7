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
from tests.pipeline.anomaly_feed import T0, Feeder, states, window

T1 = 1_705_312_800.0  # a whole hour


def metric(minute: int, count: int, error_rate: float = 0.01, p95: float = 800.0, **dims: Any) -> Event:
    return window(T1 + minute * 60, count, length=60, errors=round(count * error_rate), p95=p95, **dims)


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


def steady(rng: random.Random, start: float, windows: int, level: float, noise: float = 0.05) -> list[Event]:
    """5-minute windows of all traffic around ``level`` (Poisson counts, multiplicative noise)."""
    out = []
    for i in range(windows):
        mean = level * rng.lognormvariate(0.0, noise)
        out.append(window(start + i * 300, _poisson(rng, mean)))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation, enough for the hundreds of events per window used here.
    return max(0, round(rng.gauss(mean, mean**0.5)))


class TestErrorRate:
    def test_burst_fires_once_and_resolves_once(self, tmp_path: Path) -> None:
        """A 10-minute error burst gives one firing alert at its first window and one resolved."""
        rng = random.Random(7)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        metrics = [normal_errors(rng, m) for m in range(60)]
        metrics += [metric(m, 1000, 0.25, provider="openai") for m in range(60, 70)]
        metrics += [normal_errors(rng, m) for m in range(70, 90)]
        alerts = feed(stage, metrics)
        assert [("firing", "err", iso(T1 + 3600)), ("resolved", "err", iso(T1 + 71 * 60))] == alerts

    def test_firing_alert_carries_figures(self, tmp_path: Path) -> None:
        """The firing alert names the subject and carries value, baseline, threshold and z."""
        rng = random.Random(8)
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        for m in range(30):
            stage(Batch([normal_errors(rng, m)]), 0.0)
        (alert,) = stage(Batch([metric(30, 1000, 0.2, provider="openai")]), 0.0).alerts
        expected = ("openai", {"provider": "openai"}, 0.2, "spike", "up")
        assert expected == (alert["subject"], alert["dimensions"], alert["value"], alert["trigger"],
                            alert["direction"])
        assert alert["baseline"] < alert["threshold"] < alert["value"]
        assert alert["z"] >= 6

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
        states_seen = [state for state, _, _ in feed(stage, metrics)]
        assert states_seen == ["firing", "resolved"]

    def test_warmup_and_thin_windows_are_counted_not_judged(self, tmp_path: Path) -> None:
        """Nothing is judged during warm-up or in windows under min_count; each is counted by outcome."""
        rng = random.Random(11)
        detector = DetectorConfig(name="err", metric="error_rate", by=["provider"], min_count=100)
        stage = detector_stage(tmp_path, detector)
        metrics = [metric(0, 1000, 0.5, provider="openai")] + [normal_errors(rng, m) for m in range(1, 20)]
        metrics.append(metric(20, 50, 0.5, provider="openai"))
        assert feed(stage, metrics) == []
        counts = stage.window_counts()
        assert {("err", "warmup"): 10, ("err", "judged"): 10, ("err", "thin"): 1} == dict(counts)


class TestVolume:
    def test_drop_to_silence_fires_and_recovery_resolves(self, tmp_path: Path) -> None:
        """Volume falling to nothing fires as a silence; recovery resolves it once."""
        rng = random.Random(12)
        feeder = Feeder(tmp_path, warmup=10, resolve_after=2)
        feeder.feed(steady(rng, T0, 40, 1000))
        feeder.feed(window(T0 + i * 300, 0) for i in range(40, 45))
        feeder.feed(steady(rng, T0 + 45 * 300, 5, 1000))
        expected = [("firing", "traffic_drop", "silence"), ("resolved", "traffic_drop", "silence")]
        assert expected == states(feeder.alerts)
        assert iso(T0 + 40 * 300) == feeder.alerts[0]["window_start"]

    def test_silence_without_any_metric_is_judged_for_as_long_as_it_lasts(self, tmp_path: Path) -> None:
        """When the aggregate emits nothing at all, the silence still fires, stays firing past
        adapt_after and resolves only when traffic returns; the empty windows are counted as filled."""
        rng = random.Random(13)
        feeder = Feeder(tmp_path, warmup=10, adapt_after="1h")
        feeder.feed(steady(rng, T0, 60, 800))
        outage_end = T0 + 60 * 300 + 4 * 3600
        during = feeder.idle(outage_end)
        after = feeder.feed(steady(rng, outage_end, 6, 800))
        assert [("firing", "traffic_drop", "silence")] == states(during)
        assert [("resolved", "traffic_drop", "silence")] == states(after)
        counts = feeder.stage.window_counts()
        assert 4 * 12 == counts[("traffic_drop", "filled")]

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

    def test_latency_dip_is_an_option(self, tmp_path: Path) -> None:
        """A p95 that falls to a third raises nothing by default and fires once latency_p95_dip is
        enabled through overrides."""
        rng = random.Random(14)

        def run(state_dir: Path, **extra: Any) -> list[tuple[str, str, str]]:
            feeder = Feeder(state_dir, length=60, warmup=10, resolve_after=2, **extra)
            for m in range(50):
                dip = 1 / 3 if 40 <= m < 45 else 1.0
                feeder.feed([window(T1 + m * 60, 500, length=60, p95=rng.uniform(780, 820) * dip,
                                    model="m")])
            return states(feeder.alerts)

        assert [] == run(tmp_path / "default")
        enabled = run(tmp_path / "dip", overrides={"latency_p95_dip": {"enabled": True}})
        assert [("firing", "latency_p95_dip", "spike"), ("resolved", "latency_p95_dip", "spike")] == enabled


class TestState:
    def test_baseline_and_firing_survive_restart(self, tmp_path: Path) -> None:
        """After save and restore the baseline is kept (no new warm-up); the first window after the
        restart is skipped as possibly partial, and a firing alert resolves once."""
        rng = random.Random(14)
        detector = DetectorConfig(name="err", metric="error_rate", by=["provider"])
        stage = detector_stage(tmp_path, detector)
        feed(stage, [normal_errors(rng, m) for m in range(30)])
        assert [s for s, _, _ in feed(stage, [metric(30, 1000, 0.3, provider="openai")])] == ["firing"]
        stage.save_state()
        assert (tmp_path / "anomaly-state.json").exists()
        restarted = detector_stage(tmp_path, detector)
        assert feed(restarted, [metric(30, 1000, 0.3, provider="openai")]) == []  # taken in before
        assert feed(restarted, [metric(31, 1000, 0.3, provider="openai")]) == []  # skipped: resumed
        resolved = feed(restarted, [normal_errors(rng, m) for m in (32, 33)])
        assert [s for s, _, _ in resolved] == ["resolved"]
        assert {("err", "resumed"): 2, ("err", "judged"): 2} == restarted.window_counts()
        fresh = detector_stage(tmp_path / "elsewhere", detector)
        assert feed(fresh, [metric(34, 1000, 0.3, provider="openai")]) == []

    def test_state_of_an_earlier_version_is_ignored_with_a_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A version-1 state file (the earlier detector's) is not restored: a warning is logged and
        the detectors warm up again."""
        (tmp_path / "anomaly-state.json").write_bytes(
            b'{"version": 1, "rules": {}, "statistical": [["err", ["openai"], {"history": [0.01]}]]}'
        )
        stage = detector_stage(tmp_path, DetectorConfig(name="err", metric="error_rate", by=["provider"]))
        assert stage.detectors is not None
        assert {} == stage.detectors.tracks
        assert ["Detector state of another version ignored; detectors learn again."] == [
            r.getMessage() for r in caplog.records if r.name.startswith("logflume.pipeline.anomaly")
        ]

    def test_downtime_is_not_a_silence(self, tmp_path: Path) -> None:
        """Windows missed while the daemon was down are not judged as empty after a restart."""
        rng = random.Random(15)
        feeder = Feeder(tmp_path, warmup=10)
        feeder.feed(steady(rng, T0, 40, 500))
        feeder.stage.save_state()
        restarted = Feeder(tmp_path, warmup=10)
        later = T0 + 40 * 300 + 6 * 3600
        restarted.feed(steady(rng, later, 10, 500))
        assert [] == restarted.alerts
        assert 0 == restarted.stage.window_counts().get(("traffic_drop", "filled"), 0)


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
                {"timestamp": iso(T1 + minute * 60 + i * 0.2), "provider": "openai", "level": "INFO",
                 "status_code": 500 if rng.random() < rate else 200, "response_time_ms": 100.0}
                for i in range(300)
            ]
            alerts += chain(Batch(events), now=T1 + minute * 60 + 60).alerts
        assert [(a["state"], a["rule"], a["subject"]) for a in alerts] == [("firing", "err", "openai")]

    def test_detectors_alone_get_the_aggregate_they_need(self, tmp_path: Path) -> None:
        """With statistical detection but no aggregate section, the needed windows and sets are built."""
        config = PipelineConfig.model_validate({"anomaly": {"statistical": {"window": "2m"}}})
        chain = build_chain(config, tmp_path)
        aggregate = next(stage for stage in chain.stages if stage.name == "aggregate")
        settings = aggregate.config  # type: ignore[attr-defined]
        assert (settings.windows, settings.group_by) == ([120.0], [["provider"], ["model"], []])

    def test_window_follows_the_shortest_aggregate_window(self, tmp_path: Path) -> None:
        """`statistical: {}` judges the aggregate's shortest window; an explicit window is kept."""
        follows = PipelineConfig.model_validate(
            {"aggregate": {"windows": ["5m", "1h"]}, "anomaly": {"statistical": {}}}
        )
        explicit = PipelineConfig.model_validate(
            {"aggregate": {"windows": ["1m", "5m"]}, "anomaly": {"statistical": {"window": "5m"}}}
        )
        lengths = []
        for config in (follows, explicit):
            chain = build_chain(config, tmp_path)
            anomaly = next(stage for stage in chain.stages if stage.name == "anomaly")
            lengths.append(anomaly.detectors.window)  # type: ignore[attr-defined]
        assert [300.0, 300.0] == lengths

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
            start = T1 + i * 20
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
        # The first silent 20 s window already takes a third off the last minute: past min_ratio 1.5.
        assert iso(T1 + 61 * 20) == alerts[0]["@timestamp"]



class TestLongGaps:
    def test_a_gap_longer_than_forget_after_starts_the_subject_afresh(self, tmp_path: Path) -> None:
        """Traffic back after a gap longer than forget_after (30 days; a replay of old files) starts
        the subject afresh: no window of the gap is judged one by one (for a gap of years, one event
        with an absurd time, that would take the daemon hours)."""
        rng = random.Random(14)
        feeder = Feeder(tmp_path, warmup=10)
        feeder.feed(steady(rng, T0, 30, 800))
        feeder.feed(steady(rng, T0 + 30 * 86_400.0, 3, 800))
        counts = feeder.stage.window_counts()
        assert 0 == counts.get(("traffic_drop", "filled"), 0)
