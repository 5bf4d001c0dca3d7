"""The statistical detectors' settings: defaults, per-detector overrides, errors with key paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from logflume.config import parse_config
from logflume.errors import ConfigError
from logflume.pipeline.anomaly import StatisticalConfig
from logflume.pipeline.anomaly.detector_config import DetectorConfig, DetectorOverride, default_detectors

BASE = """\
state_dir: ./state
sources:
  - name: proxy
    include: ["./logs/*.log"]
sinks:
  - name: local
    type: file
    path: "./out/{source}/%Y-%m-%d.jsonl"
pipeline:
  anomaly:
    statistical:
"""


def statistical(text: str) -> StatisticalConfig:
    anomaly = parse_config(BASE + text, env={}).pipeline.anomaly
    assert anomaly is not None
    assert anomaly.statistical is not None
    return anomaly.statistical


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + text, env={})
    return [str(issue) for issue in caught.value.issues]


class TestDefaults:
    def test_empty_section_runs_the_built_in_detectors(self) -> None:
        """`statistical: {}` runs the built-in detectors; the latency dip detector is declared but off."""
        config = statistical("      {}\n")
        active = [d.name for d in config.active_detectors()]
        assert ["error_rate_spike", "latency_p95_spike", "traffic_drop", "traffic_spike"] == active
        assert ["latency_p95_dip"] == [d.name for d in config.detectors if not d.enabled]

    def test_every_option_is_described_and_has_a_default(self) -> None:
        """Each detector and statistical setting carries a description and a default (for the
        generated config reference); only a declared detector's name and metric are required."""
        for model in (StatisticalConfig, DetectorConfig, DetectorOverride):
            for name, field in model.model_fields.items():
                assert field.description, f"{model.__name__}.{name}"
                if not (model is DetectorConfig and name in ("name", "metric")):
                    assert not field.is_required(), f"{model.__name__}.{name}"


class TestOverrides:
    def test_one_setting_of_one_detector(self) -> None:
        """An override changes only what it names; the other detectors keep their defaults."""
        config = statistical("      overrides:\n        traffic_drop: {z: 4.5, severity: warning}\n")
        by_name = {d.name: d for d in config.active_detectors()}
        defaults = {d.name: d for d in default_detectors()}
        changed = by_name["traffic_drop"]
        assert (4.5, "warning", "down", "volume") == (changed.z, changed.severity, changed.direction,
                                                      changed.metric)
        for name in ("error_rate_spike", "latency_p95_spike", "traffic_spike"):
            assert defaults[name] == by_name[name]

    def test_enable_and_disable(self) -> None:
        """Overrides switch the latency dip detector on and the traffic spike detector off."""
        config = statistical(
            "      overrides:\n"
            "        latency_p95_dip: {enabled: true}\n"
            "        traffic_spike: {enabled: false}\n"
        )
        active = [d.name for d in config.active_detectors()]
        assert ["error_rate_spike", "latency_p95_spike", "latency_p95_dip", "traffic_drop"] == active

    def test_overrides_apply_to_a_declared_list(self) -> None:
        """With a list of its own, overrides tune its detectors by name."""
        config = statistical(
            "      detectors:\n        - {name: errors, metric: error_rate, by: [provider]}\n"
            "      overrides:\n        errors: {min_count: 50}\n"
        )
        (errors,) = config.active_detectors()
        assert ("errors", 50) == (errors.name, errors.min_count)

    def test_unknown_detector_name_is_refused(self) -> None:
        """An override for a detector that does not exist is a config error naming it."""
        found = issues("      overrides:\n        traffic_dorp: {z: 5}\n")
        assert ["pipeline.anomaly.statistical (line 11): overrides name unknown detectors: "
                "traffic_dorp"] == found

    def test_bad_value_names_its_key_path(self) -> None:
        """A bad override value is reported at its own key path and line."""
        found = issues("      overrides:\n        traffic_drop: {z: -1}\n")
        assert ["pipeline.anomaly.statistical.overrides.traffic_drop.z (line 13): must be greater "
                "than 0.0, got -1"] == found

    def test_validate_exits_2_with_the_key_path(self, tmp_path: Path) -> None:
        """`logflume validate` exits 2 and names the key path of a bad override."""
        path = tmp_path / "c.yaml"
        path.write_text(BASE + "      overrides:\n        traffic_spike: {min_ratio: 0.5}\n")
        result = subprocess.run(
            [sys.executable, "-m", "logflume", "validate", "-c", str(path)],
            capture_output=True, text=True, check=False,
        )
        assert 2 == result.returncode
        assert "pipeline.anomaly.statistical.overrides.traffic_spike.min_ratio" in result.stderr


class TestCompatibility:
    def test_earlier_settings_are_still_accepted(self) -> None:
        """A config written for the earlier detector (window, span, history, a full detector list
        with z, min_ratio, min_count, min_baseline) still loads with the same meaning."""
        config = statistical(
            "      window: 1m\n      span: 2\n      history: 60\n      warmup: 30\n"
            "      detectors:\n"
            "        - {name: drop, metric: volume, direction: down, z: 5, min_ratio: 2, min_baseline: 20}\n"
            "        - {name: err, metric: error_rate, by: [provider], min_count: 20}\n"
        )
        drop, err = config.active_detectors()
        assert (60.0, 2, 60) == (config.window, config.span, config.history)
        assert (5.0, 2.0, 20.0, 20) == (drop.z, drop.min_ratio, drop.min_baseline, err.min_count)
