"""Config of the S3 sink."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from logflume.sinks.config import BatchConfig, BufferConfig, SinkCommonConfig
from logflume.units import ByteSize, Duration

MIB = 1024**2
# S3's smallest multipart part (except the last one).
MIN_PART_SIZE = 5 * MIB
# S3's largest single PUT and multipart part.
MAX_PART_SIZE = 5 * 1024**3
DEFAULT_KEY = "{prefix}/{source}/dt=%Y-%m-%d/hour=%H/{host}-{batch_id}.json.gz"
# S3 wants few big objects: by default a batch collects 8 MiB, or waits 60 s.
BATCH_DEFAULTS: dict[str, Any] = {"max_events": 20_000, "max_bytes": 8 * MIB, "timeout": 60.0}
# Three 8 MiB batches: events in memory take ~4x their JSON size as Python objects.
BUFFER_DEFAULTS: dict[str, Any] = {"max_events": 40_000, "max_bytes": 24 * MIB}


class S3SinkConfig(SinkCommonConfig):
    batch_defaults: ClassVar[dict[str, Any]] = BATCH_DEFAULTS
    buffer_defaults: ClassVar[dict[str, Any]] = BUFFER_DEFAULTS

    type: Literal["s3"] = Field(description="Gzipped JSON-lines objects in an S3 or S3-compatible bucket.")
    bucket: str = Field(..., min_length=3, max_length=63, description="Bucket the objects go to.")
    prefix: str = Field("logflume", description="Value of {prefix} in the key template.")
    key: str = Field(
        DEFAULT_KEY,
        description=(
            "Object key template: {prefix}, {source}, {host}, {batch_id} and strftime fields (UTC, "
            "from the first event's time or the time of writing, see `key_time`)."
        ),
    )
    key_time: Literal["event", "write"] = Field(
        "event",
        description="event: strftime fields from the object's first event's timestamp; write: now.",
    )
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, SeaweedFS, R2); null for AWS."
    )
    region: str | None = Field(None, description="Region; null takes it from the AWS config chain.")
    access_key_id: SecretStr | None = Field(
        None, description="Access key, e.g. '${AWS_ACCESS_KEY_ID}'; null: the standard AWS credential chain."
    )
    secret_access_key: SecretStr | None = Field(
        None, description="Secret key, e.g. '${AWS_SECRET_ACCESS_KEY}'."
    )
    session_token: SecretStr | None = Field(None, description="Session token for temporary credentials.")
    force_path_style: bool = Field(
        False, description="Address buckets as endpoint/bucket, not bucket.endpoint (most non-AWS stores)."
    )
    create_bucket: bool = Field(False, description="Create the bucket at start when it does not exist.")
    storage_class: str | None = Field(None, description="Storage class of new objects, e.g. STANDARD_IA.")
    max_object_bytes: ByteSize = Field(
        16 * MIB,
        gt=0,
        le=MAX_PART_SIZE,
        description=(
            "Hard cap on uncompressed NDJSON bytes per object: a bigger batch is split into equal "
            "objects (batch.max_bytes sets the usual size)."
        ),
    )
    compression_level: int = Field(6, ge=1, le=9, description="gzip level.")
    multipart_threshold: ByteSize = Field(
        8 * MIB,
        ge=MIN_PART_SIZE,
        le=MAX_PART_SIZE,
        description="Objects larger than this (compressed) use multipart upload.",
    )
    part_size: ByteSize = Field(
        8 * MIB, ge=MIN_PART_SIZE, le=MAX_PART_SIZE, description="Size of each multipart part."
    )
    part_concurrency: int = Field(4, gt=0, le=64, description="Parts of one multipart upload sent at once.")
    # Two already overlap one batch's gzip and upload with the next one's JSON encoding (the
    # only part that needs the GIL); more measured no faster on 2 cores, and each one more may
    # hold another batch read back from a disk buffer.
    concurrency: int = Field(
        2,
        gt=0,
        le=64,
        description=(
            "Batches encoded and uploaded at once, so one batch's gzip and upload overlap the next "
            "one's encoding; the memory buffer still bounds the events held."
        ),
    )
    connect_timeout: Duration = Field(10.0, gt=0, description="Give up connecting after this long (retried).")
    read_timeout: Duration = Field(
        60.0, gt=0, description="Give up waiting for a response after this long (retried)."
    )
    batch: BatchConfig = Field(
        default_factory=lambda: BatchConfig(**BATCH_DEFAULTS),
        description="S3 wants few big objects: by default a batch collects 8 MiB, or waits 60 s "
        "(keys left out keep these defaults).",
    )
    buffer: BufferConfig = Field(
        default_factory=lambda: BufferConfig(**BUFFER_DEFAULTS),
        description="Room for a few big batches in memory before spilling to disk or pausing "
        "(keys left out keep these defaults).",
    )

    @field_validator("key")
    @classmethod
    def _template(cls, key: str) -> str:
        try:
            time.strftime(key, time.gmtime(0)).format(prefix="p", source="s", host="h", batch_id="b")
        except (KeyError, IndexError, ValueError) as exc:
            fields = "{prefix}, {source}, {host}, {batch_id}"
            raise ValueError(f"invalid key template: only {fields} may be used ({exc})") from exc
        if "{batch_id}" not in key:
            raise ValueError("the key template needs {batch_id}, or objects would overwrite each other")
        return key

    @model_validator(mode="after")
    def _credentials(self) -> S3SinkConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither")
        return self
