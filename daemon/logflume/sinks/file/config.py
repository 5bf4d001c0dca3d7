"""Config of the file sink."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from logflume.models import StrictModel
from logflume.sinks.config import BufferType, SinkCommonConfig
from logflume.units import ByteSize, Duration


class RotationConfig(StrictModel):
    """When an output file is closed (and compressed) and a new one started."""

    max_size: ByteSize | None = Field(100 * 1000**2, gt=0, description="Rotate a file at this size.")
    max_age: Duration | None = Field(None, gt=0, description="Rotate a file open for this long.")


class RetentionConfig(StrictModel):
    """Which rotated files are deleted."""

    max_files: int | None = Field(
        None,
        gt=0,
        description="Keep at most this many rotated files per source (only files this path template made).",
    )
    max_age: Duration | None = Field(None, gt=0, description="Delete rotated files older than this.")


class FileSinkConfig(SinkCommonConfig):
    # A local disk is the backend itself: buffering it to another local disk gains nothing.
    default_buffer_type: ClassVar[BufferType] = "memory"

    type: Literal["file"] = Field(description="JSON-lines files on a local disk.")
    path: str = Field(
        ...,
        min_length=1,
        description="Output path template: {source} and strftime fields (UTC, time of writing).",
    )
    rotation: RotationConfig = Field(
        default_factory=RotationConfig, description="When an output file is closed and a new one started."
    )
    compression: Literal["gzip", "none"] = Field("gzip", description="Compress rotated/closed files.")
    compression_level: int = Field(6, ge=1, le=9, description="gzip level for closed files.")
    digest: bool = Field(
        True,
        description="With gzip: write an analysis digest (a small Parquet file) beside each "
        "compressed file, which `logflume analyze` reads instead of decompressing the file.",
    )
    digest_min_size: ByteSize = Field(
        4 * 1024**2,
        ge=0,
        description="Files smaller than this (uncompressed) get no digest: decoding them is quick.",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Which rotated files are deleted; none by default."
    )
    file_mode: int = Field(0o640, ge=0, le=0o777, description="Permissions of files created.")
    fsync: Literal["checkpoint", "always", "never"] = Field(
        "checkpoint",
        description="checkpoint: fsync before each checkpoint is written; always: after each batch.",
    )

    @field_validator("path")
    @classmethod
    def _template(cls, path: str) -> str:
        try:
            path.format(source="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"invalid path template: only {{source}} may be used ({exc})") from exc
        return path
