"""Builds the aggregate and anomaly stages together: the detectors need the aggregate to emit the
windows and dimension sets they judge, so those are added to the aggregate's own, and they read the
aggregate's watermark to know which windows have closed (a window without a metric is a silence)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from logflume.errors import ConfigError, ConfigIssue
from logflume.pipeline.aggregate import AggregateConfig, AggregateStage
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.anomaly.stage import AnomalyStage
from logflume.pipeline.stage import PassThrough, Stage

DEFAULT_WINDOW = 60.0


def detector_window(aggregate: AggregateConfig | None, anomaly: AnomalyConfig | None) -> float | None:
    """The window length the statistical detectors judge: ``statistical.window`` when set, else the
    shortest aggregate window, else one minute (None: no statistical detection)."""
    if anomaly is None or anomaly.statistical is None:
        return None
    if anomaly.statistical.window is not None:
        return anomaly.statistical.window
    return aggregate.windows[0] if aggregate is not None else DEFAULT_WINDOW


def effective_aggregate(
    aggregate: AggregateConfig | None, anomaly: AnomalyConfig | None
) -> AggregateConfig | None:
    """The aggregate config, widened with what the statistical detectors need (None: no aggregate)."""
    window = detector_window(aggregate, anomaly)
    if anomaly is None or window is None:
        return aggregate
    if aggregate is None:
        aggregate = AggregateConfig(windows=[window], group_by=anomaly.groupings())
    group_by = list(aggregate.group_by)
    for names in anomaly.groupings():
        if names not in group_by:
            group_by.append(names)
    windows = sorted({*aggregate.windows, window})
    try:
        widened = {**aggregate.model_dump(), "windows": windows, "group_by": group_by}
        return AggregateConfig.model_validate(widened)
    except ValidationError as exc:
        message = "; ".join(str(err["msg"]) for err in exc.errors(include_url=False))
        raise ConfigError([ConfigIssue("pipeline.anomaly.statistical.window", message)]) from exc


def build_windowed_stages(
    aggregate: AggregateConfig | None, anomaly: AnomalyConfig | None, state_dir: Path
) -> tuple[Stage, Stage]:
    """The aggregate and anomaly stages (pass-through slots when not configured)."""
    widened = effective_aggregate(aggregate, anomaly)
    if widened is None:
        aggregate_stage: Stage = PassThrough("aggregate")
        clock: Callable[[], float] | None = None
    else:
        built = AggregateStage(widened)
        aggregate_stage = built

        def clock() -> float:
            # Every window ending at or before the aggregate's watermark has been emitted.
            return built.watermark.value

    if anomaly is None:
        return aggregate_stage, PassThrough("anomaly")
    window = detector_window(aggregate, anomaly)
    return aggregate_stage, AnomalyStage(anomaly, state_dir, window=window, clock=clock)
