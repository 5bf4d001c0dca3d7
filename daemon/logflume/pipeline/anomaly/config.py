"""Config of the anomaly stage (``pipeline.anomaly:``): threshold rules and statistical detectors."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.pipeline.anomaly.detector_config import (
    DetectorConfig,
    DetectorOverride,
    Severity,
    StatisticalConfig,
)
from logflume.pipeline.filter.language import compile_condition, compile_regex
from logflume.units import Duration

__all__ = ["AnomalyConfig", "DetectorConfig", "DetectorOverride", "RuleConfig", "StatisticalConfig"]


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
        for detector in self.statistical.active_detectors():
            if detector.by not in out:
                out.append(list(detector.by))
        return out
