"""Aggregate: tumbling windows of request metrics by event time, emitted as metric events.

The stage is imported on first use (``AggregateStage``): its latency sketch loads numpy, which a
daemon whose config has no aggregate stage should neither pay for nor need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logflume.pipeline.aggregate.config import AggregateConfig

if TYPE_CHECKING:
    from logflume.pipeline.aggregate.stage import AggregateStage, AggregateStats

__all__ = ["AggregateConfig", "AggregateStage", "AggregateStats"]


def __getattr__(name: str) -> Any:
    if name in ("AggregateStage", "AggregateStats"):
        from logflume.pipeline.aggregate import stage

        return getattr(stage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
