"""Builds the aggregate and anomaly stages together: the detectors need the aggregate to emit the
windows and dimension sets they judge, so those are added to the aggregate's own."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from logflume.errors import ConfigError, ConfigIssue
from logflume.pipeline.aggregate import AggregateConfig, AggregateStage
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.anomaly.stage import AnomalyStage
from logflume.pipeline.stage import PassThrough, Stage


def effective_aggregate(
    aggregate: AggregateConfig | None, anomaly: AnomalyConfig | None
) -> AggregateConfig | None:
    """The aggregate config, widened with what the statistical detectors need (None: no aggregate)."""
    if anomaly is None or anomaly.statistical is None:
        return aggregate
    statistical = anomaly.statistical
    if aggregate is None:
        aggregate = AggregateConfig(windows=[statistical.window], group_by=anomaly.groupings())
    group_by = list(aggregate.group_by)
    for names in anomaly.groupings():
        if names not in group_by:
            group_by.append(names)
    windows = sorted({*aggregate.windows, statistical.window})
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
    aggregate_stage: Stage = AggregateStage(widened) if widened is not None else PassThrough("aggregate")
    anomaly_stage: Stage = AnomalyStage(anomaly, state_dir) if anomaly is not None else PassThrough("anomaly")
    return aggregate_stage, anomaly_stage
