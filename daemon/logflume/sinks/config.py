"""Settings every sink shares: batching, retry, concurrency, buffering (each sink's config extends this).

A sink type may have its own defaults for ``batch`` and ``buffer`` (S3 wants few big objects,
PostgreSQL big COPY batches): a block in the YAML that sets only some keys keeps the type's
defaults for the others, not the generic ones below.

Sizes that end up in memory have upper bounds, so a typo (``max_bytes: 10TB``) fails validation
instead of the running daemon.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.names import check_name
from logflume.units import ByteSize, Duration

BufferType = Literal["memory", "disk"]
GIB = 1024**3


class BatchConfig(StrictModel):
    max_events: int = Field(
        1000, gt=0, le=1_000_000, description="Send once this many events are waiting (at most 1,000,000)."
    )
    max_bytes: ByteSize = Field(
        10 * 1000**2,
        gt=0,
        le=GIB,
        description="Send once the waiting events are about this large as JSON (estimated, not exact; "
        "at most 1 GiB).",
    )
    timeout: Duration = Field(
        0.0, description="Send a partial batch after it waited this long; 0 sends at once."
    )


class RetryConfig(StrictModel):
    initial_backoff: Duration = Field(0.2, gt=0, description="Wait before the first retry.")
    max_backoff: Duration = Field(30.0, gt=0, description="Upper bound of the exponential backoff.")
    max_attempts: int | None = Field(
        None, gt=0, description="Give up (dead-letter) after this many attempts; null retries forever."
    )


class BufferConfig(StrictModel):
    type: BufferType | None = Field(
        None,
        description=(
            "memory: events wait in memory until the backend takes them, so a dead backend ends up "
            "pausing every source; disk: when the backend fails or memory is full, events are written "
            "to <state_dir>/buffers/<sink name>/ and acknowledged, then replayed in order. "
            "null: the sink type's default (disk for network sinks, memory for the file sink)."
        ),
    )
    max_events: int = Field(
        10_000,
        gt=0,
        le=10_000_000,
        description=(
            "Events held in memory (waiting and in flight) before spilling or pausing; a batch is "
            "sent when memory is full, so this also caps batch.max_events (at most 10,000,000)."
        ),
    )
    max_bytes: ByteSize = Field(
        32 * 1024**2,
        gt=0,
        le=8 * GIB,
        description="Estimated JSON bytes in memory before spilling or pausing; also caps "
        "batch.max_bytes (at most 8 GiB).",
    )
    max_disk_bytes: ByteSize = Field(
        1024**3, gt=0, description="Undelivered bytes the disk buffer may hold before when_full applies."
    )
    spill_after: Duration = Field(
        1.0,
        description=(
            "disk only: spill when memory stayed full this long without a write completing "
            "(a stalled backend); a failed write spills at once."
        ),
    )
    when_full: Literal["block", "drop_oldest"] = Field(
        "block",
        description=(
            "block: stop accepting events, which pauses the pipeline and the readers (nothing is lost); "
            "drop_oldest: discard the oldest buffered events, counted and logged."
        ),
    )


class SinkCommonConfig(StrictModel):
    # Network backends go down on their own; a local file sink rarely does, so its config overrides this.
    default_buffer_type: ClassVar[BufferType] = "disk"
    # This type's own defaults for keys of the batch and buffer blocks (none: the generic ones).
    batch_defaults: ClassVar[dict[str, Any]] = {}
    buffer_defaults: ClassVar[dict[str, Any]] = {}

    name: str = Field(
        ...,
        description="Unique sink name, used in routes and metrics and as its disk buffer's directory "
        "name (letters, digits, _ - .; not starting with '.').",
    )
    batch: BatchConfig = Field(default_factory=BatchConfig, description="When a batch is sent.")
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Backoff between attempts.")
    buffer: BufferConfig = Field(
        default_factory=BufferConfig, description="Where events wait while the backend is slow or down."
    )
    concurrency: int = Field(
        1,
        gt=0,
        le=64,
        description=(
            "Write requests in flight at once; acknowledgements still complete in order. After a "
            "failed write, one at a time until the backend takes a write again."
        ),
    )
    queue_batches: int = Field(
        1024,
        gt=0,
        le=100_000,
        description="Batches (as handed over by the pipeline) held in memory at most.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name)

    @model_validator(mode="before")
    @classmethod
    def _type_defaults(cls, data: Any) -> Any:
        # Merged before validation, so a partial block is validated with this type's defaults.
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for key, defaults in (("batch", cls.batch_defaults), ("buffer", cls.buffer_defaults)):
            given = data.get(key, {})
            if defaults and isinstance(given, dict):
                merged[key] = {**defaults, **given}
            elif defaults and isinstance(given, BaseModel):  # built in code: only what it set
                merged[key] = {**defaults, **given.model_dump(exclude_unset=True)}
        return merged

    def buffer_type(self) -> BufferType:
        """The configured buffer type, or this sink type's default."""
        return self.buffer.type or self.default_buffer_type
