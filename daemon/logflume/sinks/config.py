"""Settings every sink shares: batching, retry and queueing (each sink's config extends this)."""

from __future__ import annotations

from pydantic import Field

from logflume.models import StrictModel
from logflume.units import Duration


class BatchConfig(StrictModel):
    max_events: int = Field(1000, gt=0, description="Send once this many events are waiting.")
    timeout: Duration = Field(0.0, description="Send a partial batch after it waited this long; 0 sends at once.")


class RetryConfig(StrictModel):
    initial_backoff: Duration = Field(0.2, gt=0, description="Wait before the first retry.")
    max_backoff: Duration = Field(30.0, gt=0, description="Upper bound of the exponential backoff.")
    max_attempts: int | None = Field(
        None, gt=0, description="Give up (dead-letter) after this many attempts; null retries forever."
    )


class SinkCommonConfig(StrictModel):
    name: str = Field(..., min_length=1, description="Unique sink name, used in routes and metrics.")
    batch: BatchConfig = Field(default_factory=BatchConfig)  # type: ignore[arg-type]
    retry: RetryConfig = Field(default_factory=RetryConfig)  # type: ignore[arg-type]
    queue_batches: int = Field(
        8, gt=0, description="Batches waiting for this sink before the pipeline (and readers) pause."
    )
