"""Config of the aggregate stage (``pipeline.aggregate:``)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.units import Duration


class AggregateConfig(StrictModel):
    """Tumbling windows of request metrics, keyed by dimensions, emitted as ``type: metric`` events."""

    windows: list[Duration] = Field(
        default_factory=lambda: [60.0, 300.0],
        min_length=1,
        description="Window lengths, e.g. [1m, 5m]; each a whole multiple of the shortest.",
    )
    group_by: list[list[str]] = Field(
        default_factory=lambda: [["provider", "model", "endpoint"]],
        min_length=1,
        description="Dimension sets: one metric per window and per distinct value of each set "
        "([] = everything together).",
    )
    allowed_lateness: Duration = Field(
        10.0, ge=0, description="A window closes once event time passed its end by this much."
    )
    idle_after: Duration | None = Field(
        5.0,
        ge=0,
        description="After this much wall-clock time without newer events, event time is taken to "
        "advance with the wall clock so the last window closes; null waits for newer events.",
    )
    max_future: Duration | None = Field(
        600.0,
        ge=0,
        description="An event stamped more than this ahead of the wall clock is left out of the "
        "windows (counted as future; still delivered), so one bad clock or hostile timestamp cannot "
        "move event time, and so every window, ahead; null takes any time.",
    )
    zero_fill: Duration = Field(
        3600.0,
        ge=0,
        description="A group seen within this long gets a count-0 metric for windows it is absent "
        "from, so a drop to nothing is visible.",
    )
    relative_accuracy: float = Field(
        0.01, gt=0, lt=1, description="Latency quantiles are within this relative error (DDSketch)."
    )
    max_groups: int = Field(
        10000, gt=0, description="Distinct dimension values per window; more are counted under '_other'."
    )
    latency_field: str = Field("response_time_ms", description="Field holding the latency in ms.")
    tokens_field: str = Field("tokens", description="Field holding the tokens used.")
    cost_field: str = Field("cost_usd", description="Field holding the cost in USD.")
    cache_field: str = Field("cache_hit", description="Boolean field: was the response served from cache.")
    status_field: str = Field("status_code", description="Field holding the HTTP status code.")
    level_field: str = Field("level", description="Field holding the log level.")

    @field_validator("windows")
    @classmethod
    def _positive_windows(cls, windows: list[float]) -> list[float]:
        if any(w < 1 for w in windows):
            raise ValueError("windows must be at least 1s")
        return sorted(set(windows))

    @model_validator(mode="after")
    def _multiples(self) -> AggregateConfig:
        base = self.windows[0]
        for window in self.windows[1:]:
            ratio = window / base
            if abs(ratio - round(ratio)) > 1e-9:
                raise ValueError(f"window {window}s is not a multiple of the shortest window {base}s")
        return self

    def dimensions(self) -> list[str]:
        """Every dimension named in ``group_by``, in first-seen order."""
        seen: dict[str, None] = {}
        for group in self.group_by:
            for name in group:
                seen.setdefault(name, None)
        return list(seen)
