"""Config of the filter stage (``pipeline.filter``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.pipeline.filter.language import compile_condition


class FilterRule(StrictModel):
    """One rule: a condition and what to do with the events that match it."""

    name: str | None = Field(None, description="Name used in counters and logs; default rules[<index>].")
    when: str | dict[str, Any] = Field(
        ...,
        description="Condition: a mapping ({level: ERROR, response_time_ms: {operator: gt, value: 5000}}) "
        'or a one-line expression (level == "ERROR" and response_time_ms > 5000).',
        examples=['level == "ERROR" and response_time_ms > 5000'],
    )
    action: Literal["drop", "keep", "route"] = Field(
        ...,
        description="drop: remove matching events; keep: remove the others; "
        "route: send matching events only to `sinks` (they leave the main stream).",
    )
    sinks: list[str] = Field(
        default_factory=list, description="For action route: the sinks that receive the matching events."
    )

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        # Compiled here only to report problems at load time; the stage compiles its own copy.
        compile_condition(value)
        return value

    @model_validator(mode="after")
    def _sinks_match_action(self) -> FilterRule:
        if self.action == "route" and not self.sinks:
            raise ValueError("action 'route' needs a non-empty 'sinks' list")
        if self.action != "route" and self.sinks:
            raise ValueError(f"'sinks' is only for action 'route', not {self.action!r}")
        return self


class FilterConfig(StrictModel):
    """Rules applied in order; an event dropped or routed by one rule is not seen by later ones."""

    rules: list[FilterRule] = Field(default_factory=list, description="Filter rules, applied in order.")

    def route_sinks(self) -> set[str]:
        """Every sink named by a route rule."""
        return {sink for rule in self.rules for sink in rule.sinks}
