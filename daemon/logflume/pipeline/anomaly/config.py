"""Config of the anomaly stage (``pipeline.anomaly:``): threshold rules and statistical detectors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.pipeline.filter.language import compile_condition, compile_regex
from logflume.units import Duration

Severity = Literal["info", "warning", "error", "critical"]


class RuleConfig(StrictModel):
    """A threshold rule in the seed's ``log_monitoring.rules`` shape."""

    name: str = Field(..., min_length=1, description="Rule name; alerts carry it as ``rule``.")
    pattern: str | None = Field(
        None,
        description="RE2 regular expression searched in the event as a JSON line written like the "
        'proxy writes it (\'"level": "ERROR"\', with a space after colons and commas).',
    )
    condition: str | dict[str, Any] | None = Field(
        None, description="Filter condition (expression or mapping), e.g. 'response_time_ms > 5000'."
    )
    threshold: int = Field(..., ge=1, description="Matching events within the window that fire the rule.")
    window_minutes: float = Field(5.0, gt=0, description="Sliding window length by event time, in minutes.")
    severity: Severity = Field("warning", description="Alert severity.")
    channels: list[str] = Field(default_factory=list, description="Alert channel names; [] = defaults.")
    group_by: str | list[str] | None = Field(
        None, description="Count separately per value of these fields (e.g. ip_address); dotted paths work."
    )
    cooldown: Duration = Field(
        0.0, ge=0, description="After resolving, the same rule and subject stay silent this long."
    )
    max_subjects: int = Field(100_000, gt=0, description="Distinct group_by values tracked at once.")

    @model_validator(mode="after")
    def _needs_a_match(self) -> RuleConfig:
        if self.pattern is None and self.condition is None:
            raise ValueError("a rule needs a pattern, a condition, or both")
        # Compiled here too so that `logflume validate` reports a bad one (ConditionError is a ValueError).
        if self.condition is not None:
            compile_condition(self.condition)
        if self.pattern is not None:
            compile_regex(self.pattern)
        return self

    def group_fields(self) -> list[str]:
        if self.group_by is None:
            return []
        return [self.group_by] if isinstance(self.group_by, str) else list(self.group_by)


Signal = Literal["error_rate", "p95_ms", "volume"]


class DetectorConfig(StrictModel):
    """One statistical detector: a metric of the aggregate windows against its own recent baseline."""

    name: str = Field(..., min_length=1, description="Detector name; alerts carry it as ``rule``.")
    metric: Signal = Field(..., description="error_rate, p95_ms or volume (the window's event count).")
    direction: Literal["up", "down"] = Field("up", description="Alert on a rise (up) or a fall (down).")
    by: list[str] = Field(
        default_factory=list, description="Dimensions of the subject, e.g. [provider]; [] = all traffic."
    )
    severity: Severity = Field("warning", description="Alert severity.")
    z: float = Field(
        6.0,
        gt=0,
        description="How many standard deviations from the baseline count as anomalous (for error_rate: "
        "the same tail probability under exact Poisson noise; Poisson for volume; scaled MAD for p95_ms).",
    )
    min_ratio: float = Field(
        2.0, gt=1, description="The value must also be this many times the baseline (1/ratio going down)."
    )
    min_delta: float = Field(
        0.0, ge=0, description="And differ from the baseline by at least this much (absolute, metric units)."
    )
    min_count: int = Field(
        20, ge=0, description="Windows with fewer events are not judged for error_rate and p95_ms."
    )
    min_baseline: float = Field(
        0.0, ge=0, description="Volume detectors ignore subjects whose baseline count is below this."
    )


def _default_detectors() -> list[DetectorConfig]:
    return [
        DetectorConfig(name="error_rate_spike", metric="error_rate", by=["provider"], severity="critical",
                       z=4.0, min_delta=0.02),
        DetectorConfig(name="latency_p95_spike", metric="p95_ms", by=["model"], min_ratio=1.8),
        DetectorConfig(name="traffic_drop", metric="volume", direction="down", by=[], min_ratio=2.0,
                       severity="critical", min_baseline=20),
        DetectorConfig(name="traffic_spike", metric="volume", direction="up", by=[], min_ratio=3.0,
                       min_baseline=20),
    ]


class StatisticalConfig(StrictModel):
    """Baselines per subject over the aggregate windows (median of recent windows, robust to spikes)."""

    window: Duration = Field(60.0, ge=1, description="Which aggregate window's metrics are judged.")
    span: int = Field(
        1,
        ge=1,
        description="Judge the last this many windows together, at every window: with window 20s and "
        "span 3, each judgement covers one minute and comes every 20 s (hopping), detecting sooner.",
    )
    history: int = Field(60, ge=5, description="Recent normal windows the baseline is the median of.")
    warmup: int = Field(30, ge=1, description="Windows a subject needs before it is judged.")
    resolve_after: int = Field(3, ge=1, description="Consecutive normal windows that resolve a firing alert.")
    cooldown: Duration = Field(
        900.0, ge=0, description="After resolving, the same detector and subject stay silent this long."
    )
    channels: list[str] = Field(default_factory=list, description="Alert channels; [] = the default list.")
    detectors: list[DetectorConfig] = Field(
        default_factory=_default_detectors, description="The detectors; default: error rate per provider, "
        "p95 latency per model, traffic drop and spike overall."
    )


class AnomalyConfig(StrictModel):
    """Threshold rules on events and statistical detectors on the aggregate metrics."""

    rules: list[RuleConfig] = Field(default_factory=list, description="Threshold rules on events.")
    statistical: StatisticalConfig | None = Field(
        None, description="Statistical detection on aggregate windows; null = off."
    )
    allowed_lateness: Duration = Field(
        10.0, ge=0, description="Rules resolve once event time passed the window by this much."
    )
    idle_after: Duration | None = Field(
        5.0, ge=0, description="Without newer events, event time follows the wall clock after this long."
    )
    state_file: str = Field("anomaly-state.json", description="Detector state file, inside state_dir.")

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, rules: list[RuleConfig]) -> list[RuleConfig]:
        names = [rule.name for rule in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule names: {', '.join(duplicates)}")
        return rules

    def groupings(self) -> list[list[str]]:
        """The aggregate ``group_by`` sets the statistical detectors need."""
        if self.statistical is None:
            return []
        out: list[list[str]] = []
        for detector in self.statistical.detectors:
            if detector.by not in out:
                out.append(list(detector.by))
        return out
