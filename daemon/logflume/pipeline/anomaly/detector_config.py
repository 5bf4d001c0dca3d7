"""Config of the statistical detectors (``pipeline.anomaly.statistical:``).

The built-in detectors run unless ``detectors`` declares a list of its own; ``overrides`` changes
single settings of listed detectors by name, so tuning one never means re-declaring all of them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from logflume.models import StrictModel
from logflume.units import Duration

Severity = Literal["info", "warning", "error", "critical"]
Signal = Literal["error_rate", "p95_ms", "volume"]
Direction = Literal["up", "down", "both"]


class DetectorConfig(StrictModel):
    """One statistical detector: a metric of the aggregate windows against its own seasonal baseline."""

    name: str = Field(..., min_length=1, description="Detector name; alerts carry it as ``rule``.")
    metric: Signal = Field(..., description="error_rate, p95_ms or volume (the window's event count).")
    direction: Direction = Field(
        "up", description="Alert on a rise (up), a fall (down) or either (both)."
    )
    by: list[str] = Field(
        default_factory=list, description="Dimensions of the subject, e.g. [provider]; [] = all traffic."
    )
    severity: Severity = Field("warning", description="Alert severity.")
    enabled: bool = Field(True, description="false keeps the detector declared but idle.")
    z: float = Field(
        6.0,
        gt=0,
        description="A single window fires when it is this unusual: a z-score (standard deviations of a "
        "normal with the same one-sided tail probability) against the seasonal baseline, from exact "
        "Poisson tails for counts and the learned log-scale spread of the subject.",
    )
    drift: float = Field(
        12.0,
        ge=0,
        description="A sustained deviation fires once the running sum (CUSUM) of the windows' z-scores "
        "beyond drift_slack reaches this; 0 = off.",
    )
    drift_slack: float = Field(
        1.0, ge=0, description="z-score a window must exceed to add to the running sum (CUSUM allowance)."
    )
    min_ratio: float = Field(
        1.5,
        ge=1,
        description="The value must also be this many times the baseline (1/ratio going down) to fire.",
    )
    min_delta: float = Field(
        0.0, ge=0, description="And differ from the baseline by at least this much (absolute, metric units)."
    )
    min_count: int = Field(
        10,
        ge=1,
        description="error_rate and p95_ms: windows with fewer events are skipped (counted in "
        "logflume_stage_detector_windows_total{outcome=\"thin\"}).",
    )
    min_baseline: float = Field(
        0.0,
        ge=0,
        description="volume: windows whose expected count is below this are skipped (counted as "
        "outcome=\"thin\").",
    )


class DetectorOverride(StrictModel):
    """Settings that replace those of the detector of the same name; unset ones are kept."""

    direction: Direction | None = Field(None, description="See the detector's ``direction``.")
    by: list[str] | None = Field(None, description="See the detector's ``by``.")
    severity: Severity | None = Field(None, description="See the detector's ``severity``.")
    enabled: bool | None = Field(None, description="See the detector's ``enabled``.")
    z: float | None = Field(None, gt=0, description="See the detector's ``z``.")
    drift: float | None = Field(None, ge=0, description="See the detector's ``drift``.")
    drift_slack: float | None = Field(None, ge=0, description="See the detector's ``drift_slack``.")
    min_ratio: float | None = Field(None, ge=1, description="See the detector's ``min_ratio``.")
    min_delta: float | None = Field(None, ge=0, description="See the detector's ``min_delta``.")
    min_count: int | None = Field(None, ge=1, description="See the detector's ``min_count``.")
    min_baseline: float | None = Field(None, ge=0, description="See the detector's ``min_baseline``.")


def default_detectors() -> list[DetectorConfig]:
    """The built-in detectors (what ``statistical: {}`` runs)."""
    return [
        DetectorConfig(name="error_rate_spike", metric="error_rate", by=["provider"], severity="critical",
                       z=4.0, min_ratio=2.0, min_delta=0.02),
        DetectorConfig(name="latency_p95_spike", metric="p95_ms", by=["model"], min_ratio=1.3),
        DetectorConfig(name="latency_p95_dip", metric="p95_ms", direction="down", by=["model"],
                       min_ratio=1.3, enabled=False),
        DetectorConfig(name="traffic_drop", metric="volume", direction="down", by=[], severity="critical"),
        DetectorConfig(name="traffic_spike", metric="volume", direction="up", by=[]),
    ]


class StatisticalConfig(StrictModel):
    """Seasonal baselines per subject over closed aggregate windows, and the detectors judging them."""

    window: Duration | None = Field(
        None,
        ge=1,
        description="Which aggregate window's metrics are judged; default: the shortest of "
        "pipeline.aggregate.windows (1m when there is no aggregate section).",
    )
    span: int = Field(
        1,
        ge=1,
        description="Judge the last this many windows together, at every window: with window 20s and "
        "span 3, each judgement covers one minute and comes every 20 s (hopping), detecting sooner.",
    )
    history: int | None = Field(
        None,
        ge=5,
        description="Recent normal windows whose median (after removing the time-of-day pattern) is the "
        "subject's current level; default: as many as cover 3 hours, at least 30.",
    )
    warmup: int = Field(30, ge=1, description="Windows a subject is learned from before it is judged.")
    seasonal: bool = Field(
        True,
        description="Learn the time-of-day profile (from the first full day) and the day-of-week one "
        "(from the first full week) and judge each window against its own hour; false = the recent "
        "level only.",
    )
    resolve_after: int = Field(
        3, ge=1, description="Consecutive calm windows (|z| < 2) that resolve a firing alert."
    )
    cooldown: Duration = Field(
        900.0, ge=0, description="After resolving, the same detector and subject stay silent this long."
    )
    adapt_after: Duration = Field(
        21600.0,
        gt=0,
        description="An incident lasting this long becomes the new normal: the level is re-learned from "
        "the latest windows and the alert resolves once they are calm. A silence (no events where "
        "some were expected) never does: it is judged for as long as it lasts.",
    )
    forget_after: Duration = Field(
        604800.0,
        gt=0,
        description="A subject without events for this long is forgotten (its firing alert resolves).",
    )
    channels: list[str] = Field(default_factory=list, description="Alert channels; [] = the default list.")
    detectors: list[DetectorConfig] = Field(
        default_factory=default_detectors,
        description="The detectors; default: error_rate_spike (per provider), latency_p95_spike (per "
        "model), latency_p95_dip (per model, disabled), traffic_drop and traffic_spike (all traffic).",
    )
    overrides: dict[str, DetectorOverride] = Field(
        default_factory=dict,
        description="Per-detector settings by name, applied to ``detectors``: e.g. "
        "{traffic_drop: {z: 5}, latency_p95_dip: {enabled: true}}.",
    )

    @model_validator(mode="after")
    def _check_names(self) -> StatisticalConfig:
        names = [detector.name for detector in self.detectors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate detector names: {', '.join(duplicates)}")
        unknown = sorted(set(self.overrides) - set(names))
        if unknown:
            raise ValueError(f"overrides name unknown detectors: {', '.join(unknown)}")
        return self

    def active_detectors(self) -> list[DetectorConfig]:
        """The detectors with their overrides applied, enabled ones only."""
        out = []
        for detector in self.detectors:
            override = self.overrides.get(detector.name)
            if override is not None:
                changes: dict[str, Any] = override.model_dump(exclude_none=True)
                detector = detector.model_copy(update=changes)
            if detector.enabled:
                out.append(detector)
        return out
