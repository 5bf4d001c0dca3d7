"""Aggregate: tumbling windows of request metrics by event time, emitted as metric events."""

from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.aggregate.stage import AggregateStage, AggregateStats

__all__ = ["AggregateConfig", "AggregateStage", "AggregateStats"]
